import GatehouseConfig
import GatehouseHTTP
import GatehouseJSON
import GatehousePolicy
import GatehousePosix

/// Everything the per-request path needs, checked and precomputed once per configuration (at start and on
/// each SIGHUP): the hot path never looks at raw configuration. Immutable; a reload builds a new one and
/// hands it to every loop (so new handshakes get a reloaded certificate while live connections carry on).
public final class GatewayState: Sendable {
    /// How the upstream's Host header is chosen.
    public enum HostHeaderMode: Sendable { case upstream, client }

    public let limits: HTTPLimits
    public let headerTimeoutMilliseconds: Int64
    public let idleTimeoutMilliseconds: Int64
    public let connectTimeoutMilliseconds: Int64
    public let responseTimeoutMilliseconds: Int64
    public let drainTimeoutMilliseconds: Int64
    public let tlsHandshakeTimeoutMilliseconds: Int64
    public let maxConnections: Int
    /// Open connections one client address may hold (0 = no limit).
    public let maxConnectionsPerAddress: Int
    public let maxIdleUpstreamConnections: Int

    public let upstreamAddress: SocketAddress
    /// The upstream's authority ("127.0.0.1:8000"), the Host header it expects.
    public let upstreamAuthority: String
    /// A path prefix of the upstream URL ("" or "/base"), prepended to forwarded targets.
    public let upstreamBasePath: String
    public let hostHeader: HostHeaderMode
    /// Client TLS towards an https upstream (system trust store or upstream.ca_file); nil for http.
    public let upstreamTLSContext: TLSContext?
    /// SNI and the name the upstream certificate must carry.
    public let upstreamServerName: String
    public let forwardAuthorization: Bool
    public let forwardOrigin: Bool
    /// The header carrying the principal to the upstream; "" disables it.
    public let identityHeader: String
    /// `identityHeader` lower-cased once, for the per-request header filter.
    let identityHeaderLowercased: String

    /// RFC 9728 metadata documents by request path (root and path-inserted forms), when auth.oauth is set.
    public let oauthMetadata: [String: [UInt8]]
    /// The `resource_metadata` URL that 401 challenges carry, when auth.oauth is set.
    public let resourceMetadataURL: String?
    public let apiKeys: APIKeyStore
    public let acceptsAPIKeys: Bool
    /// Verifies bearer JWTs (secret, jwks_file, jwks_url) with a verified-token cache; nil when JWT is not
    /// accepted or has no key.
    public let jwt: JWTAuthority?
    /// A verified client certificate authenticates (tls.client_auth on and "mtls" in auth.methods).
    public let acceptsClientCertificates: Bool
    /// Permissions of a certificate principal: `auth.default_api_key_permissions`.
    public let clientCertificatePermissions: [String]
    /// Paths whose POST bodies are MCP messages (read whole and inspected).
    public let mcpPaths: Set<String>
    /// Validation, sanitization, authorization, session binding and tool pins of MCP messages (§6).
    /// Its session bindings and pins outlive reloads.
    public let mcp: MCPInspector
    /// The REST door's path when `rest.enabled` (§12).
    public let restPath: String?
    /// How long a tools/call may wait for its whole answer (mcp.call_timeout), and per tool.
    public let callTimeoutMilliseconds: Int64
    public let toolTimeoutMilliseconds: [String: Int64]
    /// Security headers added to every answer (HSTS already left out when the listener is plain HTTP).
    public let securityHeaders: [(String, String)]
    /// `securityHeaders` as field lines, serialized once for every answer's head.
    let securityHeaderBlock: [UInt8]
    /// Lower-cased names of every configured security header (HSTS included), replaced in upstream answers;
    /// a list of native strings for the per-field filter of upstream answers:
    /// a handful of length-first byte comparisons (`HTTPHeaders.namesEqual`) instead of lower-casing and
    /// hashing every upstream field name.
    let securityHeaderNameList: [String]
    /// Addresses whose X-Forwarded-For is believed.
    public let trustedProxies: [CIDR]
    /// Token buckets (nil when rate limiting is off); kept across reloads that leave `[rate_limit]` as it was.
    public let rateLimiter: RateLimiter?
    /// Which key the client buckets use: the address before authentication, or the principal after it.
    public let rateLimitPerPrincipal: Bool
    /// With `backend = "redis"`: makes each loop's Redis limiter (loop-confined); nil with the local backend.
    let redisLimiterFactory: (@Sendable (EventLoop) -> RedisRateLimiting)?
    /// `rate_limit.redis_failure`: whether a request passes when Redis cannot decide in time.
    public let redisFailureAllows: Bool
    public let cors: CORSPolicy
    /// The server TLS context (certificate, key, versions, client CA); nil on plain HTTP.
    public let tlsContext: TLSContext?
    public var isTLS: Bool { tlsContext != nil }

