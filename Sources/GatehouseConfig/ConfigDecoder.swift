import GatehouseTOML

/// Turns the file's TOML into a `GatewayConfig`, table by table: unknown keys refused, every value
/// type-checked and parsed. Environment overrides, API key resolution and the checks that span
/// several keys follow in `ConfigDecoder+Environment.swift` and `ConfigValidator.swift`.
struct ConfigDecoder {
    let context: DecodeContext

    /// An API key entry as written, resolved once `default_api_key_permissions` is known.
    struct PendingKey {
        var text: String
        var name: String?
        var permissions: [String]?
        /// Where an error about this entry points.
        var location: (file: String?, line: Int?, key: String)
        /// Whether a plain key here is worth a warning (it sits in the configuration file).
        var isInConfigFile: Bool
    }

    var pendingKeys: [PendingKey] = []
    /// Whether `auth.jwt.algorithms` is written in the file (an HMAC entry then demands a secret).
    var algorithmsAreExplicit = false

    init(context: DecodeContext) {
        self.context = context
    }

    mutating func decode(_ root: TOMLTable) throws(ConfigError) -> GatewayConfig {
        let top = Section(table: root, path: "", context: context)
        try top.checkKeys(ConfigSchema.children(of: ""))
        var config = GatewayConfig()
        if let s = try top.section("server") { try decodeServer(s, into: &config.server) }
        if let s = try top.section("tls") { try decodeTLS(s, into: &config.tls) }
        if let s = try top.section("upstream") { try decodeUpstream(s, into: &config.upstream) }
        if let s = try top.section("auth") { try decodeAuth(s, into: &config.auth) }
        if let s = try top.section("authorization") { try decodeAuthorization(s, into: &config.authorization) }
        if let s = try top.section("rate_limit") { try decodeRateLimit(s, into: &config.rateLimit) }
        if let s = try top.section("cors") { try decodeCORS(s, into: &config.cors) }
        if let s = try top.section("headers") { config.headers = try decodeHeaders(s) }
        if let s = try top.section("mcp") { try decodeMCP(s, into: &config.mcp) }
        if let s = try top.section("logging") { try decodeLogging(s, into: &config.logging) }
        if let s = try top.section("admin") { try decodeAdmin(s, into: &config.admin) }
        if let s = try top.section("rest") { try decodeREST(s, into: &config.rest) }
        return config
    }

    private func decodeServer(_ s: Section, into server: inout GatewayConfig.ServerSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.parsed("listen", ListenAddress.init(parsing:)) { server.listen = v }
        if let v = try s.integer("workers", in: 0...1024) { server.workers = v }
        if let v = try s.integer("max_connections", in: 1...10_000_000) { server.maxConnections = v }
        if let v = try s.integer("max_connections_per_ip", in: 0...10_000_000) { server.maxConnectionsPerIP = v }
        if let v = try s.size("max_header_bytes", minimum: 1024) { server.maxHeaderBytes = v }
        if let v = try s.size("max_body_bytes") { server.maxBodyBytes = v }
        if let v = try s.duration("header_timeout", in: .milliseconds(1)...(.seconds(86_400))) {
            server.headerTimeout = v
        }
        if let v = try s.duration("idle_timeout", in: .milliseconds(1)...(.seconds(86_400))) { server.idleTimeout = v }
        if let v = try s.duration("drain_timeout", in: .zero...(.seconds(86_400))) { server.drainTimeout = v }
        if let v = try s.strings("trusted_proxies") {
            var proxies: [CIDR] = []
            for text in v {
                do { proxies.append(try CIDR(parsing: text)) } catch { throw s.error("trusted_proxies", error.message) }
            }
            server.trustedProxies = proxies
        }
        if let v = try s.parsed("public_url", Self.parsePublicURL) { server.publicURL = v }
    }

    /// `""`, or an http(s) URL without query or fragment, kept without a trailing slash.
    static func parsePublicURL(_ text: String) throws(ValueError) -> String {
        if text.isEmpty { return "" }
        let url = try UpstreamURL(parsing: text)
        return "\(url.scheme.rawValue)://\(url.authority)\(url.basePath)"
    }

