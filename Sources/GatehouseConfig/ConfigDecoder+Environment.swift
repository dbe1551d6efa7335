/// The environment variables of §2, applied over the file (the container convention). An empty
/// variable counts as unset.
extension ConfigDecoder {
    /// The variables, in the order they are applied, and the key each overrides.
    static let variables: [(name: String, key: String)] = [
        ("GATEHOUSE_LISTEN", "server.listen"),
        ("MCP_TLS_CERT_PATH", "tls.cert"),
        ("MCP_TLS_KEY_PATH", "tls.key"),
        ("MCP_REQUIRE_HTTPS", "tls.require_https"),
        ("GATEHOUSE_UPSTREAM", "upstream.url"),
        ("MCP_API_KEYS", "auth.api_keys"),
        ("MCP_JWT_SECRET", "auth.jwt.secret"),
        ("MCP_CORS_ORIGINS", "cors.origins"),
    ]

    mutating func applyEnvironment(to config: inout GatewayConfig) throws(ConfigError) {
        if let text = try variable("GATEHOUSE_LISTEN", key: "server.listen") {
            config.server.listen = try parse("GATEHOUSE_LISTEN") { () throws(ValueError) in
                try ListenAddress(parsing: text)
            }
        }
        if let text = try variable("MCP_TLS_CERT_PATH", key: "tls.cert") { config.tls.cert = text }
        if let text = try variable("MCP_TLS_KEY_PATH", key: "tls.key") { config.tls.key = text }
        if let text = try variable("MCP_REQUIRE_HTTPS", key: "tls.require_https") {
            config.tls.requireHTTPS = try parse("MCP_REQUIRE_HTTPS") { () throws(ValueError) -> Bool in
                switch text.lowercased() {
                case "true", "1": return true
                case "false", "0": return false
                default: throw ValueError("expected true, false, 1 or 0")
                }
            }
        }
        if let text = try variable("GATEHOUSE_UPSTREAM", key: "upstream.url") {
            config.upstream.url = try parse("GATEHOUSE_UPSTREAM") { () throws(ValueError) in
                try UpstreamURL(parsing: text)
            }
        }
        if let text = try variable("MCP_JWT_SECRET", key: "auth.jwt.secret") {
            config.auth.jwt.secret = Array(text.utf8)
        }
        if let text = try variable("MCP_CORS_ORIGINS", key: "cors.origins") {
            let origins = Self.commaSeparated(text)
            for origin in origins {
                try parse("MCP_CORS_ORIGINS") { () throws(ValueError) in try Self.checkOrigin(origin) }
            }
            config.cors.origins = origins
        }
        // MCP_API_KEYS adds to the file's keys rather than replacing them.
        if let raw = context.variable("MCP_API_KEYS") {
            let items = Self.commaSeparated(raw)
            context.apiKeyCounts.environment = items.count
            if !items.isEmpty { context.recordEnvironment("auth.api_keys", variable: "MCP_API_KEYS") }
            for item in items {
                let text = try parse("MCP_API_KEYS") { () throws(ValueError) in
                    try SecretText.reveal(item, environment: context.environment)
                }
                pendingKeys.append(
                    PendingKey(
                        text: text, name: nil, permissions: nil, location: (nil, nil, "MCP_API_KEYS"),
                        isInConfigFile: false))
            }
        }
    }

    /// The plain text of variable `name` (an `enc:` value decrypted), recording that it sets `key`.
    private func variable(_ name: String, key: String) throws(ConfigError) -> String? {
        guard let raw = context.variable(name) else { return nil }
        context.recordEnvironment(key, variable: name)
        if SecretText.isEncrypted(raw) { context.encryptedKeys.insert(key) }
        return try parse(name) { () throws(ValueError) in try SecretText.reveal(raw, environment: context.environment) }
    }

    /// Runs `body`, turning its refusal into an error naming the variable.
    @discardableResult
    private func parse<T>(_ variable: String, _ body: () throws(ValueError) -> T) throws(ConfigError) -> T {
        do { return try body() } catch { throw ConfigError(key: variable, message: error.message) }
    }

    /// Comma-separated items, trimmed, empty ones dropped.
    static func commaSeparated(_ text: String) -> [String] {
        text.split(separator: ",").map { trimmed($0) }.filter { !$0.isEmpty }
    }

    static func trimmed(_ text: Substring) -> String {
        String(
            text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()
        )
    }
}
