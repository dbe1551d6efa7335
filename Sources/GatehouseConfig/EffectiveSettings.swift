/// Renders the effective value of every known key for `gatehouse check`, with its source. Values are
/// shown in TOML syntax; secrets (and anything written `enc:`) as `***`; API keys as a count.
enum EffectiveSettings {
    static let mask = "***"

    static func rows(_ config: GatewayConfig, context: DecodeContext) -> [(
        key: String, value: String, source: ValueSource
    )] {
        var rows: [(key: String, value: String, source: ValueSource)] = []
        for key in ConfigSchema.keys {
            if key == "headers" {
                rows += headerRows(config, context: context)
                continue
            }
            var value = render(key, config, context: context)
            if context.encryptedKeys.contains(key) { value = mask }
            rows.append((key, value, source(of: key, context: context)))
        }
        return rows
    }

    static func source(of key: String, context: DecodeContext) -> ValueSource {
        switch context.origin(of: key) {
        case .environment?: return .environment
        case .file?: return .file
        case nil: return .defaultValue
        }
    }

    /// One row per default header and per header the file adds; a removed default shows `""`.
    private static func headerRows(_ config: GatewayConfig, context: DecodeContext) -> [(
        key: String, value: String,
        source: ValueSource
    )] {
        var names = GatewayConfig.defaultHeaders.map(\.name)
        for header in config.headers where !names.contains(where: { $0.lowercased() == header.name.lowercased() }) {
            names.append(header.name)
        }
        return names.map { name in
            let lowered = name.lowercased()
            let value = config.headers.first { $0.name.lowercased() == lowered }?.value ?? ""
            let key = "headers.\(quoteKey(name))"
            let shown = context.encryptedKeys.contains("headers.\(name)") ? mask : quote(value)
            return (key, shown, context.fileHeaderNames.contains(lowered) ? .file : .defaultValue)
        }
    }

