import GatehouseHTTP
import XCTest

@testable import GatehouseServer

/// The RESP2 reply parser without sockets: every reply type, cut anywhere (byte at a time, random
/// chunks, all at once: the same replies), every refusal, and random input that must never trap.
final class RedisReplyParserTests: XCTestCase {
    /// Replies and what they decode to.
    private let corpus: [(String, RedisValue)] = [
        ("+OK\r\n", .simpleString("OK")),
        ("+\r\n", .simpleString("")),
        ("-ERR unknown command 'FOO'\r\n", .error("ERR unknown command 'FOO'")),
        ("-NOSCRIPT No matching script. Please use EVAL.\r\n", .error("NOSCRIPT No matching script. Please use EVAL.")),
        (":0\r\n", .integer(0)),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(Int64.max)),
        (":-9223372036854775808\r\n", .integer(Int64.min)),
        (":007\r\n", .integer(7)),
        ("$0\r\n\r\n", .bulkString([])),
        ("$5\r\nhello\r\n", .bulkString(Array("hello".utf8))),
        ("$6\r\na\r\nb\r\n\r\n", .bulkString(Array("a\r\nb\r\n".utf8))),
        ("$4\r\n\u{0}\u{1}\u{7f}+\r\n", .bulkString([0, 1, 0x7f, 0x2b])),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("*0\r\n", .array([])),
        (
            "*2\r\n:1\r\n$19\r\n0.59999999999999998\r\n",
            .array([.integer(1), .bulkString(Array("0.59999999999999998".utf8))])
        ),
        (
            "*3\r\n*2\r\n+a\r\n*0\r\n$-1\r\n*1\r\n*1\r\n-E x\r\n",
            .array([.array([.simpleString("a"), .array([])]), .null, .array([.array([.error("E x")])])])
        ),
        ("*2\r\n$3\r\nfoo\r\n*-1\r\n", .array([.bulkString(Array("foo".utf8)), .null])),
    ]

    private func decodeAll(_ bytes: [UInt8], chunks: [Int]? = nil) throws -> [RedisValue] {
        var parser = RedisReplyParser()
        var buffer = ByteBuffer()
        var values: [RedisValue] = []
        var offset = 0
        var chunkIndex = 0
        while offset < bytes.count {
            let size = chunks.map { $0[chunkIndex % $0.count] } ?? bytes.count
            chunkIndex += 1
            let end = min(bytes.count, offset + max(1, size))
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            while let value = try parser.next(&buffer) { values.append(value) }
        }
        XCTAssertTrue(buffer.isEmpty, "every byte consumed")
        XCTAssertTrue(parser.isIdle, "no partial reply left")
        return values
    }

    func testEveryReplyTypeWholeAndByteAtATime() throws {
        for (text, expected) in corpus {
            let bytes = Array(text.utf8)
            XCTAssertEqual(try decodeAll(bytes), [expected], "whole: \(text.debugDescription)")
            XCTAssertEqual(try decodeAll(bytes, chunks: [1]), [expected], "bytewise: \(text.debugDescription)")
        }
    }

    func testConcatenatedRepliesCutAnywhereGiveTheSameValues() throws {
        let all = corpus.flatMap { Array($0.0.utf8) }
        let expected = corpus.map(\.1)
        XCTAssertEqual(try decodeAll(all), expected)
        XCTAssertEqual(try decodeAll(all, chunks: [1]), expected)
        var generator = RedisSplitMix(seed: 7)
        for _ in 0..<200 {
            let chunks = (0..<5).map { _ in Int(generator.next() % 9) + 1 }
            XCTAssertEqual(try decodeAll(all, chunks: chunks), expected, "chunks \(chunks)")
        }
        // Every single cut point.
        for cut in 0...all.count {
            var parser = RedisReplyParser()
            var buffer = ByteBuffer(bytes: all[..<cut])
            var values: [RedisValue] = []
            while let value = try parser.next(&buffer) { values.append(value) }
            buffer.writeBytes(all[cut...])
            while let value = try parser.next(&buffer) { values.append(value) }
            XCTAssertEqual(values, expected, "cut at \(cut)")
        }
    }

    func testNeedsMoreUntilTheLastByte() throws {
        var parser = RedisReplyParser()
        var buffer = ByteBuffer()
        let bytes = Array("*2\r\n$3\r\nabc\r\n:5\r\n".utf8)
        for byte in bytes.dropLast() {
            buffer.writeInteger(byte)
            XCTAssertNil(try parser.next(&buffer))
        }
        XCTAssertFalse(parser.isIdle)
        buffer.writeInteger(bytes.last!)
        XCTAssertEqual(try parser.next(&buffer), .array([.bulkString(Array("abc".utf8)), .integer(5)]))
        XCTAssertTrue(parser.isIdle)
    }

    // MARK: Refusals

    private func assertRefused(
        _ text: String, limits: RedisReplyParser.Limits = RedisReplyParser.Limits(), _ fragment: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let bytes = Array(text.utf8)
        for chunks in [nil, [1]] as [[Int]?] {
            var parser = RedisReplyParser(limits: limits)
            var buffer = ByteBuffer()
            var thrown: RedisProtocolError?
            var offset = 0
            outer: while offset < bytes.count {
                let end = chunks == nil ? bytes.count : offset + 1
                buffer.writeBytes(bytes[offset..<end])
                offset = end
                do {
                    while try parser.next(&buffer) != nil {}
                } catch {
                    thrown = error
                    break outer
                }
            }
            guard let thrown else {
                XCTFail(
                    "\(text.debugDescription) was accepted (chunks \(String(describing: chunks)))", file: file,
                    line: line)
                continue
            }
            XCTAssertTrue(
                thrown.message.contains(fragment), "\(thrown.message) lacks \(fragment)", file: file, line: line)
        }
    }

    func testMalformedRepliesAreRefused() {
        assertRefused("?what\r\n", "unknown reply type")
        assertRefused("\r\n", "empty line")
        assertRefused(":12a\r\n", "malformed integer")
        assertRefused(":\r\n", "malformed integer")
        assertRefused(":-\r\n", "malformed integer")
        assertRefused(":+1\r\n", "malformed integer")
        assertRefused(":12345678901234567890\r\n", "malformed integer")
        assertRefused(":9223372036854775808\r\n", "out of range")
        assertRefused(":-9223372036854775809\r\n", "out of range")
        assertRefused("$-2\r\n", "negative bulk length")
        assertRefused("*-5\r\n", "negative array count")
        assertRefused("$3\r\nabcXY", "not followed by CRLF")
        assertRefused("+OK\rX", "CR not followed by LF")
        assertRefused("$x\r\n", "malformed integer")
    }

    func testLimitsAreEnforced() {
        var limits = RedisReplyParser.Limits()
        limits.maxLineLength = 16
        assertRefused("+" + String(repeating: "a", count: 40), limits: limits, "line longer")
        assertRefused("+" + String(repeating: "a", count: 20) + "\r\n", limits: limits, "line longer")
        limits = RedisReplyParser.Limits()
        limits.maxBulkLength = 10
        assertRefused("$11\r\n", limits: limits, "bulk string of 11 bytes")
        assertRefused("$99999999999\r\n", "bulk string of 99999999999 bytes")
        limits = RedisReplyParser.Limits()
        limits.maxArrayCount = 3
        assertRefused("*4\r\n", limits: limits, "array of 4 elements")
        limits = RedisReplyParser.Limits()
        limits.maxDepth = 2
        assertRefused("*1\r\n*1\r\n*1\r\n:1\r\n", limits: limits, "nested deeper than 2")
        limits = RedisReplyParser.Limits()
        limits.maxReplyBytes = 30
        assertRefused("*3\r\n$10\r\n0123456789\r\n$10\r\n", limits: limits, "larger than 30 bytes")
        assertRefused("*20\r\n" + String(repeating: ":1\r\n", count: 20), limits: limits, "larger than 30 bytes")
    }

    func testLimitsAllowWhatFitsExactly() throws {
        var limits = RedisReplyParser.Limits()
        limits.maxLineLength = 4
        limits.maxBulkLength = 3
        limits.maxArrayCount = 2
        limits.maxDepth = 2
        var parser = RedisReplyParser(limits: limits)
        var buffer = ByteBuffer(string: "+abc\r\n*2\r\n*2\r\n$3\r\nxyz\r\n:1\r\n:2\r\n")
        XCTAssertEqual(try parser.next(&buffer), .simpleString("abc"))
        XCTAssertEqual(
            try parser.next(&buffer), .array([.array([.bulkString(Array("xyz".utf8)), .integer(1)]), .integer(2)]))
    }

    /// The reply-size budget is per reply: many small replies in a row are fine.
    func testReplyBudgetResetsBetweenReplies() throws {
        var limits = RedisReplyParser.Limits()
        limits.maxReplyBytes = 8
        var parser = RedisReplyParser(limits: limits)
        var buffer = ByteBuffer(string: String(repeating: ":12\r\n", count: 100))
        var count = 0
        while try parser.next(&buffer) != nil { count += 1 }
        XCTAssertEqual(count, 100)
    }

    func testResetForgetsAPartialReply() throws {
        var parser = RedisReplyParser()
        var buffer = ByteBuffer(string: "*2\r\n:1\r\n")
        XCTAssertNil(try parser.next(&buffer))
        parser.reset()
        XCTAssertTrue(parser.isIdle)
        buffer.clear()
        buffer.writeString("+OK\r\n")
        XCTAssertEqual(try parser.next(&buffer), .simpleString("OK"))
    }

    /// Random bytes, and valid replies with bytes flipped, cut or inserted: the parser returns values or
    /// throws, and never traps or loops.
    func testRandomInputNeverTraps() {
        var generator = RedisSplitMix(seed: 42)
        let alphabet = Array("+-:$*\r\n0123456789-abc".utf8)
        let valid = corpus.map { Array($0.0.utf8) }
        var limits = RedisReplyParser.Limits()
        limits.maxBulkLength = 64
        limits.maxArrayCount = 16
        limits.maxReplyBytes = 512
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(generator.next() % 40)).map { _ in
                    alphabet[Int(generator.next() % UInt64(alphabet.count))]
                }
            } else {
                bytes = valid[Int(generator.next() % UInt64(valid.count))]
                for _ in 0..<Int(generator.next() % 3 + 1) where !bytes.isEmpty {
                    let i = Int(generator.next() % UInt64(bytes.count))
                    switch generator.next() % 3 {
                    case 0: bytes[i] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                    case 1: bytes.remove(at: i)
                    default: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: i)
                    }
                }
            }
            var parser = RedisReplyParser(limits: limits)
            var buffer = ByteBuffer()
            let step = Int(generator.next() % 4) + 1
            var offset = 0
            do {
                while offset < bytes.count {
                    let end = min(bytes.count, offset + step)
                    buffer.writeBytes(bytes[offset..<end])
                    offset = end
                    var produced = 0
                    while try parser.next(&buffer) != nil {
                        produced += 1
                        XCTAssertLessThan(produced, 10_000)
                    }
                }
            } catch {
                continue
            }
        }
    }

    // MARK: Requests

    func testCommandsAreArraysOfBulkStrings() {
        XCTAssertEqual(RedisCommand.encode(["PING"]), Array("*1\r\n$4\r\nPING\r\n".utf8))
        XCTAssertEqual(
            RedisCommand.encode(["SET", "k", ""]), Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".utf8))
        var buffer = ByteBuffer()
        let big = [UInt8](repeating: 0x41, count: 1234)
        RedisCommand.write([Array("ECHO".utf8), big, [13, 10]], into: &buffer)
        XCTAssertEqual(
            Array(buffer.readableBytesView),
            Array("*3\r\n$4\r\nECHO\r\n$1234\r\n".utf8) + big + Array("\r\n$2\r\n\r\n\r\n".utf8))
        // What the client writes, the parser reads back as an array of bulk strings.
        var parser = RedisReplyParser()
        XCTAssertEqual(
            try parser.next(&buffer),
            .array([.bulkString(Array("ECHO".utf8)), .bulkString(big), .bulkString([13, 10])]))
    }

    func testValueAccessors() {
        XCTAssertEqual(RedisValue.error("NOSCRIPT No matching script").errorCode, "NOSCRIPT")
        XCTAssertEqual(RedisValue.error("WRONGPASS").errorCode, "WRONGPASS")
        XCTAssertNil(RedisValue.simpleString("OK").errorCode)
        XCTAssertEqual(RedisValue.bulkString(Array("0.5".utf8)).text, "0.5")
        XCTAssertNil(RedisValue.bulkString([0xff]).text)
        XCTAssertEqual(RedisValue.simpleString("PONG").text, "PONG")
        XCTAssertNil(RedisValue.integer(1).text)
    }
}

/// A small deterministic generator (RedisSplitMix64) so random tests repeat exactly.
struct RedisSplitMix {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
