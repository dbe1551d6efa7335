import GatehouseConfig
import GatehousePolicy
import GatehousePosix

/// What a shared (Redis) rate-limit backend answers for one take: decided, or failed (then
/// `rate_limit.redis_failure` applies).
typealias RateLimitBackendResult = RedisTakeResult

/// A rate limiter whose decision arrives later, on the loop thread (the Redis backend).
protocol RateLimitBackend: AnyObject {
    func take(key: String, limit: RateLimit, completion: @escaping (RateLimitBackendResult) -> Void)
}

typealias RedisRateLimiting = RateLimitBackend

/// Builds the per-loop Redis limiters for `[rate_limit]` with `backend = "redis"`: the address is resolved
/// (and a TLS context made for rediss://) once, at configuration load; each loop then gets its own
/// connection and limiter, made on that loop's first rate-limited request.
enum RedisBackend {
    static func factory(for settings: GatewayConfig.RateLimitSettings) throws -> @Sendable (EventLoop) -> RateLimitBackend {
        guard let url = settings.redisURL else {
            throw GatewayStartError(message: "rate_limit.redis_url: required with backend = \"redis\"", isConfiguration: true)
        }
        let address: SocketAddress
        do {
            address = try SocketAddress.resolve(host: url.host, port: url.port)
        } catch {
            throw GatewayStartError(message: "rate_limit.redis_url: cannot resolve \(url.host): \(error)", isConfiguration: true)
        }
        var tls: TLSContext?
        if url.usesTLS {
            do {
                tls = try TLSContext(clientCAFile: nil, verifyPeer: true)
            } catch {
                throw GatewayStartError(message: "rate_limit.redis_url: TLS: \(error.message)", isConfiguration: true)
            }
        }
        let context = LoopBound(value: tls)
        return { loop in
            RedisRateLimiter(connection: RedisConnection(loop: loop, url: url, address: address, tlsContext: context.value))
        }
    }
}

extension RedisRateLimiter: RateLimitBackend {}