    /// Compiles `config`; throws `GatewayStartError` for what only shows when used (an unresolvable
    /// upstream, a certificate that does not match its key).
    public init(config: GatewayConfig, previous: GatewayState? = nil) throws {
        let up = config.upstream.url
        if up.isTLS {
            do {
                upstreamTLSContext = try TLSContext(
                    clientCAFile: config.upstream.caFile.isEmpty ? nil : config.upstream.caFile,
                    verifyPeer: config.upstream.tlsVerify)
            } catch {
                throw GatewayStartError(message: "upstream.ca_file: \(error.message)", isConfiguration: true)
            }
        } else {
            upstreamTLSContext = nil
        }
        upstreamServerName = up.host
        do {
            upstreamAddress = try SocketAddress.resolve(host: up.host, port: up.port)
        } catch {
            throw GatewayStartError(message: "upstream.url: cannot resolve \(up.host): \(error)", isConfiguration: true)
        }
        if config.tls.isEnabled {
            let settings = TLSServerSettings(
                certificatePath: config.tls.cert, privateKeyPath: config.tls.key,
                minimumVersion: config.tls.minVersion.rawValue, ciphers: config.tls.ciphers,
                clientCAPath: config.tls.clientCA,
                clientAuth: {
                    switch config.tls.clientAuth {
                    case .off: return .off
                    case .optional: return .optional
                    case .require: return .require
                    }
                }())
            do {
                tlsContext = try TLSContext(server: settings)
            } catch {
                throw GatewayStartError(message: "tls: \(error.message)", isConfiguration: true)
            }
        } else {
            tlsContext = nil
        }
        var limits = HTTPLimits(maxHeaderBytes: config.server.maxHeaderBytes, maxBodyBytes: config.server.maxBodyBytes)
        limits.maxHeaderCount = 100
        self.limits = limits
        headerTimeoutMilliseconds = Self.milliseconds(config.server.headerTimeout)
        idleTimeoutMilliseconds = Self.milliseconds(config.server.idleTimeout)
        connectTimeoutMilliseconds = Self.milliseconds(config.upstream.connectTimeout)
        responseTimeoutMilliseconds = Self.milliseconds(config.upstream.responseTimeout)
        drainTimeoutMilliseconds = Self.milliseconds(config.server.drainTimeout)
        tlsHandshakeTimeoutMilliseconds = Self.milliseconds(config.tls.handshakeTimeout)
        maxConnections = config.server.maxConnections
        maxConnectionsPerAddress = config.server.maxConnectionsPerIP
        maxIdleUpstreamConnections = config.upstream.maxIdleConnections
        upstreamAuthority = up.authority
        upstreamBasePath = up.basePath == "/" ? "" : up.basePath
        hostHeader = config.upstream.hostHeader == .client ? .client : .upstream
        forwardAuthorization = config.upstream.forwardAuthorization
        forwardOrigin = config.upstream.forwardOrigin
        identityHeader = config.upstream.identityHeader
        identityHeaderLowercased = config.upstream.identityHeader.lowercased()
        apiKeys = APIKeyStore(
            entries: config.auth.apiKeys.map { APIKeyEntry(name: $0.name, digest: $0.digest, permissions: $0.permissions) })
        acceptsAPIKeys = config.auth.accepts(.apiKey)
        let jwt = config.auth.jwt
        if config.auth.accepts(.jwt) && jwt.hasKeys {
            var keys: JWKSet?
            if !jwt.jwksFile.isEmpty {
                switch ConfigFiles.read(jwt.jwksFile) {
                case .failure(let error):
                    throw GatewayStartError(message: "auth.jwt.jwks_file: \(error)", isConfiguration: true)
                case .success(let bytes):
                    do {
                        keys = try JWKSet.parse(bytes)
                    } catch {
                        throw GatewayStartError(message: "auth.jwt.jwks_file: \(jwt.jwksFile): \(error)", isConfiguration: true)
                    }
                }
            }
            let settings = JWTSettingsRuntime(
                algorithms: Set(jwt.algorithms.compactMap { GatehousePolicy.JWTAlgorithm(rawValue: $0.rawValue) }),
                secret: jwt.secret, issuer: jwt.issuer, audience: jwt.audience,
                leewaySeconds: Self.milliseconds(jwt.leeway) / 1000, subjectClaim: jwt.subjectClaim,
                permissionsClaim: jwt.permissionsClaim)
            self.jwt = JWTAuthority(
                settings: settings, fileKeys: keys, url: jwt.jwksURL, refresh: jwt.jwksRefresh,
                refetchMinInterval: jwt.jwksRefetchMinInterval)
        } else {
            self.jwt = nil
        }
        if config.auth.oauth.isEnabled {
            var base = config.server.publicURL
            while base.hasSuffix("/") { base.removeLast() }
            func document(resource: String) -> [UInt8] {
                var o = JSONObject()
                o["resource"] = .string(resource)
                o["authorization_servers"] = .array(config.auth.oauth.authorizationServers.map { .string($0) })
                if !config.auth.oauth.scopesSupported.isEmpty {
                    o["scopes_supported"] = .array(config.auth.oauth.scopesSupported.map { .string($0) })
                }
                o["bearer_methods_supported"] = .array([.string("header")])
                return JSONWriter.serialize(.object(o))
            }
            var documents = ["/.well-known/oauth-protected-resource": document(resource: base)]
            for path in config.mcp.paths {
                documents["/.well-known/oauth-protected-resource" + path] = document(resource: base + path)
            }
            oauthMetadata = documents
            resourceMetadataURL = base + "/.well-known/oauth-protected-resource"
        } else {
            oauthMetadata = [:]
            resourceMetadataURL = nil
        }
        acceptsClientCertificates = config.auth.accepts(.mtls) && config.tls.clientAuth != .off && config.tls.isEnabled
        clientCertificatePermissions = config.auth.defaultAPIKeyPermissions
        mcpPaths = Set(config.mcp.paths)
        let m = config.mcp
        let matcher: MCPToolNameMatcher
        if m.toolNamePattern.pattern == MCPToolNameMatcher.standardPattern {
            matcher = .standard
        } else {
            let regex = m.toolNamePattern
            matcher = MCPToolNameMatcher(pattern: regex.pattern, predicate: { regex.matches($0) })
        }
        let settings = MCPInspectionSettings(
            toolNamePattern: matcher, requireArguments: m.requireArguments, maxJSONDepth: m.maxJSONDepth,
            allowBatches: m.allowBatches, sanitize: GatehousePolicy.SanitizeMode(rawValue: m.sanitize.rawValue) ?? .off,
            rules: AuthorizationRules(rules: config.authorization.rules),
            filterToolsList: config.authorization.filterToolsList, bindSessions: m.bindSessions,
            pinTools: GatehousePolicy.PinMode(rawValue: m.pinTools.rawValue) ?? .off)
        var pins = previous?.mcp.pins
        if !m.pinnedToolsFile.isEmpty {
            switch ConfigFiles.read(m.pinnedToolsFile) {
            case .success(let bytes):
                do {
                    let loaded = try ToolPins.load(file: bytes)
                    if let existing = pins { existing.repin(loaded.pinned) } else { pins = loaded }
                } catch {
                    throw GatewayStartError(message: "mcp.pinned_tools_file: \(m.pinnedToolsFile): \(error)", isConfiguration: true)
                }
            case .failure:
                break  // not written yet (`gatehouse pin` writes it): pins are learned on first sight meanwhile
            }
        }
        mcp = MCPInspector(
            settings: settings, sessions: previous?.mcp.sessions ?? SessionBindings(), pins: pins ?? ToolPins())
        callTimeoutMilliseconds = Self.milliseconds(m.callTimeout)
        restPath = config.rest.enabled ? config.rest.path : nil
        toolTimeoutMilliseconds = m.toolTimeouts.mapValues { Self.milliseconds($0) }
        let headers = config.headers.map { ($0.name, $0.value) }
        securityHeaders = config.tls.isEnabled
            ? headers : headers.filter { $0.0.lowercased() != "strict-transport-security" }
        securityHeaderBlock = HTTPSerializer.preformattedFields(HTTPHeaders(securityHeaders))
        securityHeaderNameList = Set(headers.map { $0.0.lowercased() }).sorted()
        trustedProxies = config.server.trustedProxies
        let rl = config.rateLimit
        if rl.enabled {
            let limit = RateLimit(capacity: rl.capacity, refillPerSecond: rl.refillPerSecond)
            let tools = rl.tools.mapValues { RateLimit(capacity: $0.capacity, refillPerSecond: $0.refillPerSecond) }
            if let old = previous?.rateLimiter, old.limit == limit, old.toolLimits == tools,
                old.maxTrackedClients == rl.maxTrackedClients
            {
                rateLimiter = old  // a reload (e.g. log rotation) must not hand every client a full bucket
            } else {
                rateLimiter = RateLimiter(limit: limit, toolLimits: tools, maxTrackedClients: rl.maxTrackedClients)
            }
        } else {
            rateLimiter = nil
        }
        rateLimitPerPrincipal = rl.per == .principal
        redisFailureAllows = rl.redisFailure == .allow
        redisLimiterFactory = rl.enabled && rl.backend == .redis ? try RedisBackend.factory(for: rl) : nil
        cors = CORSPolicy(
            origins: config.cors.origins, allowCredentials: config.cors.allowCredentials,
            maxAgeSeconds: Int(Self.milliseconds(config.cors.maxAge) / 1000))
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }
}
