import COpenSSL

/// A public key for signature verification: an immutable libcrypto `EVP_PKEY`, freed with the value.
///
/// Built from JWK material (RSA `n`/`e`, EC `x`/`y` on P-256/P-384, Ed25519 `x`) or from a PEM
/// `SubjectPublicKeyInfo`. Every constructor checks the key before it is accepted: RSA moduli from 2048
/// to 16384 bits with an odd exponent above 1, EC points on their curve (libcrypto's public-key check),
/// Ed25519 keys of exactly 32 bytes. libcrypto allows concurrent verifications with one `EVP_PKEY`
/// as long as nobody mutates it, and nothing here does, hence `@unchecked Sendable`.
public final class PublicKey: @unchecked Sendable {
    /// The kind of key, which decides the JWS algorithms it can verify.
    public enum Kind: Sendable, Equatable {
        /// An RSA key with its modulus size in bits.
        case rsa(bits: Int)
        case ecP256, ecP384, ed25519
    }

    /// The EC curves a JWK may name.
    public enum Curve: String, Sendable {
        case p256 = "P-256"
        case p384 = "P-384"

        /// Bytes of one coordinate (and of one half of a JWS signature).
        public var coordinateSize: Int { self == .p256 ? 32 : 48 }

        var groupName: String { self == .p256 ? "prime256v1" : "secp384r1" }
    }

    /// Smallest RSA modulus accepted, in bits.
    public static let minimumRSABits = 2048
    /// Largest RSA modulus accepted, in bits (libcrypto's own ceiling; bigger keys only cost CPU).
    public static let maximumRSABits = 16384

    let pkey: OpaquePointer
    public let kind: Kind

    private init(taking pkey: OpaquePointer) throws(PublicKeyError) {
        self.pkey = pkey
        do {
            self.kind = try Self.classify(pkey)
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
    }

    deinit { EVP_PKEY_free(pkey) }

    /// An RSA public key from the big-endian modulus `n` and exponent `e` (leading zero bytes allowed).
    public convenience init(rsaModulus n: [UInt8], exponent e: [UInt8]) throws(PublicKeyError) {
        let modulusBits = Self.bitLength(n)
        guard modulusBits >= Self.minimumRSABits else {
            throw PublicKeyError("RSA modulus of \(modulusBits) bits is under \(Self.minimumRSABits)")
        }
        guard modulusBits <= Self.maximumRSABits else {
            throw PublicKeyError("RSA modulus of \(modulusBits) bits is over \(Self.maximumRSABits)")
        }
        guard let lastE = e.last, lastE & 1 == 1, Self.bitLength(e) > 1, Self.bitLength(e) <= 256 else {
            throw PublicKeyError("RSA exponent must be odd, above 1 and at most 256 bits")
        }
        // OSSL_PARAM integers are unsigned in the host's byte order.
        var nHost = Self.hostOrder(n)
        var eHost = Self.hostOrder(e)
        let pkey = try nHost.withUnsafeMutableBytes { nRaw in
            eHost.withUnsafeMutableBytes { eRaw in
                Self.fromData(
                    type: "RSA",
                    [
                        OSSL_PARAM_construct_BN(
                            Self.paramName("n"), nRaw.baseAddress?.assumingMemoryBound(to: UInt8.self), nRaw.count),
                        OSSL_PARAM_construct_BN(
                            Self.paramName("e"), eRaw.baseAddress?.assumingMemoryBound(to: UInt8.self), eRaw.count),
                    ])
            }
        }.get()
        try self.init(taking: pkey)
    }

    /// An EC public key on `curve` from its affine coordinates, each exactly `curve.coordinateSize`
    /// bytes (RFC 7518 §6.2.1.2). A point that is not on the curve is refused.
    public convenience init(curve: Curve, x: [UInt8], y: [UInt8]) throws(PublicKeyError) {
        guard x.count == curve.coordinateSize, y.count == curve.coordinateSize else {
            throw PublicKeyError("\(curve.rawValue) coordinates must be \(curve.coordinateSize) bytes each")
        }
        var point = [0x04] + x + y  // SEC 1 uncompressed form
        var group = Array(curve.groupName.utf8CString)
        let pkey = try point.withUnsafeMutableBytes { pointRaw in
            group.withUnsafeMutableBufferPointer { groupName in
                Self.fromData(
                    type: "EC",
                    [
                        OSSL_PARAM_construct_utf8_string(
                            Self.paramName("group"), groupName.baseAddress, groupName.count - 1),
                        OSSL_PARAM_construct_octet_string(Self.paramName("pub"), pointRaw.baseAddress, pointRaw.count),
                    ])
            }
        }.get()
        try Self.checkPublic(pkey, what: "\(curve.rawValue) point is not on the curve")
        try self.init(taking: pkey)
    }

    /// An Ed25519 public key from its 32 raw bytes (RFC 8037 `x`).
    public convenience init(ed25519 x: [UInt8]) throws(PublicKeyError) {
        guard x.count == 32 else { throw PublicKeyError("Ed25519 key must be 32 bytes") }
        let made = x.withUnsafeBufferPointer { EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }
        guard let pkey = made else { throw PublicKeyError.drainingErrors("Ed25519 key refused") }
        try self.init(taking: pkey)
    }

    /// A public key from PEM text holding a `SubjectPublicKeyInfo` (`-----BEGIN PUBLIC KEY-----`),
    /// subject to the same checks as the other constructors.
    public convenience init<C: Collection>(pem: C) throws(PublicKeyError) where C.Element == UInt8 {
        let bytes = Array(pem)
        let made: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let pkey = made else { throw PublicKeyError.drainingErrors("not a PEM public key") }
        if EVP_PKEY_is_a(pkey, "EC") == 1 {
            do {
                try Self.checkPublic(pkey, what: "EC point is not on the curve")
            } catch {
                EVP_PKEY_free(pkey)
                throw error
            }
        }
        try self.init(taking: pkey)
    }

    // MARK: - Construction helpers

    /// Runs EVP_PKEY_fromdata for a public key of `type` from `params` (the end marker is added here).
    private static func fromData(type: String, _ params: [OSSL_PARAM]) -> Result<OpaquePointer, PublicKeyError> {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
            return .failure(.drainingErrors("no \(type) implementation"))
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var list = params + [OSSL_PARAM_construct_end()]
        var pkey: OpaquePointer? = nil
        let ok = list.withUnsafeMutableBufferPointer { p in
            EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &pkey, selectPublicKey, p.baseAddress) == 1
        }
        guard ok, let made = pkey else { return .failure(.drainingErrors("\(type) key refused")) }
        return .success(made)
    }

