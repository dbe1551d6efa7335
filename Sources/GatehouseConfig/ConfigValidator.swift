/// The checks that span several keys, run once the file and the environment are merged, and the
/// resolution of API keys from all their sources. Each refusal is one of PRODUCT.md §2 "Refusing to start".
extension ConfigDecoder {
    static let httpsRequiredMessage = "TLS certificate and key paths required when HTTPS is enabled"
    static let noCredentialMessage =
        "no credential configured: add an API key (auth.api_keys or MCP_API_KEYS), a JWT secret (auth.jwt.secret or MCP_JWT_SECRET), a JWK Set (auth.jwt.jwks_file or auth.jwt.jwks_url), or client certificates (tls.client_auth)"

    mutating func resolveAPIKeys(_ config: inout GatewayConfig) throws(ConfigError) {
        var resolved: [APIKeyConfig] = []
        var fromFile = pendingKeys.filter(\.isInConfigFile)
        let fromEnvironment = pendingKeys.filter { !$0.isInConfigFile }
        let path = config.auth.apiKeysFile
        if !path.isEmpty {
            let bytes: [UInt8]
            switch FileAccess.contents(of: path) {
            case .success(let b): bytes = b
            case .failure(let e): throw context.error(at: "auth.api_keys_file", "cannot read \"\(path)\": \(e.message)")
            }
            let lines: [APIKeyFile.Line]
            do { lines = try APIKeyFile.parse(bytes) } catch {
                throw ConfigError(file: path, line: error.line, key: "auth.api_keys_file", message: error.message)
            }
            context.apiKeyCounts.file = lines.count
            for line in lines {
                fromFile.append(
                    PendingKey(
                        text: line.text, name: line.name, permissions: line.permissions,
                        location: (path, line.number, "auth.api_keys_file"), isInConfigFile: false))
            }
        }
        for pending in fromFile + fromEnvironment {
            let digest: [UInt8]
            let isPlain: Bool
            do { (digest, isPlain) = try APIKeyConfig.digest(of: pending.text) } catch {
                throw ConfigError(
                    file: pending.location.file, line: pending.location.line, key: pending.location.key,
                    message: error.message)
            }
            if isPlain, pending.isInConfigFile {
                let warning = ConfigError(
                    file: pending.location.file, line: pending.location.line, key: pending.location.key,
                    message:
                        "a plain-text API key sits in the file; store its sha256: form instead (gatehouse key hash)")
                if !context.warnings.contains(warning.description) { context.warnings.append(warning.description) }
            }
            let key = APIKeyConfig(
                name: pending.name, digest: digest,
                permissions: pending.permissions ?? config.auth.defaultAPIKeyPermissions)
            if let earlier = resolved.first(where: { $0.digest == digest }) {
                if earlier == key { continue }
                throw ConfigError(
                    file: pending.location.file, line: pending.location.line, key: pending.location.key,
                    message: "the same API key is configured twice with different names or permissions")
            }
            if let name = key.name, resolved.contains(where: { $0.name == name }) {
                throw ConfigError(
                    file: pending.location.file, line: pending.location.line, key: pending.location.key,
                    message: "the key name \"\(name)\" is used twice")
            }
            resolved.append(key)
        }
        config.auth.apiKeys = resolved
    }

    func validate(_ config: inout GatewayConfig) throws(ConfigError) {
        try validateTLS(config.tls)
        try validateUpstream(config.upstream)
        try validateAuth(config)
        if config.rateLimit.backend == .redis, config.rateLimit.redisURL == nil {
            throw context.error(at: "rate_limit.backend", "backend \"redis\" needs rate_limit.redis_url")
        }
        if config.cors.allowCredentials, config.cors.origins.contains("*") {
            throw context.error(at: "cors.allow_credentials", "cannot be true while cors.origins contains \"*\"")
        }
        if context.origin(of: "server.listen") == nil, config.tls.isEnabled {
            config.server.listen = GatewayConfig.ServerSettings.defaultListenWithTLS
        }
        if let admin = config.admin.listen, admin == config.server.listen {
            // Point at whichever of the two the operator wrote (the admin one when both).
            if context.origin(of: "admin.listen") == nil {
                throw context.error(at: "server.listen", "is the same address as admin.listen (\(admin))")
            }
            throw context.error(at: "admin.listen", "is the same address as server.listen (\(admin))")
        }
    }

