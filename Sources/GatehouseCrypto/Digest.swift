import COpenSSL

/// SHA-2 digests and HMAC, thin Swift over libcrypto's one-shot calls.
public enum Digest {
    /// The SHA-2 variants the gateway uses (API keys, JWT, Fernet, PBKDF2).
    public enum Algorithm: Sendable {
        case sha256, sha384, sha512

        public var outputSize: Int {
            switch self {
            case .sha256: return 32
            case .sha384: return 48
            case .sha512: return 64
            }
        }

        /// The digest implementation, fetched from the provider once per process: OpenSSL 3 would otherwise
        /// look the algorithm up by name on every EVP_Digest/HMAC call (an "implicit fetch"), a cost paid per
        /// request for API keys and cached tokens.
        var evp: OpaquePointer {
            switch self {
            case .sha256: return FetchedDigests.sha256
            case .sha384: return FetchedDigests.sha384
            case .sha512: return FetchedDigests.sha512
            }
        }
    }

    /// SHA-256 of `bytes`.
    public static func sha256<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        hash(.sha256, bytes)
    }

    /// The digest of `bytes` with `algorithm`.
    public static func hash<C: Collection>(_ algorithm: Algorithm, _ bytes: C) -> [UInt8]
    where C.Element == UInt8 {
        var out = [UInt8](repeating: 0, count: algorithm.outputSize)
        withContiguousBytes(bytes) { input in
            out.withUnsafeMutableBufferPointer { o in
                var len: UInt32 = 0
                let ok = EVP_Digest(input.baseAddress, input.count, o.baseAddress, &len, algorithm.evp, nil)
                precondition(ok == 1, "EVP_Digest failed")
            }
        }
        return out
    }

    /// HMAC of `message` under `key`.
    public static func hmac<K: Collection, M: Collection>(_ algorithm: Algorithm, key: K, message: M) -> [UInt8]
    where K.Element == UInt8, M.Element == UInt8 {
        var out = [UInt8](repeating: 0, count: algorithm.outputSize)
        withContiguousBytes(key) { k in
            withContiguousBytes(message) { m in
                out.withUnsafeMutableBufferPointer { o in
                    var len: UInt32 = 0
                    // An empty key is legal for HMAC; libcrypto wants a non-NULL pointer for it.
                    let r = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { dummy in
                        HMAC(algorithm.evp, k.baseAddress ?? UnsafeRawPointer(dummy.baseAddress!), Int32(k.count),
                             m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count, o.baseAddress, &len)
                    }
                    precondition(r != nil, "HMAC failed")
                }
            }
        }
        return out
    }

    /// Compares two byte arrays in time that depends only on their lengths (the hot path: digests).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        if a.count != b.count { return false }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                var diff: UInt8 = 0
                for i in 0..<x.count { diff |= x[i] ^ y[i] }
                return diff == 0
            }
        }
    }

    /// Compares two byte strings in time that depends only on their lengths.
    public static func constantTimeEquals<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool
    where A.Element == UInt8, B.Element == UInt8 {
        if a.count != b.count { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}

/// Explicitly fetched EVP_MD objects, alive for the whole process (never freed).
enum FetchedDigests {
    // A missing SHA-2 implementation means a broken OpenSSL installation: stop loudly at first use.
    nonisolated(unsafe) static let sha256: OpaquePointer = EVP_MD_fetch(nil, "SHA256", nil)!
    nonisolated(unsafe) static let sha384: OpaquePointer = EVP_MD_fetch(nil, "SHA384", nil)!
    nonisolated(unsafe) static let sha512: OpaquePointer = EVP_MD_fetch(nil, "SHA512", nil)!
}

/// Calls `body` with a contiguous view of `bytes`, copying only when the collection is not contiguous.
@inline(__always)
func withContiguousBytes<C: Collection, R>(_ bytes: C, _ body: (UnsafeRawBufferPointer) -> R) -> R
where C.Element == UInt8 {
    if let r = bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return r }
    let copy = Array(bytes)
    return copy.withUnsafeBytes { body($0) }
}
