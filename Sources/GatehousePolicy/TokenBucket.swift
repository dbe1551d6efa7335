/// The size and speed of a token bucket (`rate_limit.capacity`, `rate_limit.refill_per_second`, or one
/// entry of `rate_limit.tools`).
public struct RateLimit: Sendable, Equatable {
    /// The burst: how many tokens a full bucket holds (1 through 1 000 000 000).
    public var capacity: Int
    /// Tokens added per second, fractions allowed (0.1 = one token every ten seconds); greater than 0.
    public var refillPerSecond: Double

    public init(capacity: Int, refillPerSecond: Double) {
        precondition((1...1_000_000_000).contains(capacity), "a bucket holds 1 through 10^9 tokens")
        precondition(refillPerSecond.isFinite && refillPerSecond > 0, "a bucket refills at a positive rate")
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
    }
}

/// A token bucket with the seed's semantics: it starts full, is refilled lazily (by the time elapsed
/// since the previous take, never above capacity) and every request takes one token or is refused.
/// Time is a monotonic clock reading in nanoseconds, passed in by the caller.
public struct TokenBucket: Sendable {
    /// Rounding slack, in tokens: ten refills of 0.1 add up to 0.9999999999999999, which must count as one.
    static let epsilon = 1e-9
    /// Waits are capped so that a very slow refill cannot overflow an `Int` (about 31 years).
    static let maxSeconds = 1_000_000_000

    public let limit: RateLimit
    /// Tokens held after the last refill (fractional).
    public private(set) var tokens: Double
    /// The clock reading of the last refill.
    public private(set) var lastRefillNanoseconds: UInt64

    /// A full bucket.
    public init(limit: RateLimit, now: UInt64) {
        self.limit = limit
        tokens = Double(limit.capacity)
        lastRefillNanoseconds = now
    }

    /// Adds the tokens earned since the last refill. A clock reading older than the last one (which a
    /// monotonic clock never gives) adds nothing and leaves the reference time alone.
    public mutating func refill(now: UInt64) {
        guard now > lastRefillNanoseconds else { return }
        let elapsedSeconds = Double(now - lastRefillNanoseconds) / 1e9
        tokens = min(Double(limit.capacity), tokens + elapsedSeconds * limit.refillPerSecond)
        lastRefillNanoseconds = now
    }

    /// Refills, then takes one token when there is one.
    public mutating func take(now: UInt64) -> RateDecision {
        refill(now: now)
        let allowed = tokens >= 1 - Self.epsilon
        if allowed { tokens = max(0, tokens - 1) }
        return decision(allowed: allowed)
    }

    /// What a take would report now, without taking (the bucket is not refilled either).
    public func peek() -> RateDecision {
        decision(allowed: tokens >= 1 - Self.epsilon)
    }

    private func decision(allowed: Bool) -> RateDecision {
        let rate = limit.refillPerSecond
        let capacity = Double(limit.capacity)
        let remaining = min(limit.capacity, Int((tokens + Self.epsilon).rounded(.down)))
        let reset = Self.wholeSeconds((capacity - tokens - Self.epsilon) / rate)
        let retryAfter = allowed ? 0 : max(1, Self.wholeSeconds((1 - tokens - Self.epsilon) / rate))
        return RateDecision(
            allowed: allowed, limit: limit.capacity, remaining: max(0, remaining), resetSeconds: reset,
            retryAfterSeconds: retryAfter)
    }

    /// `seconds` rounded up to whole seconds (a client that waits that long finds what was promised),
    /// 0 for nothing to wait, capped at `maxSeconds`.
    static func wholeSeconds(_ seconds: Double) -> Int {
        guard seconds > 0 else { return 0 }
        guard seconds < Double(maxSeconds) else { return maxSeconds }
        return Int(seconds.rounded(.up))
    }
}
