import CGatehouseShims
import COpenSSL

/// A Fernet key (the fernet/spec format): 16 bytes for HMAC-SHA256 signing, then 16 for AES-128-CBC.
public struct FernetKey: Sendable {
    /// The PBKDF2 iteration count of PRODUCT.md §8 (the seed's, and what Python deployments used).
    public static let passwordIterations = 100_000

    /// HMAC-SHA256 key (the first half of the 32 key bytes).
    public let signingKey: [UInt8]
    /// AES-128 key (the second half).
    public let encryptionKey: [UInt8]

    /// A key from its 32 raw bytes.
    public init(_ bytes: [UInt8]) throws(FernetError) {
        guard bytes.count == 32 else { throw FernetError(.invalidKey) }
        signingKey = Array(bytes[0..<16])
        encryptionKey = Array(bytes[16..<32])
    }

    /// A key from its text form: 32 bytes in URL-safe base64 with padding (Python's `Fernet.generate_key()`).
    public init(encoded text: String) throws(FernetError) {
        guard let bytes = Encoding.fromBase64URLPadded(text.utf8) else { throw FernetError(.invalidKey) }
        try self.init(bytes)
    }

    /// The key that PRODUCT.md §8 derives from a password and a salt:
    /// PBKDF2-HMAC-SHA256(password, salt, `iterations`, 32 bytes), read as a Fernet key. This is the
    /// same as Python's `PBKDF2HMAC(SHA256(), 32, salt, 100000).derive(password)` passed through
    /// `urlsafe_b64encode` into `Fernet(...)`.
    public static func derive<P: Collection, S: Collection>(
        password: P, salt: S, iterations: Int = FernetKey.passwordIterations
    ) -> FernetKey where P.Element == UInt8, S.Element == UInt8 {
        let bytes = PBKDF2.deriveKey(.sha256, password: password, salt: salt, iterations: iterations, length: 32)
        // 32 bytes by construction, so the throwing initializer cannot fail.
        return try! FernetKey(bytes)
    }

    /// The text form (URL-safe base64 with padding).
    public var encoded: String { Encoding.base64URL(signingKey + encryptionKey, padded: true) }
}

/// Fernet tokens (https://github.com/fernet/spec), byte-compatible with Python's `cryptography.fernet`:
///
///     0x80 ‖ timestamp (8 bytes, big-endian seconds) ‖ IV (16) ‖ AES-128-CBC(PKCS#7) ciphertext ‖ HMAC-SHA256 (32)
///
/// encoded as URL-safe base64 with padding. The HMAC covers everything before it and is checked, in
/// constant time, before anything is decrypted or any timestamp is believed. Time is passed in (epoch
/// seconds) so that tests can pin it; the defaults read the wall clock.
public struct Fernet: Sendable {
    /// The only token version the spec defines.
    public static let version: UInt8 = 0x80
    /// How far in the future a token's timestamp may be when a TTL is checked (Python's `_MAX_CLOCK_SKEW`).
    public static let maximumClockSkew: Int64 = 60
    /// Version, timestamp, IV and HMAC around the ciphertext.
    static let overhead = 1 + 8 + 16 + 32
    static let blockSize = 16

    public let key: FernetKey

    public init(key: FernetKey) { self.key = key }

    /// Seconds since the epoch, from the wall clock.
    public static func currentTime() -> Int64 { gh_wallclock_ms() / 1000 }

    /// A token for `plaintext`, stamped `now`, with `iv` (16 bytes; random when nil — pass one only to
    /// reproduce a known token).
    public func encrypt<C: Collection>(_ plaintext: C, now: Int64 = Fernet.currentTime(), iv: [UInt8]? = nil)
        -> String where C.Element == UInt8
    {
        let iv = iv ?? SecureRandom.bytes(16)
        precondition(iv.count == 16, "a Fernet IV is 16 bytes")
        var token: [UInt8] = [Self.version]
        token.reserveCapacity(Self.overhead + plaintext.count + Self.blockSize)
        let stamp = UInt64(bitPattern: now)
        for shift in stride(from: 56, through: 0, by: -8) {
            token.append(UInt8(truncatingIfNeeded: stamp >> UInt64(shift)))
        }
        token += iv
        token += Self.cipher(encrypting: true, key: key.encryptionKey, iv: iv, Array(plaintext))!  // padding never fails on encrypt
        token += Digest.hmac(.sha256, key: key.signingKey, message: token)
        return Encoding.base64URL(token, padded: true)
    }