    private static func render(_ key: String, _ c: GatewayConfig, context: DecodeContext) -> String {
        switch key {
        case "server.listen": return quote(c.server.listen.description)
        case "server.workers": return "\(c.server.workers)"
        case "server.max_connections": return "\(c.server.maxConnections)"
        case "server.max_connections_per_ip": return "\(c.server.maxConnectionsPerIP)"
        case "server.max_header_bytes": return "\(c.server.maxHeaderBytes)"
        case "server.max_body_bytes": return size(c.server.maxBodyBytes)
        case "server.header_timeout": return duration(c.server.headerTimeout)
        case "server.idle_timeout": return duration(c.server.idleTimeout)
        case "server.drain_timeout": return duration(c.server.drainTimeout)
        case "server.trusted_proxies": return list(c.server.trustedProxies.map(\.description))
        case "server.public_url": return quote(c.server.publicURL)
        case "tls.cert": return quote(c.tls.cert)
        case "tls.key": return quote(c.tls.key)
        case "tls.min_version": return quote(c.tls.minVersion.rawValue)
        case "tls.ciphers": return quote(c.tls.ciphers)
        case "tls.require_https": return "\(c.tls.requireHTTPS)"
        case "tls.client_ca": return quote(c.tls.clientCA)
        case "tls.client_auth": return quote(c.tls.clientAuth.rawValue)
        case "tls.handshake_timeout": return duration(c.tls.handshakeTimeout)
        case "upstream.url": return quote(c.upstream.url.description)
        case "upstream.connect_timeout": return duration(c.upstream.connectTimeout)
        case "upstream.response_timeout": return duration(c.upstream.responseTimeout)
        case "upstream.max_idle_connections": return "\(c.upstream.maxIdleConnections)"
        case "upstream.host_header": return quote(c.upstream.hostHeader.rawValue)
        case "upstream.forward_authorization": return "\(c.upstream.forwardAuthorization)"
        case "upstream.forward_origin": return "\(c.upstream.forwardOrigin)"
        case "upstream.identity_header": return quote(c.upstream.identityHeader)
        case "upstream.ca_file": return quote(c.upstream.caFile)
        case "upstream.tls_verify": return "\(c.upstream.tlsVerify)"
        case "auth.methods": return list(c.auth.methods.map(\.rawValue))
        case "auth.api_keys": return count(context.apiKeyCounts.list + context.apiKeyCounts.environment, "key")
        case "auth.api_keys_file":
            return c.auth.apiKeysFile.isEmpty
                ? quote("") : "\(quote(c.auth.apiKeysFile)) (\(count(context.apiKeyCounts.file, "key")))"
        case "auth.default_api_key_permissions": return list(c.auth.defaultAPIKeyPermissions)
        case "auth.api_key": return count(context.apiKeyCounts.named, "named key")
        case "auth.jwt.secret": return c.auth.jwt.secret.isEmpty ? quote("") : mask
        case "auth.jwt.jwks_file": return quote(c.auth.jwt.jwksFile)
        case "auth.jwt.jwks_url": return quote(c.auth.jwt.jwksURL?.description ?? "")
        case "auth.jwt.jwks_refresh": return duration(c.auth.jwt.jwksRefresh)
        case "auth.jwt.jwks_refetch_min_interval": return duration(c.auth.jwt.jwksRefetchMinInterval)
        case "auth.jwt.algorithms": return list(c.auth.jwt.algorithms.map(\.rawValue))
        case "auth.jwt.issuer": return quote(c.auth.jwt.issuer)
        case "auth.jwt.audience": return quote(c.auth.jwt.audience)
        case "auth.jwt.leeway": return duration(c.auth.jwt.leeway)
        case "auth.jwt.subject_claim": return quote(c.auth.jwt.subjectClaim)
        case "auth.jwt.permissions_claim": return quote(c.auth.jwt.permissionsClaim)
        case "auth.oauth.authorization_servers": return list(c.auth.oauth.authorizationServers)
        case "auth.oauth.scopes_supported": return list(c.auth.oauth.scopesSupported)
        case "authorization.rules":
            let rules = c.authorization.rules.map { "{ match = \(quote($0.match)), require = \(list($0.require)) }" }
            return "[" + rules.joined(separator: ", ") + "]"
        case "authorization.filter_tools_list": return "\(c.authorization.filterToolsList)"
        case "rate_limit.enabled": return "\(c.rateLimit.enabled)"
        case "rate_limit.capacity": return "\(c.rateLimit.capacity)"
        case "rate_limit.refill_per_second": return number(c.rateLimit.refillPerSecond)
        case "rate_limit.per": return quote(c.rateLimit.per.rawValue)
        case "rate_limit.backend": return quote(c.rateLimit.backend.rawValue)
        case "rate_limit.redis_url": return quote(c.rateLimit.redisURL?.maskedDescription ?? "")
        case "rate_limit.redis_failure": return quote(c.rateLimit.redisFailure.rawValue)
        case "rate_limit.max_tracked_clients": return "\(c.rateLimit.maxTrackedClients)"
        case "rate_limit.tools":
            let tools = c.rateLimit.tools.sorted { $0.key < $1.key }.map {
                "\(quoteKey($0.key)) = { capacity = \($0.value.capacity), refill_per_second = \(number($0.value.refillPerSecond)) }"
            }
            return tools.isEmpty ? "{}" : "{ " + tools.joined(separator: ", ") + " }"
        case "cors.origins": return list(c.cors.origins)
        case "cors.allow_credentials": return "\(c.cors.allowCredentials)"
        case "cors.max_age": return duration(c.cors.maxAge)
        case "mcp.paths": return list(c.mcp.paths)
        case "mcp.tool_name_pattern": return quote(c.mcp.toolNamePattern.pattern)
        case "mcp.require_arguments": return "\(c.mcp.requireArguments)"
        case "mcp.call_timeout": return duration(c.mcp.callTimeout)
        case "mcp.tool_timeouts":
            let timeouts = c.mcp.toolTimeouts.sorted { $0.key < $1.key }.map {
                "\(quoteKey($0.key)) = \(duration($0.value))"
            }
            return timeouts.isEmpty ? "{}" : "{ " + timeouts.joined(separator: ", ") + " }"
        case "mcp.max_json_depth": return "\(c.mcp.maxJSONDepth)"
        case "mcp.allow_batches": return "\(c.mcp.allowBatches)"
        case "mcp.sanitize": return quote(c.mcp.sanitize.rawValue)
        case "mcp.bind_sessions": return "\(c.mcp.bindSessions)"
        case "mcp.pin_tools": return quote(c.mcp.pinTools.rawValue)
        case "mcp.pinned_tools_file": return quote(c.mcp.pinnedToolsFile)
        case "logging.security_log": return quote(c.logging.securityLog.description)
        case "logging.access_log": return quote(c.logging.accessLog.description)
        case "logging.level": return quote(c.logging.level.rawValue)
        case "admin.listen": return quote(c.admin.listen?.description ?? "")
        case "rest.enabled": return "\(c.rest.enabled)"
        case "rest.path": return quote(c.rest.path)
        default: return "?"
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A bare TOML key when it can be one, else quoted.
    static func quoteKey(_ key: String) -> String {
        let bare =
            !key.isEmpty
            && key.utf8.allSatisfy {
                IPAddress.isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            }
        return bare ? key : quote(key)
    }

    static func list(_ items: [String]) -> String { "[" + items.map(quote).joined(separator: ", ") + "]" }

    static func duration(_ value: Duration) -> String { quote(DurationText.format(value)) }

    static func size(_ value: Int) -> String {
        let text = ByteSize.format(value)
        return text == "\(value)" ? text : quote(text)
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? "\(Int64(value))" : "\(value)"
    }

    static func count(_ n: Int, _ noun: String) -> String { n == 1 ? "1 \(noun)" : "\(n) \(noun)s" }
}
