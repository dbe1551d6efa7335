import GatehousePolicy
import GatehousePosix

/// The answer of a Redis-backed take: Redis decided, or could not be asked in time (the caller then
/// applies `rate_limit.redis_failure` and logs `reason`).
public enum RedisTakeResult: Sendable, Equatable {
    case decided(RateDecision)
    case failed(reason: String)
}

/// Token buckets kept in Redis, so that every replica behind a load balancer enforces one limit
/// (`rate_limit.backend = "redis"`). The bucket has `TokenBucket`'s semantics — starts full, refilled
/// lazily by the time elapsed, never above capacity, one token per request — and is updated atomically
/// by a Lua script: refill, take, store and expire in one step, with the time read from Redis
/// (`TIME`), so replicas with different clocks agree.
///
/// Buckets live under `gatehouse:rl:<key>` as a hash (`tokens`, `micros`) that expires once it would be
/// full again: an expired bucket and a full one are the same, so idle clients cost Redis nothing.
///
/// The script is loaded once (`SCRIPT LOAD`), then run by its digest (`EVALSHA`); when Redis has
/// forgotten it (a restart, `SCRIPT FLUSH`, a failover) the `NOSCRIPT` answer reloads it and the take is
/// retried once. Loop-confined like its connection: one limiter per event loop.
public final class RedisRateLimiter {
    /// Prefix of every bucket's key.
    public static let keyPrefix = "gatehouse:rl:"

    /// KEYS[1] the bucket; ARGV[1] capacity, ARGV[2] refill per second. Returns {allowed (0/1), tokens
    /// left (text, full precision)}. The arithmetic is `TokenBucket`'s, in microseconds of Redis time.
    /// Redis before 5 replicates scripts verbatim unless told to replicate their effects, which `TIME`
    /// needs; later versions always do and ignore the call.
    public static let script = """
        if redis.replicate_commands then pcall(redis.replicate_commands) end
        local capacity = tonumber(ARGV[1])
        local rate = tonumber(ARGV[2])
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'micros')
        local tokens = tonumber(state[1])
        local last = tonumber(state[2])
        if tokens == nil or last == nil then
          tokens = capacity
          last = now
        elseif tokens > capacity then
          tokens = capacity
        end
        if now > last then
          tokens = math.min(capacity, tokens + (now - last) / 1000000 * rate)
          last = now
        end
        local allowed = 0
        if tokens >= 1 - 1e-9 then
          allowed = 1
          tokens = math.max(0, tokens - 1)
        end
        local left = string.format('%.17g', tokens)
        redis.call('HSET', KEYS[1], 'tokens', left, 'micros', string.format('%.17g', last))
        local ttl = (capacity - tokens) / rate * 1000
        if ttl > 31536000000 then ttl = 31536000000 end
        redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(ttl) + 1000))
        return {allowed, left}
        """

    public let connection: RedisConnection
    /// How long a take may wait for Redis, retry included.
    public let timeoutMilliseconds: Int64
    /// The script's SHA-1 as Redis reported it, once loaded.
    public private(set) var scriptDigest: [UInt8]?
    private var isLoadingScript = false
    /// A `SCRIPT LOAD` sent after a `NOSCRIPT` whose reply is still due: later `EVALSHA`s run after it.
    private var isReloadingScript = false
    /// Takes that arrived before the script was loaded.
    private var waitingForScript: [RedisPendingTake] = []

    private static let loadCommand: [[UInt8]] = [Array("SCRIPT".utf8), Array("LOAD".utf8), Array(script.utf8)]
    private static let evalsha = Array("EVALSHA".utf8)
    private static let one = Array("1".utf8)
    private static let prefix = Array(keyPrefix.utf8)

