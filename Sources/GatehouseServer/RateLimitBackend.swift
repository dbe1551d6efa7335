import GatehouseConfig
import GatehousePolicy
import GatehousePosix

/// What a shared (Redis) rate-limit backend answers for one take.
enum RateLimitBackendResult {
    case decided(RateDecision)
    case failed(reason: String)
}

/// A rate limiter whose decision arrives later, on the loop thread (the Redis backend).
protocol RateLimitBackend: AnyObject {
    func take(key: String, limit: RateLimit, completion: @escaping (RateLimitBackendResult) -> Void)
}

typealias RedisRateLimiting = RateLimitBackend

/// Builds the per-loop Redis limiters for `[rate_limit]` with `backend = "redis"`.
enum RedisBackend {
    static func factory(for settings: GatewayConfig.RateLimitSettings) throws -> @Sendable (EventLoop) -> RateLimitBackend {
        throw GatewayStartError(
            message: "rate_limit.backend: \"redis\" is not wired into this build yet; use \"local\"", isConfiguration: true)
    }
}