    /// The plaintext of `token` (its text bytes). With a `ttl`, a token older than `ttl` seconds or
    /// stamped more than `maximumClockSkew` seconds after `now` is refused, as Python does; without
    /// one, the timestamp is not checked.
    public func decrypt<C: Collection>(_ token: C, ttl: Int64? = nil, now: Int64 = Fernet.currentTime())
        throws(FernetError) -> [UInt8] where C.Element == UInt8
    {
        guard let data = Encoding.fromBase64URLPadded(token) else { throw FernetError(.malformed) }
        guard data.count >= Self.overhead + Self.blockSize, (data.count - Self.overhead) % Self.blockSize == 0,
            data[0] == Self.version
        else { throw FernetError(.malformed) }
        let macStart = data.count - 32
        let expected = Digest.hmac(.sha256, key: key.signingKey, message: data[0..<macStart])
        guard Digest.constantTimeEquals(expected, Array(data[macStart...])) else { throw FernetError(.badSignature) }
        if let ttl {
            let stamp = data[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            // A stamp beyond Int64 is in the far future; arithmetic saturates rather than wraps.
            let issued = stamp > UInt64(Int64.max) ? Int64.max : Int64(stamp)
            let (expiry, overflow) = issued.addingReportingOverflow(ttl)
            if !overflow, expiry < now { throw FernetError(.expired) }
            let (latest, skewOverflow) = now.addingReportingOverflow(Self.maximumClockSkew)
            if !skewOverflow, latest < issued { throw FernetError(.fromTheFuture) }
        }
        let iv = Array(data[9..<25])
        guard let plaintext = Self.cipher(encrypting: false, key: key.encryptionKey, iv: iv, Array(data[25..<macStart]))
        else { throw FernetError(.badPadding) }
        return plaintext
    }

    /// The plaintext of a token given as text.
    public func decrypt(_ token: String, ttl: Int64? = nil, now: Int64 = Fernet.currentTime()) throws(FernetError)
        -> [UInt8]
    {
        try decrypt(Array(token.utf8), ttl: ttl, now: now)
    }

    /// AES-128-CBC with PKCS#7 padding; nil when decryption finds bad padding.
    private static func cipher(encrypting: Bool, key: [UInt8], iv: [UInt8], _ input: [UInt8]) -> [UInt8]? {
        // EVP_CIPHER_CTX_new only fails without memory; a gateway that cannot allocate 200 bytes is done.
        let ctx = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(ctx) }
        let mode: Int32 = encrypting ? 1 : 0
        // EVP_aes_128_cbc returns a static table; it never fails.
        guard EVP_CipherInit_ex(ctx, EVP_aes_128_cbc()!, nil, key, iv, mode) == 1 else { return nil }
        var out = [UInt8](repeating: 0, count: input.count + blockSize)
        var written: Int32 = 0
        var final: Int32 = 0
        let ok = out.withUnsafeMutableBufferPointer { o -> Bool in
            input.withUnsafeBufferPointer { i -> Bool in
                guard EVP_CipherUpdate(ctx, o.baseAddress, &written, i.baseAddress, Int32(i.count)) == 1 else {
                    return false
                }
                return EVP_CipherFinal_ex(ctx, o.baseAddress! + Int(written), &final) == 1  // out has room: non-nil
            }
        }
        guard ok else {
            ERR_clear_error()
            return nil
        }
        out.removeSubrange(Int(written + final)...)
        return out
    }
}

/// Why a Fernet key or token was refused. `description` is deliberately the same for every token
/// failure (as Python's single `InvalidToken`); `reason` says which check failed, for tests and logs.
public struct FernetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The failed check.
    public enum Reason: Sendable, Equatable {
        /// Not URL-safe base64 with padding, too short, not whole AES blocks, or not version 0x80.
        case malformed
        /// The HMAC does not match: a tampered token, or another key (wrong password or salt).
        case badSignature
        /// Older than the TTL.
        case expired
        /// Stamped further in the future than the allowed clock skew.
        case fromTheFuture
        /// The ciphertext does not decrypt to PKCS#7-padded data (only reachable with a valid HMAC).
        case badPadding
        /// A key that is not 32 bytes (or not its base64 text form).
        case invalidKey
    }

    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String {
        reason == .invalidKey ? "invalid Fernet key (32 bytes, URL-safe base64)" : "invalid Fernet token"
    }
}
