import COpenSSL

/// PBKDF2 (RFC 8018 §5.2) with an HMAC-SHA-2 pseudo-random function, through libcrypto's
/// `PKCS5_PBKDF2_HMAC`. Used to turn `MCP_ENCRYPTION_PASSWORD` and `MCP_ENCRYPTION_SALT` into a Fernet key.
public enum PBKDF2 {
    /// `length` bytes derived from `password` and `salt` with `iterations` rounds of HMAC-`algorithm`.
    /// An empty password or salt is legal for PBKDF2 (callers decide whether to allow it).
    public static func deriveKey<P: Collection, S: Collection>(
        _ algorithm: Digest.Algorithm = .sha256, password: P, salt: S, iterations: Int, length: Int
    ) -> [UInt8] where P.Element == UInt8, S.Element == UInt8 {
        precondition(iterations >= 1 && iterations <= Int(Int32.max), "PBKDF2 iterations out of range")
        precondition(length >= 1 && length <= Int(Int32.max), "PBKDF2 output length out of range")
        var out = [UInt8](repeating: 0, count: length)
        let ok = withContiguousBytes(password) { p in
            withContiguousBytes(salt) { s in
                out.withUnsafeMutableBufferPointer { o in
                    // libcrypto wants non-NULL pointers even for empty inputs.
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { dummy in
                        let empty = UnsafeRawPointer(dummy.baseAddress!)  // capacity 1: never nil
                        return PKCS5_PBKDF2_HMAC(
                            (p.baseAddress ?? empty).assumingMemoryBound(to: CChar.self), Int32(p.count),
                            (s.baseAddress ?? empty).assumingMemoryBound(to: UInt8.self), Int32(s.count),
                            Int32(iterations), algorithm.evp, Int32(length), o.baseAddress)
                    }
                }
            }
        }
        precondition(ok == 1, "PKCS5_PBKDF2_HMAC failed")
        return out
    }
}