    /// EVP_PKEY_PUBLIC_KEY: OSSL_KEYMGMT_SELECT_ALL_PARAMETERS | OSSL_KEYMGMT_SELECT_PUBLIC_KEY
    /// (a composite macro Swift does not import).
    private static let selectPublicKey: Int32 =
        Int32(
            OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS | OSSL_KEYMGMT_SELECT_OTHER_PARAMETERS
                | OSSL_KEYMGMT_SELECT_PUBLIC_KEY)

    /// libcrypto's public-key validation (for EC: the point is on the curve and not at infinity);
    /// frees `pkey` when it fails.
    private static func checkPublic(_ pkey: OpaquePointer, what: String) throws(PublicKeyError) {
        let ctx = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil)
        defer { EVP_PKEY_CTX_free(ctx) }
        guard let ctx, EVP_PKEY_public_check(ctx) == 1 else {
            EVP_PKEY_free(pkey)
            throw PublicKeyError.drainingErrors(what)
        }
    }

    /// The kind of a key libcrypto made, refusing types and sizes this gateway does not verify with.
    private static func classify(_ pkey: OpaquePointer) throws(PublicKeyError) -> Kind {
        if EVP_PKEY_is_a(pkey, "RSA") == 1 {
            let bits = Int(EVP_PKEY_get_bits(pkey))
            guard bits >= minimumRSABits else {
                throw PublicKeyError("RSA modulus of \(bits) bits is under \(minimumRSABits)")
            }
            guard bits <= maximumRSABits else {
                throw PublicKeyError("RSA modulus of \(bits) bits is over \(maximumRSABits)")
            }
            return .rsa(bits: bits)
        }
        if EVP_PKEY_is_a(pkey, "ED25519") == 1 { return .ed25519 }
        if EVP_PKEY_is_a(pkey, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else {
                throw PublicKeyError.drainingErrors("EC key without a named curve")
            }
            let curve = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch curve {
            case "prime256v1", "P-256", "secp256r1": return .ecP256
            case "secp384r1", "P-384": return .ecP384
            default: throw PublicKeyError("unsupported EC curve \(curve)")
            }
        }
        throw PublicKeyError("unsupported key type (RSA, EC P-256/P-384 and Ed25519 are supported)")
    }

    /// A parameter name that outlives the OSSL_PARAM holding it: string literals are stored
    /// NUL-terminated in the binary, whereas a bridged `String` argument lives only for one call.
    private static func paramName(_ name: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
    }

    /// A big-endian unsigned integer in the host's byte order, as OSSL_PARAM integers are.
    private static func hostOrder(_ bigEndian: [UInt8]) -> [UInt8] {
        UInt16(1).littleEndian == 1 ? bigEndian.reversed() : bigEndian
    }

    /// Bits of a big-endian unsigned integer, ignoring leading zeros.
    private static func bitLength(_ bytes: [UInt8]) -> Int {
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return 0 }
        return (bytes.count - first - 1) * 8 + (8 - bytes[first].leadingZeroBitCount)
    }
}

/// Why a public key was refused, with libcrypto's error text when it had one.
public struct PublicKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }

    /// An error whose message ends with the first entry of libcrypto's error queue; the queue is emptied
    /// so that a later, unrelated failure on this thread does not report a stale reason.
    static func drainingErrors(_ message: String) -> PublicKeyError {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return PublicKeyError(message) }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return PublicKeyError("\(message): \(text)")
    }
}
