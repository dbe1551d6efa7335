import XCTest

@testable import GatehouseHTTP

/// Server-Sent Events framing: line endings, fields, and the same events however the bytes arrive.
final class SSEParserTests: XCTestCase {
    /// Feeds `input` whole, byte by byte and in random splits; all must give the same events and raws,
    /// and every raw plus the pending bytes must be the input.
    @discardableResult
    private func verify(_ input: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [(
        event: SSEEvent, raw: [UInt8]
    )] {
        var reference: [(event: SSEEvent, raw: [UInt8])]?
        for plan in ParserVerifier.plans(for: input.count) {
            var parser = SSEParser()
            var events: [(event: SSEEvent, raw: [UInt8])] = []
            var offset = 0
            for size in plan.sizes {
                events += parser.feed(input[offset..<(offset + size)])
                offset += size
            }
            XCTAssertEqual(
                events.flatMap(\.raw) + parser.pendingBytes, input, "\(plan.name): bytes lost", file: file, line: line)
            XCTAssertEqual(parser.pendingByteCount, parser.pendingBytes.count, file: file, line: line)
            if let reference {
                XCTAssertEqual(
                    events.map(\.event), reference.map(\.event), "\(plan.name) disagrees", file: file, line: line)
                XCTAssertEqual(
                    events.map(\.raw), reference.map(\.raw), "\(plan.name) disagrees", file: file, line: line)
            } else {
                reference = events
            }
        }
        return reference ?? []
    }

    func testLFEvents() {
        let events = verify(bytes("event: message\ndata: {\"jsonrpc\":\"2.0\"}\nid: 7\n\ndata: second\n\n"))
        XCTAssertEqual(
            events.map(\.event),
            [
                SSEEvent(event: "message", data: "{\"jsonrpc\":\"2.0\"}", id: "7"), SSEEvent(data: "second"),
            ])
        XCTAssertEqual(
            events.map(\.raw),
            [bytes("event: message\ndata: {\"jsonrpc\":\"2.0\"}\nid: 7\n\n"), bytes("data: second\n\n")])
    }

    func testCRLFEvents() {
        // sse-starlette (the MCP Python SDK's server) ends lines with CRLF.
        let events = verify(bytes("event: message\r\ndata: a\r\n\r\n: ping - 2026-11-27\r\n\r\ndata: b\r\n\r\n"))
        XCTAssertEqual(
            events.map(\.event),
            [
                SSEEvent(event: "message", data: "a"), SSEEvent(isCommentOnly: true), SSEEvent(data: "b"),
            ])
        XCTAssertEqual(events[1].raw, bytes(": ping - 2026-11-27\r\n\r\n"))
    }

    func testCREvents() {
        let input = bytes("data: a\r\rdata: b\r\r")
        let events = verify(input)
        // The last event's final CR may still be half of a CRLF: it waits for the next byte.
        XCTAssertEqual(events.map(\.event), [SSEEvent(data: "a")])
        var parser = SSEParser()
        XCTAssertEqual(parser.feed(input).count, 1)
        XCTAssertEqual(parser.pendingBytes, bytes("data: b\r\r"))
        let more = parser.feed(bytes("data: c\n\n"))
        XCTAssertEqual(more.map(\.event), [SSEEvent(data: "b"), SSEEvent(data: "c")])
        XCTAssertEqual(more.map(\.raw), [bytes("data: b\r\r"), bytes("data: c\n\n")])
    }

    func testMixedLineEndings() {
        let events = verify(bytes("data: 1\rdata: 2\ndata: 3\r\n\n"))
        XCTAssertEqual(events.map(\.event), [SSEEvent(data: "1\n2\n3")])
    }

    func testMultiLineDataAndFieldSyntax() {
        let events = verify(bytes("data: line one\ndata:line two\ndata\ndata:  indented\n\n"))
        XCTAssertEqual(events.first?.event.data, "line one\nline two\n\n indented")
    }

    func testCommentsOnly() {
        let events = verify(bytes(":keep-alive\n\n: another\n:\n\n"))
        XCTAssertEqual(events.map(\.event), [SSEEvent(isCommentOnly: true), SSEEvent(isCommentOnly: true)])
    }

    func testCommentsBetweenFields() {
        let events = verify(bytes("data: a\n: note\ndata: b\n\n"))
        XCTAssertEqual(events.map(\.event), [SSEEvent(data: "a\nb")])
    }

    func testIdAndRetry() {
        let events = verify(
            bytes("id: 42\nretry: 3000\ndata: x\n\nid: a\u{0}b\nretry: 12x\ndata: y\n\nid\ndata: z\n\n"))
        XCTAssertEqual(
            events.map(\.event),
            [
                SSEEvent(data: "x", id: "42", retry: 3000),
                SSEEvent(data: "y"),
                SSEEvent(data: "z", id: ""),
            ])
    }

    func testIdWithoutDataIsReturnedForPassThrough() {
        let events = verify(bytes("id: 9\n\n"))
        XCTAssertEqual(events.map(\.event), [SSEEvent(id: "9")])
    }

    func testUnknownFieldsAndStrayEmptyLines() {
        let events = verify(bytes("\n\nfoo: bar\n\ndata: x\n\n"))
        XCTAssertEqual(
            events.map(\.event),
            [
                SSEEvent(isCommentOnly: true), SSEEvent(isCommentOnly: true), SSEEvent(isCommentOnly: true),
                SSEEvent(data: "x"),
            ])
        XCTAssertEqual(events.map(\.raw), [bytes("\n"), bytes("\n"), bytes("foo: bar\n\n"), bytes("data: x\n\n")])
    }

    func testEventTypeAndCaseSensitiveNames() {
        let events = verify(bytes("event: endpoint\ndata: /messages?session_id=1\n\nDATA: ignored\nEvent: no\n\n"))
        XCTAssertEqual(
            events.map(\.event),
            [
                SSEEvent(event: "endpoint", data: "/messages?session_id=1"), SSEEvent(isCommentOnly: true),
            ])
    }

    func testByteOrderMarkAtStreamStart() {
        let events = verify([0xEF, 0xBB, 0xBF] + bytes("data: a\n\n") + [0xEF, 0xBB, 0xBF] + bytes("data: b\n\n"))
        XCTAssertEqual(events.map(\.event.data), ["a", ""])
        XCTAssertEqual(events.first?.raw, [0xEF, 0xBB, 0xBF] + bytes("data: a\n\n"))
    }

    func testUTF8SplitAcrossFeeds() {
        let events = verify(bytes("data: café ☕ 😀\n\n"))
        XCTAssertEqual(events.first?.event.data, "café ☕ 😀")
    }

    func testIncompleteEventIsPending() {
        var parser = SSEParser()
        XCTAssertTrue(parser.feed(bytes("data: partial\n")).isEmpty)
        XCTAssertEqual(parser.pendingBytes, bytes("data: partial\n"))
        let events = parser.feed(bytes("\n"))
        XCTAssertEqual(events.map(\.event), [SSEEvent(data: "partial")])
        XCTAssertEqual(parser.pendingBytes, [])
    }

    func testLongStream() {
        var input: [UInt8] = []
        for i in 0..<200 {
            input += bytes(i % 3 == 0 ? ": ping\r\n\r\n" : "event: message\r\nid: \(i)\r\ndata: {\"n\":\(i)}\r\n\r\n")
        }
        let events = verify(input)
        XCTAssertEqual(events.count, 200)
        XCTAssertEqual(events.last?.event, SSEEvent(event: "message", data: "{\"n\":199}", id: "199"))
    }
}
