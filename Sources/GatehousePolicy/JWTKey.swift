import GatehouseCrypto

/// One verification key of a JWK Set: the key material with the JWK members that limit its use.
public struct JWTKey: Sendable {
    /// The JWK `kid`, matched against the token header's `kid`.
    public var kid: String?
    /// The JWK `alg`: when present the key verifies only this algorithm.
    public var algorithm: JWTAlgorithm?
    /// The JWK `use`; only `sig` (or absent) keys are kept in a set.
    public var use: String?
    public var key: PublicKey

    public init(kid: String?, algorithm: JWTAlgorithm?, use: String? = "sig", key: PublicKey) {
        self.kid = kid
        self.algorithm = algorithm
        self.use = use
        self.key = key
    }

    /// Whether this key may verify a token signed with `alg`: the key's kind fits the algorithm (RSA
    /// for RS/PS, the right curve for ES, Ed25519 for EdDSA) and the JWK `alg`, when given, is `alg`.
    public func verifies(_ alg: JWTAlgorithm) -> Bool {
        guard let scheme = alg.signatureAlgorithm, scheme.accepts(key.kind) else { return false }
        return algorithm == nil || algorithm == alg
    }
}