    private func decodeTLS(_ s: Section, into tls: inout GatewayConfig.TLSSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.string("cert") { tls.cert = v }
        if let v = try s.string("key") { tls.key = v }
        if let v = try s.choice("min_version", TLSVersion.self) { tls.minVersion = v }
        if let v = try s.parsed(
            "ciphers",
            { (text: String) throws(ValueError) -> String in
                guard !text.isEmpty, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                    throw ValueError("expected an OpenSSL cipher list like \"ECDHE+AESGCM:!aNULL\"")
                }
                return text
            })
        {
            tls.ciphers = v
        }
        if let v = try s.bool("require_https") { tls.requireHTTPS = v }
        if let v = try s.string("client_ca") { tls.clientCA = v }
        if let v = try s.choice("client_auth", ClientAuthMode.self) { tls.clientAuth = v }
        if let v = try s.duration("handshake_timeout", in: .milliseconds(1)...(.seconds(3600))) {
            tls.handshakeTimeout = v
        }
    }

    private func decodeUpstream(_ s: Section, into upstream: inout GatewayConfig.UpstreamSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.parsed("url", { (t: String) throws(ValueError) in try UpstreamURL(parsing: t) }) {
            upstream.url = v
        }
        if let v = try s.duration("connect_timeout", in: .milliseconds(1)...(.seconds(3600))) {
            upstream.connectTimeout = v
        }
        if let v = try s.duration("response_timeout", in: .milliseconds(1)...(.seconds(86_400))) {
            upstream.responseTimeout = v
        }
        if let v = try s.integer("max_idle_connections", in: 0...100_000) { upstream.maxIdleConnections = v }
        if let v = try s.choice("host_header", HostHeaderMode.self) { upstream.hostHeader = v }
        if let v = try s.bool("forward_authorization") { upstream.forwardAuthorization = v }
        if let v = try s.bool("forward_origin") { upstream.forwardOrigin = v }
        if let v = try s.parsed(
            "identity_header",
            { (t: String) throws(ValueError) -> String in
                guard t.isEmpty || HeaderNames.isToken(t) else {
                    throw ValueError("expected a header name like \"X-Gatehouse-Principal\"")
                }
                guard !HeaderNames.reservedForRequests.contains(t.lowercased()) else {
                    throw ValueError("\"\(t)\" is a header the gateway manages; choose another name")
                }
                return t
            })
        {
            upstream.identityHeader = v
        }
        if let v = try s.string("ca_file") { upstream.caFile = v }
        if let v = try s.bool("tls_verify") { upstream.tlsVerify = v }
    }

    private mutating func decodeAuth(_ s: Section, into auth: inout GatewayConfig.AuthSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.strings("methods") {
            var methods: [CredentialKind] = []
            for text in v {
                guard let kind = CredentialKind(rawValue: text) else {
                    throw s.error("methods", "unknown method \"\(text)\"; expected \"api_key\", \"jwt\" or \"mtls\"")
                }
                if !methods.contains(kind) { methods.append(kind) }
            }
            guard !methods.isEmpty else { throw s.error("methods", "at least one method is needed") }
            auth.methods = methods
        }
        if let v = try s.strings("api_keys") {
            let line = s.line(of: "api_keys")
            for text in v {
                pendingKeys.append(
                    PendingKey(
                        text: text, name: nil, permissions: nil,
                        location: (context.fileName, line, "auth.api_keys"), isInConfigFile: true))
            }
            context.apiKeyCounts.list = v.count
        }
        if let v = try s.string("api_keys_file") { auth.apiKeysFile = v }
        if let v = try s.strings("default_api_key_permissions") { auth.defaultAPIKeyPermissions = v }
        if let entries = try s.tables("api_key") {
            for entry in entries {
                try entry.checkKeys(ConfigSchema.apiKeyFields)
                let name = try entry.string("name")
                if let name, !APIKeyConfig.isValidName(name) {
                    throw entry.error("name", "a key name must be visible ASCII without spaces (at most 128 bytes)")
                }
                let hash = try entry.string("hash")
                let plain = try entry.string("key")
                let permissions = try entry.strings("permissions")
                let text: String
                let fieldKey: String
                switch (hash, plain) {
                case (let h?, nil):
                    guard h.lowercased().hasPrefix(APIKeyConfig.hashPrefix) else {
                        throw entry.error(
                            "hash", "expected \"sha256:\" followed by 64 hex digits (a plain key goes in \"key\")")
                    }
                    text = h
                    fieldKey = "hash"
                case (nil, let k?):
                    text = k
                    fieldKey = "key"
                case (nil, nil):
                    throw entry.tableError("needs \"hash\" (or \"key\")")
                case (_?, _?):
                    throw entry.error("key", "give \"hash\" or \"key\", not both")
                }
                pendingKeys.append(
                    PendingKey(
                        text: text, name: name, permissions: permissions,
                        location: (context.fileName, entry.line(of: fieldKey), entry.dotted(fieldKey)),
                        isInConfigFile: true))
                context.apiKeyCounts.named += 1
            }
        }
        if let jwt = try s.section("jwt") { try decodeJWT(jwt, into: &auth.jwt) }
        if let oauth = try s.section("oauth") {
            try oauth.checkKeys(ConfigSchema.children(of: oauth.path))
            if let v = try oauth.strings("authorization_servers") {
                for text in v {
                    do { _ = try UpstreamURL(parsing: text, allowsQuery: false) } catch {
                        throw oauth.error("authorization_servers", error.message)
                    }
                }
                auth.oauth.authorizationServers = v
            }
            if let v = try oauth.strings("scopes_supported") { auth.oauth.scopesSupported = v }
        }
    }

    private mutating func decodeJWT(_ s: Section, into jwt: inout GatewayConfig.JWTSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.string("secret") {
            jwt.secret = Array(v.utf8)
            if !v.isEmpty, !context.encryptedKeys.contains(s.dotted("secret")) {
                context.warnings.append(
                    ConfigError(
                        file: context.fileName, line: s.line(of: "secret"), key: s.dotted("secret"),
                        message: "the JWT secret is written in plain text; prefer MCP_JWT_SECRET or an enc: value"
                    ).description)
            }
        }
        if let v = try s.string("jwks_file") { jwt.jwksFile = v }
        if let v = try s.parsed(
            "jwks_url",
            { (t: String) throws(ValueError) -> UpstreamURL? in
                t.isEmpty ? nil : try UpstreamURL(parsing: t, allowsQuery: true)
            })
        {
            jwt.jwksURL = v
        }
        if let v = try s.duration("jwks_refresh", in: .seconds(1)...(.seconds(7 * 86_400))) { jwt.jwksRefresh = v }
        if let v = try s.duration("jwks_refetch_min_interval", in: .zero...(.seconds(86_400))) {
            jwt.jwksRefetchMinInterval = v
        }
        if let v = try s.strings("algorithms") {
            var algorithms: [JWTAlgorithm] = []
            for text in v {
                if text.lowercased() == "none" { throw s.error("algorithms", "\"none\" is never accepted") }
                guard let algorithm = JWTAlgorithm(rawValue: text) else {
                    let known = JWTAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")
                    throw s.error("algorithms", "unknown algorithm \"\(text)\"; expected some of \(known)")
                }
                if !algorithms.contains(algorithm) { algorithms.append(algorithm) }
            }
            guard !algorithms.isEmpty else { throw s.error("algorithms", "at least one algorithm is needed") }
            jwt.algorithms = algorithms
            algorithmsAreExplicit = true
        }
        if let v = try s.string("issuer") { jwt.issuer = v }
        if let v = try s.string("audience") { jwt.audience = v }
        if let v = try s.duration("leeway", in: .zero...(.seconds(86_400))) { jwt.leeway = v }
        if let v = try s.parsed("subject_claim", Self.nonEmpty) { jwt.subjectClaim = v }
        if let v = try s.parsed("permissions_claim", Self.nonEmpty) { jwt.permissionsClaim = v }
    }

    static func nonEmpty(_ text: String) throws(ValueError) -> String {
        guard !text.isEmpty else { throw ValueError("cannot be empty") }
        return text
    }

    private func decodeAuthorization(_ s: Section, into settings: inout GatewayConfig.AuthorizationSettings)
        throws(ConfigError)
    {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let entries = try s.tables("rules") {
            var rules: [(match: String, require: [String])] = []
            for entry in entries {
                try entry.checkKeys(ConfigSchema.ruleFields)
                guard let match = try entry.string("match") else { throw entry.tableError("a rule needs \"match\"") }
                guard !match.isEmpty else { throw entry.error("match", "cannot be empty") }
                rules.append((match, try entry.strings("require") ?? []))
            }
            settings.rules = rules
        }
        if let v = try s.bool("filter_tools_list") { settings.filterToolsList = v }
    }

    private func decodeRateLimit(_ s: Section, into limit: inout GatewayConfig.RateLimitSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.bool("enabled") { limit.enabled = v }
        if let v = try s.integer("capacity", in: 1...1_000_000_000) { limit.capacity = v }
        if let v = try s.positiveNumber("refill_per_second") { limit.refillPerSecond = v }
        if let v = try s.choice("per", RateLimitScope.self) { limit.per = v }
        if let v = try s.choice("backend", RateLimitBackend.self) { limit.backend = v }
        if let v = try s.parsed(
            "redis_url",
            { (t: String) throws(ValueError) -> RedisURL? in
                t.isEmpty ? nil : try RedisURL(parsing: t)
            })
        {
            limit.redisURL = v
            if v?.password != nil, !context.encryptedKeys.contains(s.dotted("redis_url")) {
                context.warnings.append(
                    ConfigError(
                        file: context.fileName, line: s.line(of: "redis_url"), key: s.dotted("redis_url"),
                        message: "the Redis password is written in plain text; prefer an enc: value"
                    ).description)
            }
        }
        if let v = try s.choice("redis_failure", RedisFailureMode.self) { limit.redisFailure = v }
        if let v = try s.integer("max_tracked_clients", in: 1...100_000_000) { limit.maxTrackedClients = v }
        if let tools = try s.section("tools") {
            var limits: [String: GatewayConfig.ToolRateLimit] = [:]
            for tool in tools.table.keys {
                guard let entry = try tools.section(tool) else { continue }
                try entry.checkKeys(ConfigSchema.toolLimitFields)
                guard let capacity = try entry.integer("capacity", in: 1...1_000_000_000) else {
                    throw entry.tableError("needs \"capacity\"")
                }
                guard let refill = try entry.positiveNumber("refill_per_second") else {
                    throw entry.tableError("needs \"refill_per_second\"")
                }
                limits[tool] = GatewayConfig.ToolRateLimit(capacity: capacity, refillPerSecond: refill)
            }
            limit.tools = limits
        }
    }

    private func decodeCORS(_ s: Section, into cors: inout GatewayConfig.CORSSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.strings("origins") {
            for origin in v {
                do { try Self.checkOrigin(origin) } catch { throw s.error("origins", error.message) }
            }
            cors.origins = v
        }
        if let v = try s.bool("allow_credentials") { cors.allowCredentials = v }
        if let v = try s.duration("max_age", in: .zero...(.seconds(86_400 * 365))) { cors.maxAge = v }
    }

    /// An origin as browsers send it: `scheme://host[:port]`, no path, no trailing slash; or `*`.
    static func checkOrigin(_ origin: String) throws(ValueError) {
        if origin == "*" { return }
        let expected =
            "\"\(origin)\" is not an origin; expected scheme://host[:port] like \"https://app.example.com\" or \"*\""
        guard let separator = origin.firstRange(of: "://") else { throw ValueError(expected) }
        let scheme = origin[..<separator.lowerBound]
        let authority = origin[separator.upperBound...]
        guard !scheme.isEmpty,
            scheme.utf8.allSatisfy({
                IPAddress.isAlphanumeric($0) || $0 == UInt8(ascii: "+")
                    || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
            }),
            !authority.isEmpty, !authority.contains("/"), !authority.contains("?"), !authority.contains("#"),
            !authority.contains("@"), authority.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f })
        else { throw ValueError(expected) }
    }

    private func decodeHeaders(_ s: Section) throws(ConfigError) -> [(name: String, value: String)] {
        var headers = GatewayConfig.defaultHeaders
        for name in s.table.keys {
            guard HeaderNames.isToken(name) else { throw s.error(name, "not a valid header name") }
            guard !HeaderNames.framing.contains(name.lowercased()) else {
                throw s.error(name, "a message framing header cannot be set here")
            }
            guard let value = try s.string(name) else { continue }
            guard value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7f) }) else {
                throw s.error(name, "a header value cannot contain control characters")
            }
            let lowered = name.lowercased()
            context.fileHeaderNames.insert(lowered)
            if let index = headers.firstIndex(where: { $0.name.lowercased() == lowered }) {
                if value.isEmpty {
                    headers.remove(at: index)
                } else {
                    headers[index].value = value
                }
            } else if !value.isEmpty {
                headers.append((name, value))
            }
        }
        return headers
    }

    private func decodeMCP(_ s: Section, into mcp: inout GatewayConfig.MCPSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.strings("paths") {
            for path in v where !path.hasPrefix("/") || !path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) {
                throw s.error("paths", "\"\(path)\" is not a path; expected something like \"/mcp\"")
            }
            mcp.paths = v
        }
        if let v = try s.parsed("tool_name_pattern", { (t: String) throws(ValueError) in try ToolNamePattern(t) }) {
            mcp.toolNamePattern = v
        }
        if let v = try s.bool("require_arguments") { mcp.requireArguments = v }
        if let v = try s.duration("call_timeout", in: .seconds(1)...(.seconds(300))) { mcp.callTimeout = v }
        if let timeouts = try s.section("tool_timeouts") {
            var map: [String: Duration] = [:]
            for tool in timeouts.table.keys {
                if let v = try timeouts.duration(tool, in: .seconds(1)...(.seconds(300))) { map[tool] = v }
            }
            mcp.toolTimeouts = map
        }
        if let v = try s.integer("max_json_depth", in: 1...10_000) { mcp.maxJSONDepth = v }
        if let v = try s.bool("allow_batches") { mcp.allowBatches = v }
        if let v = try s.choice("sanitize", SanitizeMode.self) { mcp.sanitize = v }
        if let v = try s.bool("bind_sessions") { mcp.bindSessions = v }
        if let v = try s.choice("pin_tools", PinToolsMode.self) { mcp.pinTools = v }
        if let v = try s.string("pinned_tools_file") { mcp.pinnedToolsFile = v }
    }

    private func decodeLogging(_ s: Section, into logging: inout GatewayConfig.LoggingSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.parsed("security_log", LogDestination.init(parsing:)) { logging.securityLog = v }
        if let v = try s.parsed("access_log", LogDestination.init(parsing:)) { logging.accessLog = v }
        if let v = try s.parsed(
            "level",
            { (t: String) throws(ValueError) -> LogLevel in
                if t == "warning" { return .warn }
                guard let level = LogLevel(rawValue: t) else {
                    throw ValueError("expected one of \"debug\", \"info\", \"warn\", \"error\"")
                }
                return level
            })
        {
            logging.level = v
        }
    }

    private func decodeAdmin(_ s: Section, into admin: inout GatewayConfig.AdminSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.parsed(
            "listen",
            { (t: String) throws(ValueError) -> ListenAddress? in
                t.isEmpty ? nil : try ListenAddress(parsing: t)
            })
        {
            admin.listen = v
        }
    }

    private func decodeREST(_ s: Section, into rest: inout GatewayConfig.RESTSettings) throws(ConfigError) {
        try s.checkKeys(ConfigSchema.children(of: s.path))
        if let v = try s.bool("enabled") { rest.enabled = v }
        if let v = try s.parsed(
            "path",
            { (t: String) throws(ValueError) -> String in
                guard t.hasPrefix("/"), t.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                    throw ValueError("expected a path like \"/execute\"")
                }
                return t
            })
        {
            rest.path = v
        }
    }
}

/// HTTP header name syntax (RFC 9110 token).
enum HeaderNames {
    /// Headers that frame a message or a connection: setting them by configuration would break (or smuggle) messages.
    static let framing: Set<String> = [
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
    ]

    /// Request headers the gateway reads or rewrites itself, unfit to carry the principal.
    static let reservedForRequests: Set<String> = framing.union([
        "host", "authorization", "cookie", "origin", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "x-request-id", "mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "content-type",
    ])

    static func isToken(_ text: String) -> Bool {
        !text.isEmpty
            && text.utf8.allSatisfy { c in
                IPAddress.isAlphanumeric(c) || "!#$%&'*+-.^_`|~".utf8.contains(c)
            }
    }
}