    /// A limiter asking Redis through `connection` (on the connection's loop), each take answered
    /// within `timeoutMilliseconds`.
    public init(connection: RedisConnection, timeoutMilliseconds: Int64 = 100) {
        precondition(timeoutMilliseconds > 0, "a take needs time to ask Redis")
        self.connection = connection
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Takes one token from the bucket of `key` (created full with `limit` when Redis has none).
    /// `completion` runs exactly once, on the loop thread, within the timeout (give or take the loop's
    /// 10 ms timer tick), and never from inside `take`.
    public func take(key: String, limit: RateLimit, completion: @escaping (RedisTakeResult) -> Void) {
        let pending = RedisPendingTake(
            key: Self.prefix + Array(key.utf8), limit: limit,
            deadline: monotonicMilliseconds() + timeoutMilliseconds, completion: completion)
        if let scriptDigest {
            run(pending, digest: scriptDigest, isRetry: false)
        } else {
            waitingForScript.append(pending)
            loadScript()
        }
    }

    private func loadScript() {
        guard !isLoadingScript else { return }
        isLoadingScript = true
        connection.send(Self.loadCommand, timeoutMilliseconds: timeoutMilliseconds) { [self] result in
            isLoadingScript = false
            let waiting = waitingForScript
            waitingForScript.removeAll()
            switch result {
            case .success(let reply):
                guard case .bulkString(let digest) = reply, !digest.isEmpty else {
                    let reason = "SCRIPT LOAD answered \(Self.describe(reply))"
                    for take in waiting { take.finish(.failed(reason: reason)) }
                    return
                }
                scriptDigest = digest
                for take in waiting { run(take, digest: digest, isRetry: false) }
            case .failure(let error):
                for take in waiting { take.finish(.failed(reason: error.description)) }
            }
        }
    }

    private func run(_ take: RedisPendingTake, digest: [UInt8], isRetry: Bool) {
        let remaining = take.deadline - monotonicMilliseconds()
        guard remaining > 0 else {
            return connection.loop.execute { [box = RedisTakeBox(take)] in
                box.take.finish(.failed(reason: "no answer from Redis within the rate-limit timeout"))
            }
        }
        let arguments = [
            Self.evalsha, digest, Self.one, take.key, Array(String(take.limit.capacity).utf8),
            Array(String(take.limit.refillPerSecond).utf8),
        ]
        connection.send(arguments, timeoutMilliseconds: remaining) { [self] result in
            switch result {
            case .failure(let error):
                take.finish(.failed(reason: error.description))
            case .success(let reply):
                if reply.errorCode == "NOSCRIPT" {
                    guard !isRetry else {
                        return take.finish(.failed(reason: "Redis lost the rate-limit script twice"))
                    }
                    reloadScript()
                    return run(take, digest: digest, isRetry: true)
                }
                take.finish(Self.result(of: reply, limit: take.limit))
            }
        }
    }

    /// After a `NOSCRIPT`: loads the script again ahead of the retries (replies come in order, so every
    /// `EVALSHA` sent after this finds the script). One reload at a time.
    private func reloadScript() {
        guard !isReloadingScript else { return }
        isReloadingScript = true
        connection.send(Self.loadCommand, timeoutMilliseconds: timeoutMilliseconds) { [self] _ in
            // The retries report a failed reload themselves (a second NOSCRIPT, or their own failure).
            isReloadingScript = false
        }
    }

    /// The decision of a script reply `{allowed, tokens}`.
    static func result(of reply: RedisValue, limit: RateLimit) -> RedisTakeResult {
        guard case .array(let parts) = reply, parts.count == 2, case .integer(let allowed) = parts[0],
            allowed == 0 || allowed == 1, let text = parts[1].text, let tokens = Double(text), tokens.isFinite,
            tokens >= 0
        else {
            return .failed(reason: "unexpected answer from the rate-limit script: \(describe(reply))")
        }
        return .decided(decision(allowed: allowed == 1, tokens: tokens, limit: limit))
    }

    /// `TokenBucket`'s decision for a bucket holding `tokens` after the take: the same rounding (whole
    /// tokens down, seconds up, 1e-9 of slack), so a 429 reads the same from either backend.
    static func decision(allowed: Bool, tokens: Double, limit: RateLimit) -> RateDecision {
        let epsilon = 1e-9
        let rate = limit.refillPerSecond
        let capacity = Double(limit.capacity)
        let tokens = min(capacity, tokens)
        let remaining = min(limit.capacity, Int((tokens + epsilon).rounded(.down)))
        let reset = wholeSeconds((capacity - tokens - epsilon) / rate)
        let retryAfter = allowed ? 0 : max(1, wholeSeconds((1 - tokens - epsilon) / rate))
        return RateDecision(
            allowed: allowed, limit: limit.capacity, remaining: max(0, remaining), resetSeconds: reset,
            retryAfterSeconds: retryAfter)
    }

    /// Seconds rounded up, 0 for nothing to wait, capped at about 31 years (`TokenBucket.maxSeconds`).
    static func wholeSeconds(_ seconds: Double) -> Int {
        let cap = 1_000_000_000
        guard seconds > 0 else { return 0 }
        guard seconds < Double(cap) else { return cap }
        return Int(seconds.rounded(.up))
    }

    /// A short rendering of an unexpected reply, for the failure reason (no payload bytes).
    static func describe(_ reply: RedisValue) -> String {
        switch reply {
        case .simpleString(let s): return "+\(s.prefix(80))"
        case .error(let s): return "-\(s.prefix(120))"
        case .integer(let i): return ":\(i)"
        case .bulkString(let b): return "a bulk string of \(b.count) bytes"
        case .null: return "null"
        case .array(let a): return "an array of \(a.count)"
        }
    }
}

/// One take on its way through Redis; finishes once.
final class RedisPendingTake {
    let key: [UInt8]
    let limit: RateLimit
    /// Monotonic milliseconds by which the completion runs.
    let deadline: Int64
    private var completion: ((RedisTakeResult) -> Void)?

    init(key: [UInt8], limit: RateLimit, deadline: Int64, completion: @escaping (RedisTakeResult) -> Void) {
        self.key = key
        self.limit = limit
        self.deadline = deadline
        self.completion = completion
    }

    func finish(_ result: RedisTakeResult) {
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }
}

/// Carries a take through `EventLoop.execute` to the loop it already belongs to.
private struct RedisTakeBox: @unchecked Sendable {
    let take: RedisPendingTake

    init(_ take: RedisPendingTake) {
        self.take = take
    }
}
