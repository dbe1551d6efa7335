import Foundation
import Glibc
import XCTest

@testable import GatehousePosix

final class LogWriterTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "gatehouse-logwriter-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func lines(of path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    private func line(_ text: String) -> [UInt8] { Array((text + "\n").utf8) }

    func testWritesToFileAndFlushes() throws {
        let path = directory + "/security.log"
        let writer = try LogWriter(destination: .file(path))
        for i in 0..<100 { writer.write(line("{\"n\":\(i)}")) }
        writer.write([])
        writer.flush()
        XCTAssertEqual(try lines(of: path), (0..<100).map { "{\"n\":\($0)}" })
        XCTAssertEqual(writer.droppedLines, 0)
        XCTAssertEqual(writer.queuedBytes, 0)
        writer.close()
        // Writes after close are dropped and counted, and closing twice is harmless.
        writer.write(line("late"))
        XCTAssertEqual(writer.droppedLines, 1)
        writer.close()
        XCTAssertEqual(try lines(of: path).count, 100)
    }

    func testAppendsToExistingFile() throws {
        let path = directory + "/access.log"
        try "old\n".write(toFile: path, atomically: false, encoding: .utf8)
        let writer = try LogWriter(destination: .file(path))
        writer.write(line("new"))
        writer.close()
        XCTAssertEqual(try lines(of: path), ["old", "new"])
    }

    func testCloseWritesWhatIsQueued() throws {
        let path = directory + "/q.log"
        let writer = try LogWriter(destination: .file(path))
        for i in 0..<1000 { writer.write(line("line \(i)")) }
        writer.close()
        XCTAssertEqual(try lines(of: path).count, 1000)
    }

    func testReopenAfterRename() throws {
        let path = directory + "/gatehouse.log"
        let rotated = directory + "/gatehouse.log.1"
        let writer = try LogWriter(destination: .file(path))
        writer.write(line("before"))
        writer.flush()
        XCTAssertEqual(rename(path, rotated), 0)
        // Still written to the renamed file: the descriptor follows the inode.
        writer.write(line("after rename"))
        writer.reopen()
        writer.write(line("after reopen"))
        writer.flush()
        XCTAssertEqual(try lines(of: rotated), ["before", "after rename"])
        XCTAssertEqual(try lines(of: path), ["after reopen"])
        writer.reopen()
        writer.reopen()
        writer.write(line("again"))
        writer.close()
        XCTAssertEqual(try lines(of: path), ["after reopen", "again"])
    }

    func testReopenFailureKeepsTheOldFile() throws {
        let sub = directory + "/sub"
        XCTAssertEqual(mkdir(sub, 0o755), 0)
        let path = sub + "/x.log"
        let writer = try LogWriter(destination: .file(path))
        writer.write(line("one"))
        writer.flush()
        XCTAssertEqual(rename(path, directory + "/moved.log"), 0)
        XCTAssertEqual(rmdir(sub), 0)
        writer.reopen()  // the directory is gone: the reopen fails, logging goes on in the old file
        writer.write(line("two"))
        writer.close()
        XCTAssertEqual(try lines(of: directory + "/moved.log"), ["one", "two"])
        XCTAssertEqual(writer.droppedLines, 0)
    }

    func testUnopenableFileThrows() {
        XCTAssertThrowsError(try LogWriter(destination: .file(directory + "/missing/dir/x.log"))) { error in
            XCTAssertTrue("\(error)".contains("open"), "\(error)")
        }
        XCTAssertThrowsError(try LogWriter(destination: .file(directory)))
    }

    func testOffWritesNothing() throws {
        let writer = try LogWriter(destination: .off)
        writer.write(line("x"))
        writer.flush()
        XCTAssertTrue(writer.flush(timeoutMilliseconds: 10))
        writer.reopen()
        XCTAssertEqual(writer.droppedLines, 0)
        writer.close()
    }

    func testDestinationFromConfig() {
        XCTAssertEqual(LogDestination(configValue: "stdout"), .stdout)
        XCTAssertEqual(LogDestination(configValue: "stderr"), .stderr)
        XCTAssertEqual(LogDestination(configValue: "off"), .off)
        XCTAssertEqual(LogDestination(configValue: "/var/log/g.log"), .file("/var/log/g.log"))
    }

    func testLineLargerThanCapacityIsDropped() throws {
        let path = directory + "/small.log"
        let writer = try LogWriter(destination: .file(path), capacityBytes: 16)
        writer.write(line(String(repeating: "x", count: 100)))
        writer.write(line("ok"))
        writer.close()
        XCTAssertEqual(writer.droppedLines, 1)
        let written = try lines(of: path)
        XCTAssertTrue(written.contains("ok"))
        XCTAssertFalse(written.contains { $0.contains("xxxx") })
        let notices = written.filter { $0.contains("log_dropped") }
        XCTAssertEqual(notices.count, 1)
        let notice = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(notices[0].utf8)) as? [String: Any])
        XCTAssertEqual(notice["event_type"] as? String, "log_dropped")
        XCTAssertEqual(notice["dropped"] as? Int, 1)
        XCTAssertNotNil((notice["timestamp"] as? String)?.hasSuffix("Z"))
    }

    /// A stalled consumer (a FIFO nobody reads) fills the pipe; the writer thread blocks, the buffer fills,
    /// and further lines are dropped and counted — `write` itself never waits. Once the consumer reads
    /// again, the queued lines and a `log_dropped` line with the exact count arrive.
    func testStalledConsumerDropsAndCounts() throws {
        let path = directory + "/fifo"
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        let reader = open(path, O_RDONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(reader, 0)
        defer { Glibc.close(reader) }
        // Fill the pipe first through a second write end, so the writer thread blocks on its first write.
        let filler = open(path, O_WRONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(filler, 0)
        let chunk = Array(String(repeating: "filler\n", count: 512).utf8)
        while chunk.withUnsafeBytes({ Glibc.write(filler, $0.baseAddress, $0.count) }) > 0 {}
        Glibc.close(filler)
        let writer = try LogWriter(destination: .file(path), capacityBytes: 4096)

        let payload = String(repeating: "p", count: 200)
        var sent = 0
        let start = Date()
        for _ in 0..<100 {
            writer.write(line("{\"n\":\(sent),\"p\":\"\(payload)\"}"))
            sent += 1
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1, "write blocked")
        // At most two buffers were accepted: the one the writer thread took and the one refilled behind it.
        XCTAssertGreaterThanOrEqual(writer.droppedLines, 100 - 2 * 4096 / 200)
        let dropped = writer.droppedLines
        XCTAssertFalse(writer.flush(timeoutMilliseconds: 50), "flush cannot finish while the consumer is stalled")

        // Read everything the writer manages to write, until we have seen every line or a deadline.
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(20)
        var dataLines = 0
        var reported = 0
        while Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(reader, $0.baseAddress, $0.count) }
            if n > 0 {
                received.append(contentsOf: buffer[0..<n])
                let text = String(decoding: received, as: UTF8.self)
                let all = text.split(separator: "\n")
                dataLines = all.filter { $0.hasPrefix("{\"n\":") }.count
                reported = all.filter { $0.contains("log_dropped") }.map { line -> Int in
                    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    return object?["dropped"] as? Int ?? -1
                }.reduce(0, +)
                if dataLines + reported == sent && writer.queuedBytes == 0 { break }
            } else {
                usleep(2000)
            }
        }
        XCTAssertTrue(writer.flush(timeoutMilliseconds: 5000))
        XCTAssertEqual(UInt64(reported), writer.droppedLines)
        XCTAssertGreaterThanOrEqual(writer.droppedLines, dropped)
        XCTAssertEqual(dataLines + reported, sent, "every line is either written or counted")
        // The lines that did arrive are whole and in order.
        let numbers = String(decoding: received, as: UTF8.self).split(separator: "\n")
            .filter { $0.hasPrefix("{\"n\":") }
            .map { line -> Int in
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return object?["n"] as? Int ?? -1
            }
        XCTAssertFalse(numbers.contains(-1))
        XCTAssertEqual(numbers, numbers.sorted())
        writer.close()
    }

    func testManyThreadsWriteWholeLines() throws {
        let path = directory + "/threads.log"
        let writer = try LogWriter(destination: .file(path))
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<2000 { writer.write(Array("{\"t\":\(thread),\"i\":\(i)}\n".utf8)) }
        }
        writer.close()
        let written = try lines(of: path)
        XCTAssertEqual(written.count, 16000)
        var next = [Int](repeating: 0, count: 8)
        for text in written {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int])
            let t = try XCTUnwrap(object["t"])
            XCTAssertEqual(object["i"], next[t], "lines of one thread stay in order")
            next[t] += 1
        }
    }

    func testDroppedNoticeFormat() {
        let notice = String(decoding: LogWriter.droppedNotice(7, epochMilliseconds: 1_795_774_034_275), as: UTF8.self)
        XCTAssertEqual(notice, "{\"event_type\":\"log_dropped\",\"dropped\":7,\"timestamp\":\"2026-11-27T10:07:14.275Z\"}\n")
        XCTAssertEqual(String(decoding: LogWriter.timestamp(0), as: UTF8.self), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(String(decoding: LogWriter.timestamp(951_782_400_001), as: UTF8.self), "2000-02-29T00:00:00.001Z")
        XCTAssertEqual(String(decoding: LogWriter.timestamp(-1), as: UTF8.self), "1969-12-31T23:59:59.999Z")
    }
}
