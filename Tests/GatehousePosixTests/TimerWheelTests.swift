import XCTest

@testable import GatehousePosix

/// The timer wheel driven by explicit times (no sleeping).
final class TimerWheelTests: XCTestCase {
    func testFiresAtDeadlineNotBefore() {
        let wheel = TimerWheel(now: 1_000)
        var fired = 0
        let t = LoopTimer { fired += 1 }
        wheel.arm(t, deadline: 1_250)
        wheel.advance(now: 1_240)
        XCTAssertEqual(fired, 0)
        wheel.advance(now: 1_250)
        XCTAssertEqual(fired, 1)
        XCTAssertFalse(t.isArmed)
        wheel.advance(now: 5_000)
        XCTAssertEqual(fired, 1, "a timer fires once")
    }

    /// A deadline inside a tick whose slot is visited before the deadline must still fire on the next
    /// advance, not one revolution later.
    func testDeadlineInsideATickVisitedEarly() {
        let wheel = TimerWheel(now: 1_000)
        var fired = false
        let t = LoopTimer { fired = true }
        wheel.arm(t, deadline: 1_035)
        wheel.advance(now: 1_031)
        XCTAssertFalse(fired)
        wheel.advance(now: 1_041)
        XCTAssertTrue(fired)
    }

    func testCancelAndRearm() {
        let wheel = TimerWheel(now: 0)
        var fired: [Int64] = []
        var t: LoopTimer!
        t = LoopTimer { fired.append(t.deadline) }
        wheel.arm(t, deadline: 100)
        wheel.cancel(t)
        wheel.advance(now: 200)
        XCTAssertEqual(fired, [])
        wheel.arm(t, deadline: 300)
        wheel.arm(t, deadline: 400)  // re-arming moves it
        wheel.advance(now: 350)
        XCTAssertEqual(fired, [])
        wheel.advance(now: 400)
        XCTAssertEqual(fired, [400])
        XCTAssertEqual(wheel.count, 0)
    }

    func testTimersBeyondOneRevolution() {
        let wheel = TimerWheel(now: 0)
        let span = TimerWheel.tickMilliseconds * Int64(TimerWheel.slotCount)
        var fired = false
        let t = LoopTimer { fired = true }
        wheel.arm(t, deadline: span * 3 + 5)
        var now: Int64 = 0
        while now < span * 3 {
            now += 500
            wheel.advance(now: now)
            if now < span * 3 + 5 { XCTAssertFalse(fired, "fired early at \(now)") }
        }
        wheel.advance(now: span * 3 + 10)
        XCTAssertTrue(fired)
    }

    func testCancellingAnotherDueTimerInsideACallback() {
        let wheel = TimerWheel(now: 0)
        var log: [String] = []
        var b: LoopTimer!
        let a = LoopTimer {
            log.append("a")
            wheel.cancel(b)
        }
        b = LoopTimer { log.append("b") }
        wheel.arm(a, deadline: 50)
        wheel.arm(b, deadline: 50)
        wheel.advance(now: 60)
        XCTAssertTrue(log == ["a"] || log == ["b", "a"], "\(log)")
    }

    func testNextTickHint() {
        let wheel = TimerWheel(now: 0)
        XCTAssertEqual(wheel.millisecondsUntilNextTick(now: 0), -1)
        let t = LoopTimer {}
        wheel.arm(t, deadline: 230)
        let hint = wheel.millisecondsUntilNextTick(now: 0)
        XCTAssertTrue((220...240).contains(hint), "\(hint)")
    }

    func testManyTimersFireInOneAdvance() {
        let wheel = TimerWheel(now: 0)
        var count = 0
        let timers = (0..<1000).map { _ in LoopTimer { count += 1 } }
        for (i, t) in timers.enumerated() { wheel.arm(t, deadline: Int64(i % 97) * 7 + 1) }
        wheel.advance(now: 10_000)
        XCTAssertEqual(count, 1000)
        XCTAssertEqual(wheel.count, 0)
    }
}
