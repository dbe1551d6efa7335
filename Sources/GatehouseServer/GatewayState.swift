import GatehouseConfig
import GatehouseHTTP
import GatehousePolicy
import GatehousePosix

/// Everything the per-request path needs, checked and precomputed once per configuration (at start and on
/// each SIGHUP): the hot path never looks at raw configuration. Immutable; a reload builds a new one and
/// hands it to every loop.
public final class GatewayState: Sendable {
    /// How the upstream's Host header is chosen.
    public enum HostHeaderMode: Sendable { case upstream, client }

    public let limits: HTTPLimits
    public let headerTimeoutMilliseconds: Int64
    public let idleTimeoutMilliseconds: Int64
    public let connectTimeoutMilliseconds: Int64
    public let responseTimeoutMilliseconds: Int64
    public let drainTimeoutMilliseconds: Int64
    public let maxConnections: Int
    public let maxIdleUpstreamConnections: Int

    public let upstreamAddress: SocketAddress
    /// The upstream's authority ("127.0.0.1:8000"), the Host header it expects.
    public let upstreamAuthority: String
    /// A path prefix of the upstream URL ("" or "/base"), prepended to forwarded targets.
    public let upstreamBasePath: String
    public let hostHeader: HostHeaderMode
    public let forwardAuthorization: Bool
    public let forwardOrigin: Bool
    /// The header carrying the principal to the upstream; "" disables it.
    public let identityHeader: String

    public let apiKeys: APIKeyStore
    public let acceptsAPIKeys: Bool
    /// Paths whose POST bodies are MCP messages (read whole and inspected).
    public let mcpPaths: Set<String>
    /// Security headers added to every answer (HSTS already left out when the listener is plain HTTP).
    public let securityHeaders: [(String, String)]
    /// Lower-cased names of `securityHeaders` (and of defaults removed with ""), replaced in upstream answers.
    public let securityHeaderNames: Set<String>
    /// Addresses whose X-Forwarded-For is believed.
    public let trustedProxies: [CIDR]
    public let isTLS: Bool

    public init(
        limits: HTTPLimits, headerTimeoutMilliseconds: Int64, idleTimeoutMilliseconds: Int64,
        connectTimeoutMilliseconds: Int64, responseTimeoutMilliseconds: Int64, drainTimeoutMilliseconds: Int64,
        maxConnections: Int, maxIdleUpstreamConnections: Int, upstreamAddress: SocketAddress,
        upstreamAuthority: String, upstreamBasePath: String, hostHeader: HostHeaderMode,
        forwardAuthorization: Bool, forwardOrigin: Bool, identityHeader: String, apiKeys: APIKeyStore,
        acceptsAPIKeys: Bool, mcpPaths: Set<String>, securityHeaders: [(String, String)],
        trustedProxies: [CIDR], isTLS: Bool
    ) {
        self.limits = limits
        self.headerTimeoutMilliseconds = headerTimeoutMilliseconds
        self.idleTimeoutMilliseconds = idleTimeoutMilliseconds
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.responseTimeoutMilliseconds = responseTimeoutMilliseconds
        self.drainTimeoutMilliseconds = drainTimeoutMilliseconds
        self.maxConnections = maxConnections
        self.maxIdleUpstreamConnections = maxIdleUpstreamConnections
        self.upstreamAddress = upstreamAddress
        self.upstreamAuthority = upstreamAuthority
        self.upstreamBasePath = upstreamBasePath
        self.hostHeader = hostHeader
        self.forwardAuthorization = forwardAuthorization
        self.forwardOrigin = forwardOrigin
        self.identityHeader = identityHeader
        self.apiKeys = apiKeys
        self.acceptsAPIKeys = acceptsAPIKeys
        self.mcpPaths = mcpPaths
        self.securityHeaders = isTLS
            ? securityHeaders
            : securityHeaders.filter { !$0.0.lowercased().hasPrefix("strict-transport-security") }
        self.securityHeaderNames = Set(securityHeaders.map { $0.0.lowercased() })
        self.trustedProxies = trustedProxies
        self.isTLS = isTLS
    }
}
