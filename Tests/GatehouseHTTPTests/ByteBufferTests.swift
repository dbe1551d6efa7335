import XCTest

@testable import GatehouseHTTP

final class ByteBufferTests: XCTestCase {
    func testWriteAndRead() {
        var buffer = ByteBuffer()
        XCTAssertTrue(buffer.isEmpty)
        buffer.writeString("hello ")
        buffer.writeBytes([0x77, 0x6F])
        buffer.writeBytes("rld".utf8)
        XCTAssertEqual(buffer.readableBytes, 11)
        XCTAssertEqual(Array(buffer.readableBytesView), bytes("hello world"))
        buffer.moveReaderIndex(forwardBy: 6)
        XCTAssertEqual(Array(buffer.readableBytesView), bytes("world"))
        XCTAssertEqual(buffer.withUnsafeReadableBytes { Array($0) }, bytes("world"))
        buffer.moveReaderIndex(forwardBy: 5)
        XCTAssertTrue(buffer.isEmpty)
    }

    func testNonContiguousCollection() {
        var buffer = ByteBuffer()
        buffer.writeBytes((0..<300).lazy.map { UInt8($0 % 256) })
        XCTAssertEqual(buffer.readableBytes, 300)
        XCTAssertEqual(buffer.readableBytesView.last, 43)
    }

    func testRecvStyleWrites() {
        var buffer = ByteBuffer(capacity: 4)
        let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 100) { region -> Int in
            XCTAssertGreaterThanOrEqual(region.count, 100)
            region.copyBytes(from: [1, 2, 3])
            return 3
        }
        XCTAssertEqual(n, 3)
        XCTAssertEqual(Array(buffer.readableBytesView), [1, 2, 3])
        XCTAssertEqual(buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { _ in 0 }, 0)
        XCTAssertEqual(buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { _ in -11 }, -11)
        XCTAssertEqual(buffer.readableBytes, 3)
        struct Failure: Error {}
        XCTAssertThrowsError(try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { _ in throw Failure() })
        XCTAssertEqual(buffer.readableBytes, 3)
    }

    func testCompactionReusesStorage() {
        var buffer = ByteBuffer(capacity: 64)
        buffer.writeBytes(Array(repeating: 1, count: 60))
        buffer.moveReaderIndex(forwardBy: 50)
        // 10 unread bytes; 40 more fit once the 50 read ones are reclaimed, without growing.
        buffer.writeBytes(Array(repeating: 2, count: 40))
        XCTAssertEqual(buffer.capacity, 64)
        XCTAssertEqual(buffer.readableBytes, 50)
        XCTAssertEqual(Array(buffer.readableBytesView), Array(repeating: 1, count: 10) + Array(repeating: 2, count: 40))
    }

    func testGrowthKeepsUnreadBytes() {
        var buffer = ByteBuffer(capacity: 8)
        buffer.writeString("abcdefgh")
        buffer.moveReaderIndex(forwardBy: 2)
        buffer.writeString(String(repeating: "z", count: 100))
        XCTAssertEqual(Array(buffer.readableBytesView), bytes("cdefgh" + String(repeating: "z", count: 100)))
        XCTAssertGreaterThanOrEqual(buffer.capacity, 106)
    }

    func testReadingEverythingResetsIndices() {
        var buffer = ByteBuffer(capacity: 16)
        buffer.writeString("0123456789")
        buffer.moveReaderIndex(forwardBy: 10)
        XCTAssertEqual(buffer.writableBytes, 16)
    }

    func testClearKeepsCapacity() {
        var buffer = ByteBuffer(capacity: 1000)
        buffer.writeString("x")
        buffer.clear()
        XCTAssertTrue(buffer.isEmpty)
        XCTAssertEqual(buffer.capacity, 1000)
    }

    func testDiscardReadBytes() {
        var buffer = ByteBuffer(string: "abcdef")
        buffer.moveReaderIndex(forwardBy: 4)
        buffer.discardReadBytes()
        XCTAssertEqual(buffer.writableBytes, buffer.capacity - 2)
        XCTAssertEqual(Array(buffer.readableBytesView), bytes("ef"))
    }

    func testSlicesSurviveLaterWrites() {
        var buffer = ByteBuffer(capacity: 8)
        buffer.writeString("abcdefgh")
        let slice = buffer.readSlice(length: 4)
        buffer.writeString("12345678")  // compacts or grows: copy-on-write keeps the slice intact
        buffer.discardReadBytes()
        XCTAssertEqual(Array(slice), bytes("abcd"))
        XCTAssertEqual(Array(buffer.readableBytesView), bytes("efgh12345678"))
    }

    func testViewIndicesAreStoragePositions() {
        var buffer = ByteBuffer(string: "xyz")
        buffer.moveReaderIndex(forwardBy: 1)
        let view = buffer.readableBytesView
        XCTAssertEqual(view.startIndex, 1)
        XCTAssertEqual(view[view.startIndex], UInt8(ascii: "y"))
    }
}
