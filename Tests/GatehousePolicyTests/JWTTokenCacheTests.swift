import Foundation
import XCTest

@testable import GatehousePolicy

final class JWTTokenCacheTests: XCTestCase {
    private func principal(_ name: String) -> Principal { Principal(name: name, kind: .jwt, permissions: ["p"]) }

    func testHitUntilExpiry() {
        let cache = TokenCache(capacity: 8)
        XCTAssertNil(cache.lookup(token: "t1", now: 0))
        cache.insert(token: "t1", principal: principal("a"), expiresAt: 100)
        XCTAssertEqual(cache.lookup(token: "t1", now: 0), principal("a"))
        XCTAssertEqual(cache.lookup(token: "t1", now: 99), principal("a"))
        XCTAssertNil(cache.lookup(token: "t1", now: 100))
        XCTAssertNil(cache.lookup(token: "t1", now: 1_000))
        XCTAssertNil(cache.lookup(token: "t2", now: 0))
        XCTAssertNil(cache.lookup(token: "t1 ", now: 0))
    }

    func testReinsertUpdatesWithoutGrowing() {
        let cache = TokenCache(capacity: 4, shards: 1)
        cache.insert(token: "t", principal: principal("a"), expiresAt: 10)
        cache.insert(token: "t", principal: principal("b"), expiresAt: 20)
        XCTAssertEqual(cache.count, 1)
        XCTAssertEqual(cache.lookup(token: "t", now: 15), principal("b"))
    }

    func testOldestInsertionIsEvictedFirst() {
        let cache = TokenCache(capacity: 3, shards: 1)
        XCTAssertEqual(cache.capacity, 3)
        for i in 0..<3 { cache.insert(token: "t\(i)", principal: principal("\(i)"), expiresAt: 100) }
        XCTAssertEqual(cache.count, 3)
        cache.insert(token: "t3", principal: principal("3"), expiresAt: 100)
        XCTAssertEqual(cache.count, 3)
        XCTAssertNil(cache.lookup(token: "t0", now: 0))
        XCTAssertEqual(cache.lookup(token: "t1", now: 0), principal("1"))
        cache.insert(token: "t4", principal: principal("4"), expiresAt: 100)
        cache.insert(token: "t5", principal: principal("5"), expiresAt: 100)
        XCTAssertNil(cache.lookup(token: "t1", now: 0))
        XCTAssertNil(cache.lookup(token: "t2", now: 0))
        XCTAssertEqual(["t3", "t4", "t5"].compactMap { cache.lookup(token: $0, now: 0)?.name }, ["3", "4", "5"])
        // The ring wraps correctly for many rounds.
        for i in 6..<100 { cache.insert(token: "t\(i)", principal: principal("\(i)"), expiresAt: 100) }
        XCTAssertEqual(cache.count, 3)
        XCTAssertEqual((0..<100).compactMap { cache.lookup(token: "t\($0)", now: 0)?.name }, ["97", "98", "99"])
    }

    func testExpiredEntriesAreNeverReturnedAndEventuallyEvicted() {
        let cache = TokenCache(capacity: 2, shards: 1)
        cache.insert(token: "old", principal: principal("old"), expiresAt: 10)
        cache.insert(token: "new", principal: principal("new"), expiresAt: 1_000)
        XCTAssertNil(cache.lookup(token: "old", now: 10))
        cache.insert(token: "newer", principal: principal("newer"), expiresAt: 1_000)
        XCTAssertEqual(cache.count, 2)
        XCTAssertEqual(cache.lookup(token: "new", now: 10), principal("new"))
        XCTAssertEqual(cache.lookup(token: "newer", now: 10), principal("newer"))
    }

    func testCapacityIsABoundAcrossShards() {
        let cache = TokenCache(capacity: 100, shards: 16)
        XCTAssertGreaterThanOrEqual(cache.capacity, 100)
        XCTAssertLessThan(cache.capacity, 100 + 16)
        for i in 0..<5_000 { cache.insert(token: "token-\(i)", principal: principal("\(i)"), expiresAt: 100) }
        XCTAssertLessThanOrEqual(cache.count, cache.capacity)
        XCTAssertGreaterThan(cache.count, 50)
        // The most recent insertion is always still there.
        XCTAssertEqual(cache.lookup(token: "token-4999", now: 0), principal("4999"))
        cache.removeAll()
        XCTAssertEqual(cache.count, 0)
        XCTAssertNil(cache.lookup(token: "token-4999", now: 0))
    }

    func testTinyCapacities() {
        let cache = TokenCache(capacity: 0)
        XCTAssertEqual(cache.capacity, 1)
        cache.insert(token: "a", principal: principal("a"), expiresAt: 5)
        cache.insert(token: "b", principal: principal("b"), expiresAt: 5)
        XCTAssertEqual(cache.count, 1)
        XCTAssertEqual(cache.lookup(token: "b", now: 0), principal("b"))
        XCTAssertEqual(TokenCache(capacity: 5, shards: 64).capacity, 5)
    }

    func testConcurrentUse() {
        let cache = TokenCache(capacity: 256)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<2_000 {
                let token = "w\(worker)-\(i % 50)"
                if let found = cache.lookup(token: token, now: 0) {
                    XCTAssertEqual(found.name, token)
                } else {
                    cache.insert(
                        token: token, principal: Principal(name: token, kind: .jwt, permissions: []), expiresAt: 10)
                }
            }
        }
        XCTAssertLessThanOrEqual(cache.count, cache.capacity)
    }

    /// The cache in front of the verifier: a hit needs no signature check and ends at `exp`.
    func testWithTheVerifier() throws {
        let document = try JWTFixtures.load()
        let clock = ManualClock(nowSeconds: document.now)
        let verifier = try JWTFixtures.verifier(document, clock: clock)
        let cache = TokenCache(capacity: 16)
        let token = document.vector("valid-RS256").token
        XCTAssertNil(cache.lookup(token: token, now: clock.nowSeconds))
        guard case .valid(let principal, let expiresAt) = verifier.verify(token) else { return XCTFail() }
        cache.insert(token: token, principal: principal, expiresAt: expiresAt)
        XCTAssertEqual(cache.lookup(token: token, now: clock.nowSeconds), principal)
        clock.nowSeconds = expiresAt - 1
        XCTAssertEqual(cache.lookup(token: token, now: clock.nowSeconds), principal)
        clock.nowSeconds = expiresAt
        XCTAssertNil(cache.lookup(token: token, now: clock.nowSeconds))
    }
}

final class JWTClockTests: XCTestCase {
    func testManualClock() {
        let clock = ManualClock(nowSeconds: 100)
        XCTAssertEqual(clock.nowSeconds, 100)
        clock.advance(by: 5)
        XCTAssertEqual(clock.nowSeconds, 105)
        clock.advance(by: -10)
        XCTAssertEqual(clock.nowSeconds, 95)
        clock.nowSeconds = 7
        XCTAssertEqual(clock.nowSeconds, 7)
    }

    func testSystemClockIsWallTime() {
        let now = Int64(Date().timeIntervalSince1970)
        XCTAssertLessThanOrEqual(abs(SystemClock().nowSeconds - now), 2)
        let clock: any GatehousePolicy.Clock = SystemClock()
        XCTAssertGreaterThan(clock.nowSeconds, 1_700_000_000)
    }
}
