import Glibc
import Synchronization
import XCTest

@testable import GatehousePosix

/// The event loop on a real thread: cross-thread tasks, timers, stop/join.
final class EventLoopTests: XCTestCase {
    func testExecuteRunsOnLoopAndTimersFire() throws {
        let loop = try EventLoop(index: 0)
        loop.start()
        let done = Mutex<[String]>([])
        let bound = UncheckedBox(loop)
        loop.execute {
            done.withLock { $0.append("task") }
            let t = LoopTimer { done.withLock { $0.append("timer") } }
            bound.value.arm(t, after: 30)
            bound.retained.append(t)
        }
        let deadline = monotonicMilliseconds() + 2000
        while done.withLock({ $0.count }) < 2 && monotonicMilliseconds() < deadline { usleep(5_000) }
        loop.stop()
        loop.join()
        XCTAssertEqual(done.withLock { $0 }, ["task", "timer"])
    }

    func testSocketPairReadiness() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds), 0)
        let loop = try EventLoop(index: 0)
        final class Reader: EventHandler, @unchecked Sendable {
            let fd: Int32
            let got = Mutex<[UInt8]>([])
            init(fd: Int32) { self.fd = fd }
            func handleEvent(_ events: UInt32) {
                var buf = [UInt8](repeating: 0, count: 64)
                let n = read(fd, &buf, 64)
                if n > 0 { got.withLock { $0.append(contentsOf: buf[0..<n]) } }
            }
        }
        let reader = Reader(fd: fds[0])
        loop.register(fds[0], readable: true, writable: false, handler: reader)
        loop.start()
        _ = write(fds[1], "ping", 4)
        let deadline = monotonicMilliseconds() + 2000
        while reader.got.withLock({ $0.count }) < 4 && monotonicMilliseconds() < deadline { usleep(5_000) }
        loop.stop()
        loop.join()
        XCTAssertEqual(reader.got.withLock { $0 }, Array("ping".utf8))
        close(fds[0])
        close(fds[1])
    }
}

/// Lets a test hand a loop (and keep timers alive) inside a Sendable task.
final class UncheckedBox: @unchecked Sendable {
    let value: EventLoop
    var retained: [LoopTimer] = []
    init(_ v: EventLoop) { value = v }
}
