extension GatewayConfig {
    /// `[server]`: the listener, its limits and timeouts.
    public struct ServerSettings: Sendable {
        public static let defaultListenWithTLS = ListenAddress(host: "0.0.0.0", port: 8443)
        public static let defaultListenWithoutTLS = ListenAddress(host: "0.0.0.0", port: 8080)

        /// Where clients connect. When neither the file nor `GATEHOUSE_LISTEN` names it, the loader
        /// picks `defaultListenWithTLS` if a certificate is configured, else `defaultListenWithoutTLS`.
        public var listen = defaultListenWithoutTLS
        /// Event-loop threads; 0 means one per CPU core.
        public var workers = 0
        public var maxConnections = 10_000
        /// Connections from one client address; 0 means no per-address cap.
        public var maxConnectionsPerIP = 0
        public var maxHeaderBytes = 16_384
        public var maxBodyBytes = 1 << 20
        public var headerTimeout: Duration = .seconds(10)
        public var idleTimeout: Duration = .seconds(60)
        /// How long SIGTERM waits for in-flight requests before closing them.
        public var drainTimeout: Duration = .seconds(30)
        /// Peers whose `X-Forwarded-For` is believed for the client address.
        public var trustedProxies: [CIDR] = []
        /// The public base URL without a trailing slash ("" when not set).
        public var publicURL = ""

        public init() {}
    }

    /// `[tls]`: HTTPS termination and client certificates.
    public struct TLSSettings: Sendable {
        /// PEM certificate chain path ("" = no TLS).
        public var cert = ""
        /// PEM private key path.
        public var key = ""
        public var minVersion = TLSVersion.tls12
        /// OpenSSL cipher list for TLS 1.2.
        public var ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS"
        public var requireHTTPS = true
        /// PEM CA bundle for client certificates ("" = none).
        public var clientCA = ""
        public var clientAuth = ClientAuthMode.off
        /// A client that has not finished the TLS handshake by then is dropped.
        public var handshakeTimeout: Duration = .seconds(10)

        public init() {}

        /// Whether the gateway serves HTTPS (a certificate and a key are configured).
        public var isEnabled: Bool { !cert.isEmpty && !key.isEmpty }
    }

    /// `[upstream]`: the MCP server behind the gateway.
    public struct UpstreamSettings: Sendable {
        public var url = UpstreamURL(scheme: .http, host: "127.0.0.1", port: 8000, authority: "127.0.0.1:8000")
        public var connectTimeout: Duration = .seconds(5)
        /// To the first byte of the response.
        public var responseTimeout: Duration = .seconds(30)
        public var maxIdleConnections = 64
        public var hostHeader = HostHeaderMode.upstream
        public var forwardAuthorization = false
        public var forwardOrigin = false
        /// Header carrying the authenticated principal upstream ("" = not sent).
        public var identityHeader = "X-Gatehouse-Principal"
        /// PEM CA bundle to verify an https upstream ("" = the system trust store).
        public var caFile = ""
        /// Verify an https upstream's certificate; false is accepted only for a loopback host.
        public var tlsVerify = true

        public init() {}
    }
}
