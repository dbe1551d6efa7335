import COpenSSL

/// The asymmetric signature schemes of JWS (RFC 7518 §3.3–3.5, RFC 8037).
public enum SignatureAlgorithm: Sendable, Equatable {
    /// RSASSA-PKCS1-v1_5 (RS256/384/512).
    case rsaPKCS1(Digest.Algorithm)
    /// RSASSA-PSS with MGF1 on the same hash and a salt as long as the hash (PS256/384/512).
    case rsaPSS(Digest.Algorithm)
    /// ECDSA on P-256 with SHA-256 (ES256), signature as raw r‖s of 2×32 bytes.
    case ecdsaP256
    /// ECDSA on P-384 with SHA-384 (ES384), signature as raw r‖s of 2×48 bytes.
    case ecdsaP384
    /// Ed25519 (EdDSA with crv Ed25519).
    case ed25519

    /// Whether a key of `kind` verifies signatures of this scheme.
    public func accepts(_ kind: PublicKey.Kind) -> Bool {
        switch (self, kind) {
        case (.rsaPKCS1, .rsa), (.rsaPSS, .rsa), (.ecdsaP256, .ecP256), (.ecdsaP384, .ecP384), (.ed25519, .ed25519):
            return true
        default:
            return false
        }
    }
}

/// Verifies JWS signatures with libcrypto's EVP_DigestVerify. Every failure, including a key of the
/// wrong kind or a signature of the wrong shape, is a plain `false`: the caller only needs to know
/// that the token is not authentic.
public enum SignatureVerifier {
    /// Whether `signature` is a valid signature of `message` under `key` with `algorithm`.
    public static func verify<M: Collection, S: Collection>(
        algorithm: SignatureAlgorithm, key: PublicKey, message: M, signature: S
    ) -> Bool where M.Element == UInt8, S.Element == UInt8 {
        guard algorithm.accepts(key.kind) else { return false }
        let signatureBytes: [UInt8]
        switch algorithm {
        case .ecdsaP256, .ecdsaP384:
            let half = algorithm == .ecdsaP256 ? 32 : 48
            // JWS carries r‖s; libcrypto wants DER. A DER signature (or any other length) is refused.
            guard signature.count == 2 * half, let der = derECDSASignature(Array(signature), half: half) else {
                return false
            }
            signatureBytes = der
        default:
            signatureBytes = Array(signature)
        }
        let ok = withContiguousBytes(message) { m in
            signatureBytes.withUnsafeBufferPointer { s in
                digestVerify(algorithm: algorithm, key: key, message: m, signature: s)
            }
        }
        // A failed verification leaves entries in this thread's error queue; they mean nothing later.
        if !ok { ERR_clear_error() }
        return ok
    }

    private static func digestVerify(
        algorithm: SignatureAlgorithm, key: PublicKey, message: UnsafeRawBufferPointer,
        signature: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        guard let md = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(md) }
        var pctx: OpaquePointer? = nil
        let digest: OpaquePointer?
        switch algorithm {
        case .rsaPKCS1(let d), .rsaPSS(let d): digest = d.evp
        case .ecdsaP256: digest = Digest.Algorithm.sha256.evp
        case .ecdsaP384: digest = Digest.Algorithm.sha384.evp
        case .ed25519: digest = nil  // Ed25519 hashes internally; libcrypto requires a NULL digest.
        }
        guard EVP_DigestVerifyInit(md, &pctx, digest, nil, key.pkey) == 1 else { return false }
        switch algorithm {
        case .rsaPKCS1:
            guard EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 else { return false }
        case .rsaPSS:
            // RFC 7518 §3.5: MGF1 with the same hash, salt length equal to the hash output.
            guard EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, digest) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1
            else { return false }
        case .ecdsaP256, .ecdsaP384, .ed25519:
            break
        }
        // EVP_DigestVerify wants a non-NULL pointer even for an empty message.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { dummy in
            let m = message.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(dummy.baseAddress!)
            let s = signature.baseAddress ?? UnsafePointer(dummy.baseAddress!)
            return EVP_DigestVerify(md, s, signature.count, m, message.count) == 1
        }
    }

    /// DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` from JWS raw r‖s (two unsigned
    /// big-endian halves of `half` bytes). nil when r or s is zero, which no valid signature has.
    static func derECDSASignature(_ raw: [UInt8], half: Int) -> [UInt8]? {
        guard raw.count == 2 * half else { return nil }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
            guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return nil }
            var content = Array(bytes[first...])
            if content[0] & 0x80 != 0 { content.insert(0, at: 0) }  // keep the INTEGER positive
            return [0x02, UInt8(content.count)] + content
        }
        guard let r = integer(raw[0..<half]), let s = integer(raw[half...]) else { return nil }
        // At most 2 × (2 + 49) = 102 content bytes for P-384: the short length form always fits.
        return [0x30, UInt8(r.count + s.count)] + r + s
    }
}