    private func validateTLS(_ tls: GatewayConfig.TLSSettings) throws(ConfigError) {
        if tls.requireHTTPS, !tls.isEnabled {
            throw context.error(at: "tls.require_https", Self.httpsRequiredMessage)
        }
        if !tls.cert.isEmpty, tls.key.isEmpty { throw context.error(at: "tls.cert", "tls.key must be set as well") }
        if tls.cert.isEmpty, !tls.key.isEmpty { throw context.error(at: "tls.key", "tls.cert must be set as well") }
        if tls.clientAuth != .off {
            if tls.clientCA.isEmpty { throw context.error(at: "tls.client_auth", "needs tls.client_ca") }
            if !tls.isEnabled {
                throw context.error(at: "tls.client_auth", "client certificates need TLS (tls.cert and tls.key)")
            }
        }
        if tls.clientAuth == .off, !tls.clientCA.isEmpty {
            context.warnings.append(
                context.error(
                    at: "tls.client_ca", "is set while tls.client_auth is \"off\": no client certificate is asked for"
                ).description)
        }
        try checkReadable(tls.cert, key: "tls.cert")
        try checkReadable(tls.key, key: "tls.key")
        try checkReadable(tls.clientCA, key: "tls.client_ca")
    }

    private func validateUpstream(_ upstream: GatewayConfig.UpstreamSettings) throws(ConfigError) {
        if !upstream.tlsVerify, upstream.url.isTLS, !IPAddress.isLoopback(host: upstream.url.host) {
            throw context.error(at: "upstream.tls_verify", "may be false only for a loopback upstream")
        }
        try checkReadable(upstream.caFile, key: "upstream.ca_file")
    }

    private func validateAuth(_ config: GatewayConfig) throws(ConfigError) {
        let jwt = config.auth.jwt
        if !jwt.secret.isEmpty, jwt.secret.count < 32 {
            throw context.error(at: "auth.jwt.secret", "must be at least 32 bytes (it has \(jwt.secret.count))")
        }
        try checkReadable(jwt.jwksFile, key: "auth.jwt.jwks_file")
        if let url = jwt.jwksURL, !url.isTLS, !IPAddress.isLoopback(host: url.host) {
            throw context.error(at: "auth.jwt.jwks_url", "must be https (http only for a loopback host)")
        }
        // Without any JWT key the list is inert (JWT is off; the default list names HS256 and the
        // example file writes it out). Once public keys are configured, an HMAC entry without a secret
        // is a mistake to refuse: never a silent fallback to some built-in secret.
        if jwt.secret.isEmpty, let hmac = jwt.algorithms.first(where: \.isHMAC),
            !jwt.jwksFile.isEmpty || jwt.jwksURL != nil
        {
            throw context.error(at: "auth.jwt.algorithms", "\(hmac.rawValue) needs auth.jwt.secret (or MCP_JWT_SECRET)")
        }
        if !jwt.hasKeys, algorithmsAreExplicit, jwt.algorithms != [.hs256] {
            context.warnings.append(
                context.error(
                    at: "auth.jwt.algorithms",
                    "no JWT key is configured (secret, jwks_file or jwks_url): JWTs are not accepted"
                ).description)
        }
        if config.auth.oauth.isEnabled, config.server.publicURL.isEmpty {
            throw context.error(
                at: "auth.oauth.authorization_servers", "needs server.public_url (the resource identifier)")
        }
        let auth = config.auth
        let hasAPIKeys = auth.accepts(.apiKey) && !auth.apiKeys.isEmpty
        let hasJWT = auth.accepts(.jwt) && jwt.hasKeys
        let hasMTLS = auth.accepts(.mtls) && config.tls.clientAuth != .off
        guard hasAPIKeys || hasJWT || hasMTLS else {
            throw ConfigError(file: context.fileName, message: Self.noCredentialMessage)
        }
        if !auth.accepts(.apiKey), !auth.apiKeys.isEmpty {
            context.warnings.append("auth.methods does not list \"api_key\": the configured API keys are ignored")
        }
        if !auth.accepts(.jwt), jwt.hasKeys {
            context.warnings.append("auth.methods does not list \"jwt\": the JWT settings are ignored")
        }
    }

    private func checkReadable(_ path: String, key: String) throws(ConfigError) {
        guard !path.isEmpty, let reason = FileAccess.unreadableReason(path) else { return }
        throw context.error(at: key, "cannot read \"\(path)\": \(reason)")
    }
}
