import GatehouseCrypto

/// A JWS `alg` this gateway can verify (RFC 7518 §3, RFC 8037). The raw value is the header's exact,
/// case-sensitive spelling; `none` has no case and can never be accepted.
public enum JWTAlgorithm: String, Sendable, CaseIterable {
    case hs256 = "HS256"
    case hs384 = "HS384"
    case hs512 = "HS512"
    case rs256 = "RS256"
    case rs384 = "RS384"
    case rs512 = "RS512"
    case ps256 = "PS256"
    case ps384 = "PS384"
    case ps512 = "PS512"
    case es256 = "ES256"
    case es384 = "ES384"
    case edDSA = "EdDSA"

    /// Whether the algorithm is an HMAC keyed by the shared secret (as opposed to a public key).
    public var isHMAC: Bool { hmacDigest != nil }

    /// The hash of an HMAC algorithm; nil for the public-key algorithms.
    public var hmacDigest: Digest.Algorithm? {
        switch self {
        case .hs256: return .sha256
        case .hs384: return .sha384
        case .hs512: return .sha512
        default: return nil
        }
    }

    /// The signature scheme of a public-key algorithm; nil for HMAC.
    public var signatureAlgorithm: SignatureAlgorithm? {
        switch self {
        case .hs256, .hs384, .hs512: return nil
        case .rs256: return .rsaPKCS1(.sha256)
        case .rs384: return .rsaPKCS1(.sha384)
        case .rs512: return .rsaPKCS1(.sha512)
        case .ps256: return .rsaPSS(.sha256)
        case .ps384: return .rsaPSS(.sha384)
        case .ps512: return .rsaPSS(.sha512)
        case .es256: return .ecdsaP256
        case .es384: return .ecdsaP384
        case .edDSA: return .ed25519
        }
    }
}
