extension GatewayConfig {
    /// `[mcp]`: inspection of MCP messages.
    public struct MCPSettings: Sendable {
        public var paths = ["/mcp"]
        public var toolNamePattern = ToolNamePattern.standard
        public var requireArguments = false
        /// Default upstream timeout of a `tools/call` (1s...300s).
        public var callTimeout: Duration = .seconds(30)
        /// Per-tool timeouts (each 1s...300s).
        public var toolTimeouts: [String: Duration] = [:]
        public var maxJSONDepth = 64
        public var allowBatches = true
        public var sanitize = SanitizeMode.off
        public var bindSessions = true
        public var pinTools = PinToolsMode.off
        /// Pinned tool digests path ("" = none).
        public var pinnedToolsFile = ""

        public init() {}

        /// The upstream timeout of a call to `tool`.
        public func timeout(forTool tool: String) -> Duration { toolTimeouts[tool] ?? callTimeout }
    }

    /// `[logging]`.
    public struct LoggingSettings: Sendable {
        public var securityLog = LogDestination.stdout
        public var accessLog = LogDestination.stdout
        public var level = LogLevel.info

        public init() {}
    }

    /// `[admin]`: health, readiness and metrics.
    public struct AdminSettings: Sendable {
        /// nil when `listen = ""` disables the admin listener.
        public var listen: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9901)

        public init() {}
    }

    /// `[rest]`: the `POST /execute` tool door (§12).
    public struct RESTSettings: Sendable {
        public var enabled = false
        public var path = "/execute"

        public init() {}
    }
}
