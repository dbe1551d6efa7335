extension GatewayConfig {
    /// `[auth]`: which credentials are accepted, and the API keys.
    public struct AuthSettings: Sendable {
        public var methods: [CredentialKind] = [.apiKey, .jwt, .mtls]
        /// Every API key from every source, resolved at load (digests only).
        public var apiKeys: [APIKeyConfig] = []
        /// Path of the keys file ("" = none), kept for display and reload.
        public var apiKeysFile = ""
        /// Permissions of keys that do not name their own.
        public var defaultAPIKeyPermissions = ["*"]
        public var jwt = JWTSettings()
        public var oauth = OAuthSettings()

        public init() {}

        /// Whether `kind` is listed in `methods`.
        public func accepts(_ kind: CredentialKind) -> Bool { methods.contains(kind) }
    }

    /// `[auth.jwt]`: bearer tokens.
    public struct JWTSettings: Sendable {
        /// HMAC key bytes (empty = none).
        public var secret: [UInt8] = []
        /// JWK Set file path ("" = none).
        public var jwksFile = ""
        public var jwksURL: UpstreamURL? = nil
        public var jwksRefresh: Duration = .seconds(600)
        public var jwksRefetchMinInterval: Duration = .seconds(30)
        public var algorithms: [JWTAlgorithm] = [.hs256]
        /// Required `iss` ("" = not checked).
        public var issuer = ""
        /// Required `aud` ("" = not checked).
        public var audience = ""
        public var leeway: Duration = .seconds(30)
        public var subjectClaim = "sub"
        public var permissionsClaim = "permissions"

        public init() {}

        /// Whether any key material is configured (a secret or a JWK Set).
        public var hasKeys: Bool { !secret.isEmpty || !jwksFile.isEmpty || jwksURL != nil }
    }

    /// `[auth.oauth]`: RFC 9728 Protected Resource Metadata.
    public struct OAuthSettings: Sendable {
        public var authorizationServers: [String] = []
        public var scopesSupported: [String] = []

        public init() {}

        /// Whether the metadata endpoint is served.
        public var isEnabled: Bool { !authorizationServers.isEmpty }
    }

    /// `[authorization]`: which permission a call needs; the first matching rule wins.
    public struct AuthorizationSettings: Sendable {
        public var rules: [(match: String, require: [String])] = [
            ("tools/call:delete_*", ["admin"]),
            ("tools/call:*", ["tools:call"]),
            ("*", []),
        ]
        public var filterToolsList = true

        public init() {}
    }
}
