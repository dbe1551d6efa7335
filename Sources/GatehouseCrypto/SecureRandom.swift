import COpenSSL

/// Cryptographically secure random bytes from libcrypto's DRBG.
public enum SecureRandom {
    /// `count` random bytes. Traps if the DRBG fails, which only happens without an entropy source.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        if count == 0 { return out }
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed: no entropy source")
        return out
    }

    /// A random UInt64.
    public static func uint64() -> UInt64 {
        bytes(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }
}
