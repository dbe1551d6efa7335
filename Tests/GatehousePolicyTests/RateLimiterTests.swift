import Dispatch
import Foundation
import XCTest

@testable import GatehousePolicy

/// The shared limiter: independent keys, least-recently-seen eviction within the memory bound,
/// concurrency, per-tool buckets, and the 429 it produces.
final class RateLimiterTests: XCTestCase {
    private let second: UInt64 = 1_000_000_000

    func testKeysAreLimitedIndependently() {
        let clock = ManualMonotonicClock()
        let limiter = RateLimiter(limit: RateLimit(capacity: 2, refillPerSecond: 1), maxTrackedClients: 100)
        XCTAssertTrue(limiter.take(key: "10.0.0.1", now: clock.nowNanoseconds).allowed)
        XCTAssertTrue(limiter.take(key: "10.0.0.1", now: clock.nowNanoseconds).allowed)
        XCTAssertFalse(limiter.take(key: "10.0.0.1", now: clock.nowNanoseconds).allowed)
        XCTAssertTrue(limiter.take(key: "10.0.0.2", now: clock.nowNanoseconds).allowed)
        XCTAssertEqual(limiter.trackedKeyCount, 2)
        clock.advance(bySeconds: 1)
        XCTAssertTrue(limiter.take(key: "10.0.0.1", now: clock.nowNanoseconds).allowed)
        XCTAssertFalse(limiter.take(key: "10.0.0.1", now: clock.nowNanoseconds).allowed)
    }

    func testBurstOfTwiceCapacity() {
        let limiter = RateLimiter(limit: RateLimit(capacity: 50, refillPerSecond: 5), maxTrackedClients: 10)
        let now: UInt64 = 42 * second
        let decisions = (0..<100).map { _ in limiter.take(key: "client", now: now) }
        XCTAssertEqual(decisions.filter(\.allowed).count, 50)
        XCTAssertTrue(decisions.prefix(50).allSatisfy(\.allowed))
        XCTAssertEqual(decisions.last?.retryAfterSeconds, 1)
        XCTAssertEqual(decisions.last?.resetSeconds, 10)
    }

    func testEvictsLeastRecentlySeenFirst() {
        let limiter = RateLimiter(
            limit: RateLimit(capacity: 1, refillPerSecond: 0.001), maxTrackedClients: 3, shardCount: 1)
        let now: UInt64 = second
        for key in ["a", "b", "c"] { XCTAssertTrue(limiter.take(key: key, now: now).allowed) }
        XCTAssertEqual(limiter.clientKeysByRecency(shard: 0), ["a", "b", "c"])
        // Seeing "a" again makes "b" the least recent.
        XCTAssertFalse(limiter.take(key: "a", now: now).allowed)
        XCTAssertEqual(limiter.clientKeysByRecency(shard: 0), ["b", "c", "a"])
        XCTAssertTrue(limiter.take(key: "d", now: now).allowed)
        XCTAssertEqual(limiter.clientKeysByRecency(shard: 0), ["c", "a", "d"])
        XCTAssertEqual(limiter.trackedKeyCount, 3)
        // "a" kept its empty bucket; "b" was forgotten and comes back full (evicting "c").
        XCTAssertFalse(limiter.take(key: "a", now: now).allowed)
        XCTAssertTrue(limiter.take(key: "b", now: now).allowed)
        XCTAssertEqual(limiter.clientKeysByRecency(shard: 0), ["d", "a", "b"])
        // Touching the newest and the middle entries keeps the list consistent.
        _ = limiter.take(key: "b", now: now)
        _ = limiter.take(key: "a", now: now)
        XCTAssertEqual(limiter.clientKeysByRecency(shard: 0), ["d", "b", "a"])
    }

    func testSingleSlot() {
        let limiter = RateLimiter(limit: RateLimit(capacity: 1, refillPerSecond: 1), maxTrackedClients: 1)
        XCTAssertEqual(limiter.clientShardCount, 1)
        XCTAssertTrue(limiter.take(key: "a", now: 0).allowed)
        XCTAssertFalse(limiter.take(key: "a", now: 0).allowed)
        XCTAssertTrue(limiter.take(key: "b", now: 0).allowed)
        XCTAssertEqual(limiter.clientKeysByRecency(shard: 0), ["b"])
        XCTAssertEqual(limiter.trackedKeyCount, 1)
    }

    func testShardsShareTheBoundExactly() {
        for bound in [1, 5, 63, 64, 65, 1000] {
            let limiter = RateLimiter(limit: RateLimit(capacity: 1, refillPerSecond: 1), maxTrackedClients: bound)
            XCTAssertEqual(limiter.clientShardCount, min(64, bound))
            for index in 0..<(bound * 3 + 10) { _ = limiter.take(key: "k\(index)", now: 0) }
            XCTAssertLessThanOrEqual(limiter.trackedKeyCount, bound, "bound \(bound)")
        }
    }

