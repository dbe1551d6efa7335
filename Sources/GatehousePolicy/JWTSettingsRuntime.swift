/// The checked `[auth.jwt]` settings the verifier runs with (built once from the configuration).
public struct JWTSettingsRuntime: Sendable {
    /// The allow-list of `alg` values; anything else is refused as `alg_not_allowed`.
    public var algorithms: Set<JWTAlgorithm>
    /// The HMAC key; empty when none is configured (HMAC tokens are then refused as `key_confusion`).
    public var secret: [UInt8]
    /// The required `iss`, or nil to accept any.
    public var issuer: String?
    /// The required `aud` (a string, or one element of an array), or nil to accept any.
    public var audience: String?
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    public var leewaySeconds: Int64
    /// The claim naming the principal; `user_id` is read when it is absent.
    public var subjectClaim: String
    /// The claim holding the permissions array; the words of `scope` are added to it.
    public var permissionsClaim: String
    /// Longest token accepted, in bytes (`too_large` beyond).
    public var maxTokenBytes: Int

    /// Empty `issuer`/`audience` strings (the configuration's "not set") mean no check.
    public init(
        algorithms: Set<JWTAlgorithm> = [.hs256], secret: [UInt8] = [], issuer: String? = nil,
        audience: String? = nil, leewaySeconds: Int64 = 30, subjectClaim: String = "sub",
        permissionsClaim: String = "permissions", maxTokenBytes: Int = 8192
    ) {
        self.algorithms = algorithms
        self.secret = secret
        self.issuer = issuer?.isEmpty == true ? nil : issuer
        self.audience = audience?.isEmpty == true ? nil : audience
        self.leewaySeconds = max(0, leewaySeconds)
        self.subjectClaim = subjectClaim
        self.permissionsClaim = permissionsClaim
        self.maxTokenBytes = maxTokenBytes
    }
}
