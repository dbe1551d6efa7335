import XCTest

@testable import GatehousePolicy

/// Bucket arithmetic with a manual clock: burst, refill, fractional rates, Retry-After and Reset.
final class TokenBucketTests: XCTestCase {
    private let second: UInt64 = 1_000_000_000
    private let start: UInt64 = 50_000_000_000

    func testBurstThenRefusal() {
        var bucket = TokenBucket(limit: RateLimit(capacity: 5, refillPerSecond: 1), now: start)
        for expected in stride(from: 4, through: 0, by: -1) {
            let d = bucket.take(now: start)
            XCTAssertTrue(d.allowed)
            XCTAssertEqual(d.remaining, expected)
            XCTAssertEqual(d.limit, 5)
            XCTAssertEqual(d.retryAfterSeconds, 0)
        }
        let refused = bucket.take(now: start)
        XCTAssertFalse(refused.allowed)
        XCTAssertEqual(refused.remaining, 0)
        XCTAssertEqual(refused.retryAfterSeconds, 1)
        XCTAssertEqual(refused.resetSeconds, 5)
    }

    func testRefillAddsTokensAndNeverExceedsCapacity() {
        var bucket = TokenBucket(limit: RateLimit(capacity: 3, refillPerSecond: 2), now: start)
        for _ in 0..<3 { XCTAssertTrue(bucket.take(now: start).allowed) }
        XCTAssertFalse(bucket.take(now: start).allowed)
        // Half a second at 2/s earns one token.
        XCTAssertTrue(bucket.take(now: start + second / 2).allowed)
        XCTAssertFalse(bucket.take(now: start + second / 2).allowed)
        // An hour later the bucket is full, not fuller.
        let later = start + 3600 * second
        bucket.refill(now: later)
        XCTAssertEqual(bucket.tokens, 3)
        XCTAssertEqual(
            bucket.peek(), RateDecision(allowed: true, limit: 3, remaining: 3, resetSeconds: 0, retryAfterSeconds: 0))
        for _ in 0..<3 { XCTAssertTrue(bucket.take(now: later).allowed) }
        XCTAssertFalse(bucket.take(now: later).allowed)
    }

    func testFractionalRateAccumulatesAcrossManyRefills() {
        // One token every ten seconds, refilled in ten steps of one second: 0.1 added ten times is
        // 0.9999999999999999 in binary floating point and must still count as one token.
        var bucket = TokenBucket(limit: RateLimit(capacity: 1, refillPerSecond: 0.1), now: start)
        XCTAssertTrue(bucket.take(now: start).allowed)
        var now = start
        for step in 1...9 {
            now += second
            let d = bucket.take(now: now)
            XCTAssertFalse(d.allowed, "step \(step)")
            XCTAssertEqual(d.retryAfterSeconds, 10 - step, "step \(step)")
        }
        now += second
        XCTAssertTrue(bucket.take(now: now).allowed)
    }

    func testRetryAfterRoundsUp() {
        var bucket = TokenBucket(limit: RateLimit(capacity: 2, refillPerSecond: 0.3), now: start)
        XCTAssertTrue(bucket.take(now: start).allowed)
        XCTAssertTrue(bucket.take(now: start).allowed)
        // A token needs 3.33 s: the client is told 4, and after 4 s it gets one.
        let refused = bucket.take(now: start)
        XCTAssertEqual(refused.retryAfterSeconds, 4)
        XCTAssertFalse(bucket.take(now: start + 3 * second + second / 3 - 1_000).allowed)
        XCTAssertTrue(bucket.take(now: start + 4 * second).allowed)

        // Fast refill: a fraction of a second still says 1, never 0.
        var fast = TokenBucket(limit: RateLimit(capacity: 1, refillPerSecond: 1000), now: start)
        XCTAssertTrue(fast.take(now: start).allowed)
        XCTAssertEqual(fast.take(now: start).retryAfterSeconds, 1)
    }

    func testResetIsSecondsUntilFull() {
        var bucket = TokenBucket(limit: RateLimit(capacity: 10, refillPerSecond: 4), now: start)
        XCTAssertEqual(bucket.take(now: start).resetSeconds, 1)  // 1 token missing: 0.25 s
        for _ in 0..<9 { _ = bucket.take(now: start) }
        let empty = bucket.take(now: start)
        XCTAssertFalse(empty.allowed)
        XCTAssertEqual(empty.resetSeconds, 3)  // 10 tokens at 4/s: 2.5 s
        XCTAssertEqual(empty.retryAfterSeconds, 1)

        var slow = TokenBucket(limit: RateLimit(capacity: 3, refillPerSecond: 0.5), now: start)
        XCTAssertEqual(slow.take(now: start).resetSeconds, 2)
        XCTAssertEqual(slow.take(now: start).resetSeconds, 4)
        let last = slow.take(now: start)
        XCTAssertEqual(last.resetSeconds, 6)
        XCTAssertEqual(last.remaining, 0)
        XCTAssertTrue(last.allowed)
        // A second later half a token is back: 5 s to full, 1 s to the next token.
        let refused = slow.take(now: start + second)
        XCTAssertEqual(refused.resetSeconds, 5)
        XCTAssertEqual(refused.retryAfterSeconds, 1)
    }

    func testRefusedTakeDoesNotConsume() {
        var bucket = TokenBucket(limit: RateLimit(capacity: 1, refillPerSecond: 1), now: start)
        XCTAssertTrue(bucket.take(now: start).allowed)
        for _ in 0..<100 { XCTAssertFalse(bucket.take(now: start + second / 2).allowed) }
        XCTAssertTrue(bucket.take(now: start + second).allowed)
    }

    func testClockGoingBackAddsNothing() {
        var bucket = TokenBucket(limit: RateLimit(capacity: 1, refillPerSecond: 1), now: start)
        XCTAssertTrue(bucket.take(now: start).allowed)
        XCTAssertFalse(bucket.take(now: start - 10 * second).allowed)
        XCTAssertEqual(bucket.lastRefillNanoseconds, start)
        XCTAssertTrue(bucket.take(now: start + second).allowed)
    }

    func testTinyRateCapsTheWait() {
        var bucket = TokenBucket(limit: RateLimit(capacity: 1, refillPerSecond: 1e-300), now: start)
        XCTAssertTrue(bucket.take(now: start).allowed)
        let refused = bucket.take(now: start)
        XCTAssertEqual(refused.retryAfterSeconds, TokenBucket.maxSeconds)
        XCTAssertEqual(refused.resetSeconds, TokenBucket.maxSeconds)
    }

    func testHugeCapacity() {
        var bucket = TokenBucket(limit: RateLimit(capacity: 1_000_000_000, refillPerSecond: 1), now: start)
        let d = bucket.take(now: start)
        XCTAssertEqual(d.remaining, 999_999_999)
        XCTAssertEqual(d.resetSeconds, 1)
    }

    func testManualClock() {
        let clock = ManualMonotonicClock(nowNanoseconds: 7)
        XCTAssertEqual(clock.nowNanoseconds, 7)
        clock.advance(bySeconds: 1.5)
        XCTAssertEqual(clock.nowNanoseconds, 1_500_000_007)
        clock.advance(byNanoseconds: 3)
        XCTAssertEqual(clock.nowNanoseconds, 1_500_000_010)
        let system = SystemMonotonicClock()
        let a = system.nowNanoseconds
        XCTAssertGreaterThanOrEqual(system.nowNanoseconds, a)
    }
}
