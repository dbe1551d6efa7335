extension GatewayConfig {
    /// `[rate_limit]`: token buckets.
    public struct RateLimitSettings: Sendable {
        public var enabled = true
        public var capacity = 100
        public var refillPerSecond = 10.0
        public var per = RateLimitScope.ip
        public var backend = RateLimitBackend.local
        /// Required with `backend = "redis"`.
        public var redisURL: RedisURL? = nil
        public var redisFailure = RedisFailureMode.allow
        public var maxTrackedClients = 100_000
        /// Per-tool buckets for `tools/call`, keyed by principal and tool (`rate_limit.tools`).
        public var tools: [String: ToolRateLimit] = [:]

        public init() {}
    }

    /// One tool's bucket in `rate_limit.tools`.
    public struct ToolRateLimit: Sendable, Equatable {
        public var capacity: Int
        public var refillPerSecond: Double

        public init(capacity: Int, refillPerSecond: Double) {
            self.capacity = capacity
            self.refillPerSecond = refillPerSecond
        }
    }

    /// `[cors]`: browser origins.
    public struct CORSSettings: Sendable {
        /// Allowed origins (`scheme://host[:port]`), or `"*"`.
        public var origins = ["http://localhost:3000", "https://localhost:3000"]
        public var allowCredentials = false
        public var maxAge: Duration = .seconds(600)

        public init() {}
    }
}
