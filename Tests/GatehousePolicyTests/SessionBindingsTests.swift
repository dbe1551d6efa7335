import XCTest

@testable import GatehousePolicy

/// §6.6 session binding: ownership, expiry, eviction, concurrency.
final class SessionBindingsTests: XCTestCase {
    func testOwnerAndOthers() {
        let bindings = SessionBindings(clock: ManualClock(nowSeconds: 1000))
        XCTAssertTrue(bindings.check(session: "s1", principal: "bob"))  // unknown passes
        XCTAssertTrue(bindings.bind(session: "s1", principal: "alice"))
        XCTAssertTrue(bindings.check(session: "s1", principal: "alice"))
        XCTAssertFalse(bindings.check(session: "s1", principal: "bob"))
        XCTAssertEqual(bindings.owner(of: "s1"), "alice")
        // The first holder keeps the session.
        XCTAssertFalse(bindings.bind(session: "s1", principal: "bob"))
        XCTAssertTrue(bindings.bind(session: "s1", principal: "alice"))
        XCTAssertEqual(bindings.owner(of: "s1"), "alice")
        XCTAssertEqual(bindings.count, 1)
        bindings.remove(session: "s1")
        XCTAssertNil(bindings.owner(of: "s1"))
        XCTAssertTrue(bindings.check(session: "s1", principal: "bob"))
        XCTAssertEqual(bindings.count, 0)
    }

    func testIDsCompareByBytes() {
        let bindings = SessionBindings(clock: ManualClock(nowSeconds: 0))
        bindings.bind(session: "K1", principal: "alice")
        // U+212A KELVIN SIGN is canonically equivalent to "K" but a different session id.
        XCTAssertNil(bindings.owner(of: "\u{212A}1"))
        XCTAssertNil(bindings.owner(of: "k1"))
    }

    func testRefusesEmptyAndHugeIDs() {
        let bindings = SessionBindings(clock: ManualClock(nowSeconds: 0))
        XCTAssertFalse(bindings.bind(session: "", principal: "a"))
        XCTAssertFalse(bindings.bind(session: String(repeating: "x", count: 1025), principal: "a"))
        XCTAssertEqual(bindings.count, 0)
    }

    func testIdleExpiry() {
        let clock = ManualClock(nowSeconds: 0)
        let bindings = SessionBindings(idleTimeoutSeconds: 60, clock: clock)
        bindings.bind(session: "s", principal: "alice")
        clock.advance(by: 50)
        XCTAssertTrue(bindings.check(session: "s", principal: "alice"))  // use refreshes
        clock.advance(by: 50)
        XCTAssertFalse(bindings.check(session: "s", principal: "bob"))  // 50 s idle: still bound
        clock.advance(by: 61)
        XCTAssertNil(bindings.owner(of: "s"))
        XCTAssertTrue(bindings.check(session: "s", principal: "bob"))
        // A use by someone else does not keep the binding alive.
        bindings.bind(session: "t", principal: "alice")
        clock.advance(by: 40)
        XCTAssertFalse(bindings.check(session: "t", principal: "bob"))
        clock.advance(by: 40)
        XCTAssertNil(bindings.owner(of: "t"))
        // An expired binding can be bound by a new holder.
        bindings.bind(session: "u", principal: "alice")
        clock.advance(by: 100)
        XCTAssertTrue(bindings.bind(session: "u", principal: "bob"))
        XCTAssertEqual(bindings.owner(of: "u"), "bob")
    }

    func testLeastRecentlyUsedIsEvicted() {
        let clock = ManualClock(nowSeconds: 0)
        let bindings = SessionBindings(capacity: 3, clock: clock, shardCount: 1)
        bindings.bind(session: "a", principal: "p")
        bindings.bind(session: "b", principal: "p")
        bindings.bind(session: "c", principal: "p")
        XCTAssertTrue(bindings.check(session: "a", principal: "p"))  // a is now the most recent
        bindings.bind(session: "d", principal: "p")
        XCTAssertNil(bindings.owner(of: "b"))
        XCTAssertEqual(bindings.owner(of: "a"), "p")
        XCTAssertEqual(bindings.owner(of: "c"), "p")
        XCTAssertEqual(bindings.owner(of: "d"), "p")
        XCTAssertEqual(bindings.count, 3)
        // Expired entries leave before live ones.
        clock.advance(by: 10_000)
        bindings.bind(session: "e", principal: "q")
        XCTAssertEqual(bindings.count, 1)
    }

    func testBoundedUnderManySessions() {
        let bindings = SessionBindings(capacity: 1000, clock: ManualClock(nowSeconds: 0))
        for k in 0..<20_000 { bindings.bind(session: "s\(k)", principal: "p\(k % 7)") }
        XCTAssertLessThanOrEqual(bindings.count, 1000 + 16)
        XCTAssertEqual(bindings.owner(of: "s19999"), "p\(19999 % 7)")
        // Slots are reused: binding again after removals works.
        for k in 19_000..<20_000 { bindings.remove(session: "s\(k)") }
        for k in 0..<500 { bindings.bind(session: "n\(k)", principal: "x") }
        XCTAssertEqual(bindings.owner(of: "n499"), "x")
    }

    func testConcurrentUse() {
        let bindings = SessionBindings(capacity: 5000, clock: ManualClock(nowSeconds: 0))
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for k in 0..<2000 {
                let session = "w\(worker)-\(k)"
                XCTAssertTrue(bindings.bind(session: session, principal: "p\(worker)"))
                XCTAssertTrue(bindings.check(session: session, principal: "p\(worker)"))
                XCTAssertFalse(bindings.check(session: session, principal: "other"))
                if k % 3 == 0 { bindings.remove(session: session) }
            }
        }
        XCTAssertLessThanOrEqual(bindings.count, 5000 + 16)
    }
}