    func testMillionDistinctKeysStayWithinTheBound() {
        let bound = 10_000
        let limiter = RateLimiter(limit: RateLimit(capacity: 10, refillPerSecond: 1), maxTrackedClients: bound)
        var key = [UInt8]("198.51.100.000000".utf8)
        var refused = 0
        for index in 0..<1_000_000 {
            var n = index
            for position in stride(from: key.count - 1, through: key.count - 6, by: -1) {
                key[position] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            }
            if !limiter.take(key: String(decoding: key, as: UTF8.self), now: UInt64(index)).allowed { refused += 1 }
        }
        XCTAssertEqual(refused, 0)
        let tracked = limiter.trackedKeyCount
        XCTAssertLessThanOrEqual(tracked, bound)
        // Keys hash evenly enough that nearly every slot is in use.
        XCTAssertGreaterThan(tracked, bound * 9 / 10)
    }

    func testConcurrentTakesAreCounted() {
        // 8 threads hammer 16 shared keys with a frozen clock: exactly `capacity` takes per key succeed.
        let capacity = 500
        let keys = (0..<16).map { "client-\($0)" }
        let limiter = RateLimiter(
            limit: RateLimit(capacity: capacity, refillPerSecond: 1), maxTrackedClients: 10_000)
        let allowed = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            var mine = 0
            for round in 0..<2_000 {
                let key = keys[(round &* 7 &+ thread) % keys.count]
                if limiter.take(key: key, now: 1_000).allowed { mine += 1 }
            }
            allowed.add(mine)
        }
        XCTAssertEqual(allowed.value, capacity * keys.count)
        XCTAssertEqual(limiter.trackedKeyCount, keys.count)
    }

    func testConcurrentEvictionKeepsTheBound() {
        let limiter = RateLimiter(limit: RateLimit(capacity: 3, refillPerSecond: 1), maxTrackedClients: 200)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for round in 0..<5_000 { _ = limiter.take(key: "t\(thread)-\(round % 700)", now: UInt64(round)) }
        }
        XCTAssertLessThanOrEqual(limiter.trackedKeyCount, 200)
        XCTAssertGreaterThan(limiter.trackedKeyCount, 150)
    }

    func testPerToolBucketsAreKeyedByPrincipalAndTool() {
        let limiter = RateLimiter(
            limit: RateLimit(capacity: 100, refillPerSecond: 10),
            toolLimits: ["expensive": RateLimit(capacity: 2, refillPerSecond: 0.1)], maxTrackedClients: 100)
        let now: UInt64 = second
        XCTAssertNil(limiter.takeToolCall(principal: "alice", tool: "cheap", now: now))
        XCTAssertEqual(limiter.trackedKeyCount, 0)
        XCTAssertEqual(limiter.takeToolCall(principal: "alice", tool: "expensive", now: now)?.remaining, 1)
        XCTAssertEqual(limiter.takeToolCall(principal: "alice", tool: "expensive", now: now)?.allowed, true)
        let refused = limiter.takeToolCall(principal: "alice", tool: "expensive", now: now)
        XCTAssertEqual(refused?.allowed, false)
        XCTAssertEqual(refused?.limit, 2)
        XCTAssertEqual(refused?.retryAfterSeconds, 10)
        // Another principal has a bucket of its own, and the client bucket of "alice" is untouched.
        XCTAssertEqual(limiter.takeToolCall(principal: "bob", tool: "expensive", now: now)?.allowed, true)
        XCTAssertEqual(limiter.take(key: "alice", now: now).remaining, 99)
        // Keys that would read the same joined with "|" stay apart.
        let odd = RateLimiter(
            limit: RateLimit(capacity: 1, refillPerSecond: 1),
            toolLimits: [
                "c": RateLimit(capacity: 1, refillPerSecond: 0.1), "b|c": RateLimit(capacity: 1, refillPerSecond: 0.1),
            ],
            // Room enough that no shard evicts (String hashing is seeded per process: with a tiny bound two of
            // these keys could share a one-slot shard in some runs).
            maxTrackedClients: 10_000)
        XCTAssertEqual(odd.takeToolCall(principal: "a|b", tool: "c", now: now)?.allowed, true)
        XCTAssertEqual(odd.takeToolCall(principal: "a", tool: "b|c", now: now)?.allowed, true)
        XCTAssertEqual(odd.take(key: "a|b|c", now: now).allowed, true)
        XCTAssertEqual(odd.trackedKeyCount, 3)
    }

    func testHeadersOnAllowedAndRefused() {
        let allowed = RateDecision(allowed: true, limit: 100, remaining: 99, resetSeconds: 1, retryAfterSeconds: 0)
        XCTAssertEqual(
            allowed.headers.map { "\($0.0): \($0.1)" },
            ["RateLimit-Limit: 100", "RateLimit-Remaining: 99", "RateLimit-Reset: 1"])
        let refused = RateDecision(allowed: false, limit: 5, remaining: 0, resetSeconds: 50, retryAfterSeconds: 10)
        XCTAssertEqual(
            refused.headers.map { "\($0.0): \($0.1)" },
            ["RateLimit-Limit: 5", "RateLimit-Remaining: 0", "RateLimit-Reset: 50", "Retry-After: 10"])
    }

    func testAppendHeadersMatchesHeaders() {
        let decisions = [
            RateDecision(allowed: true, limit: 100, remaining: 99, resetSeconds: 1, retryAfterSeconds: 0),
            RateDecision(allowed: false, limit: 5, remaining: 0, resetSeconds: 50, retryAfterSeconds: 10),
            RateDecision(
                allowed: false, limit: Int.max, remaining: Int.min, resetSeconds: 123_456_789_012_345_678,
                retryAfterSeconds: -1),
        ]
        for decision in decisions {
            var collected: [(String, String)] = [("X-Before", "1")]
            decision.appendHeaders(to: &collected, includingRetryAfter: true)
            XCTAssertEqual(
                collected.dropFirst().map { "\($0.0): \($0.1)" }, decision.headers.map { "\($0.0): \($0.1)" })
            XCTAssertEqual(collected.first?.0, "X-Before")
            var withoutRetry: [(String, String)] = []
            decision.appendHeaders(to: &withoutRetry, includingRetryAfter: false)
            XCTAssertEqual(
                withoutRetry.map { "\($0.0): \($0.1)" },
                decision.headers.filter { $0.0 != "Retry-After" }.map { "\($0.0): \($0.1)" })
        }
        let last = decisions[2].headers.map(\.1)
        XCTAssertEqual(last, [String(Int.max), String(Int.min), "123456789012345678", "-1"])
    }

    func testRejectionIs429WithEvent() throws {
        let limiter = RateLimiter(limit: RateLimit(capacity: 1, refillPerSecond: 0.5), maxTrackedClients: 10)
        _ = limiter.take(key: "203.0.113.9", now: 0)
        let decision = limiter.take(key: "203.0.113.9", now: 0)
        let rejection = decision.rejection(subject: .ip, ipAddress: "203.0.113.9", userAgent: "curl/8", requestID: "r1")
        XCTAssertEqual(rejection.status, 429)
        XCTAssertEqual(rejection.message, "Rate limit exceeded")
        XCTAssertEqual(
            rejection.headers.map { "\($0.0): \($0.1)" },
            ["RateLimit-Limit: 1", "RateLimit-Remaining: 0", "RateLimit-Reset: 2", "Retry-After: 2"])
        XCTAssertEqual(
            String(decoding: rejection.body(requestID: "r1"), as: UTF8.self),
            #"{"error":"Rate limit exceeded","request_id":"r1"}"#)
        let event = try XCTUnwrap(rejection.securityEvent)
        let line = String(decoding: LogFormat.line(event, timestampMillis: 0), as: UTF8.self)
        XCTAssertTrue(line.contains(#""event_type":"security""#), line)
        XCTAssertTrue(line.contains(#""severity":"low""#), line)
        XCTAssertTrue(line.contains(#""kind":"rate_limited","scope":"ip","limit":1,"retry_after":2"#), line)
        XCTAssertTrue(line.contains(#""ip_address":"203.0.113.9""#), line)

        let tool = decision.rejection(
            subject: .tool(principal: "ci-bot", tool: "expensive"), ipAddress: nil, userAgent: nil, requestID: "r2")
        let toolLine = String(
            decoding: LogFormat.line(try XCTUnwrap(tool.securityEvent), timestampMillis: 0), as: UTF8.self)
        XCTAssertTrue(toolLine.contains(#""scope":"tool","principal":"ci-bot","tool":"expensive""#), toolLine)
        let principal = decision.rejection(subject: .principal("alice"), ipAddress: nil, userAgent: nil, requestID: nil)
        let principalLine = String(
            decoding: LogFormat.line(try XCTUnwrap(principal.securityEvent), timestampMillis: 0), as: UTF8.self)
        XCTAssertTrue(principalLine.contains(#""scope":"principal","principal":"alice","limit""#), principalLine)
        XCTAssertEqual(RateLimitSubject.principal("x").scope, "principal")
    }
}

/// A thread-safe tally for the concurrency tests.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0

    func add(_ n: Int) {
        lock.lock()
        total += n
        lock.unlock()
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return total
    }
}
