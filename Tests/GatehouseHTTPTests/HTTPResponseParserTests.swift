import XCTest

@testable import GatehouseHTTP

/// The upstream response parser, every case parsed whole, byte by byte and in random splits.
final class HTTPResponseParserTests: XCTestCase {
    private func heads(_ parts: [HTTPResponsePart]) -> [HTTPResponseHead] {
        parts.compactMap { if case .head(let h) = $0 { h } else { nil } }
    }

    private func bodies(_ parts: [HTTPResponsePart]) -> [[UInt8]] {
        parts.compactMap { if case .body(let b) = $0 { Array(b) } else { nil } }
    }

    private func assertRefused(
        _ text: String, methods: [String] = [], finish: Bool = false, smuggling: Bool = false,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let outcome = ParserVerifier.verifyResponses(
            bytes(text), methods: methods, finish: finish, file: file, line: line)
        guard let error = outcome.error else { return XCTFail("accepted: \(outcome.parts)", file: file, line: line) }
        XCTAssertEqual(error.kind, .badResponse, file: file, line: line)
        XCTAssertEqual(error.status, 502, file: file, line: line)
        XCTAssertEqual(error.isSmuggling, smuggling, "\(error)", file: file, line: line)
    }

    func testContentLength() {
        let outcome = ParserVerifier.verifyResponses(
            bytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(
            heads(outcome.parts),
            [
                HTTPResponseHead(
                    status: 200, reason: "OK",
                    headers: HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "7")]),
                    framing: .contentLength(7), keepAlive: true)
            ])
        XCTAssertEqual(bodies(outcome.parts), [bytes("{\"a\":1}")])
        XCTAssertEqual(outcome.parts.last, .end(trailers: HTTPHeaders()))
    }

    func testChunkedWithTrailers() {
        let outcome = ParserVerifier.verifyResponses(
            bytes(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-Done: yes\r\n\r\n"
            ))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(heads(outcome.parts).first?.framing, .chunked)
        XCTAssertEqual(bodies(outcome.parts), [bytes("Wikipedia")])
        XCTAssertEqual(outcome.parts.last, .end(trailers: HTTPHeaders([("X-Done", "yes")])))
    }

    func testSSEStreamIsDeliveredAsItArrives() throws {
        var parser = HTTPResponseParser(limits: HTTPLimits())
        parser.expectResponse(toRequestMethod: "POST")
        var buffer = ByteBuffer(
            string: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        guard case .head(let head)? = try parser.next(&buffer) else { return XCTFail("no head") }
        XCTAssertEqual(head.framing, .chunked)
        XCTAssertNil(try parser.next(&buffer))
        buffer.writeString("e\r\nevent: message")  // half a chunk: its bytes come out at once
        XCTAssertEqual(try parser.next(&buffer), .body(ArraySlice("event: message".utf8)))
        XCTAssertNil(try parser.next(&buffer))
    }

    func testCloseDelimitedBodyEndsAtFinish() throws {
        let outcome = ParserVerifier.verifyResponses(
            bytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed until close"), finish: true)
        XCTAssertNil(outcome.error)
        let head = try XCTUnwrap(heads(outcome.parts).first)
        XCTAssertEqual(head.framing, .untilClose)
        XCTAssertFalse(head.keepAlive)
        XCTAssertEqual(bodies(outcome.parts), [bytes("streamed until close")])
        XCTAssertEqual(outcome.parts.last, .end(trailers: HTTPHeaders()))
        XCTAssertEqual(outcome.parts.count, 3)
    }

    func testFinishWhenIdleReturnsNil() throws {
        var parser = HTTPResponseParser(limits: HTTPLimits())
        XCTAssertNil(try parser.finish())
        parser.expectResponse(toRequestMethod: "GET")
        XCTAssertTrue(parser.isIdle)
        XCTAssertNil(try parser.finish())
    }

    func testFinishAfterACompleteResponseReturnsNil() throws {
        var parser = HTTPResponseParser(limits: HTTPLimits())
        var buffer = ByteBuffer(string: "HTTP/1.1 204 No Content\r\n\r\n")
        XCTAssertNotNil(try parser.next(&buffer))
        XCTAssertEqual(try parser.next(&buffer), .end(trailers: HTTPHeaders()))
        XCTAssertNil(try parser.next(&buffer))
        XCTAssertNil(try parser.finish())
    }

    func testInterimResponsesAreSkipped() {
        let outcome = ParserVerifier.verifyResponses(
            bytes(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                    + "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                    + "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(heads(outcome.parts).map(\.status), [201])
        XCTAssertEqual(bodies(outcome.parts), [bytes("ok")])
    }

    func testSwitchingProtocolsIsRefused() {
        assertRefused("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    }

    func testNoBodyStatusesAndHead() {
        let text =
            "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
            + "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        let outcome = ParserVerifier.verifyResponses(bytes(text), methods: ["GET", "GET", "HEAD", "HEAD", "GET"])
        XCTAssertNil(outcome.error)
        XCTAssertEqual(heads(outcome.parts).map(\.framing), [.none, .none, .none, .none, .contentLength(3)])
        XCTAssertEqual(heads(outcome.parts).map(\.keepAlive), [true, true, true, true, true])
        XCTAssertEqual(bodies(outcome.parts), [bytes("abc")])
        XCTAssertEqual(outcome.parts.count, 11)
        XCTAssertEqual(outcome.leftover, [])
    }

    func testVersionAndConnectionDecideKeepAlive() {
        let text =
            "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
            + "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let outcome = ParserVerifier.verifyResponses(bytes(text))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(heads(outcome.parts).map(\.keepAlive), [false, true, false])
        XCTAssertEqual(heads(outcome.parts).map(\.version), [.http1_0, .http1_0, .http1_1])
    }

    func testStatusLineWithoutReason() {
        let outcome = ParserVerifier.verifyResponses(
            bytes(
                "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 \r\nContent-Length: 0\r\n\r\nHTTP/1.1 500 Oops, it broke\r\nContent-Length: 0\r\n\r\n"
            ))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(heads(outcome.parts).map(\.status), [200, 404, 500])
        XCTAssertEqual(heads(outcome.parts).map(\.reason), ["", "", "Oops, it broke"])
    }

    func testTruncatedResponses() {
        assertRefused("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", finish: true)
        assertRefused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", finish: true)
        assertRefused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n", finish: true)
        assertRefused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", finish: true)
        assertRefused("HTTP/1.1 200 OK\r\nContent-Le", finish: true)
        assertRefused("H", finish: true)
        assertRefused("HTTP/1.1 100 Continue\r\n\r\n", finish: true)
    }

    func testMalformedResponses() {
        for text in [
            "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\na",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        ] {
            assertRefused(text, smuggling: true)
        }
        for text in [
            "HTTP/2 200 OK\r\n\r\n", "HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 099 Low\r\n\r\n", "HTTP/1.1 600 High\r\n\r\n", "http/1.1 200 OK\r\n\r\n",
            "HTTP/1.1  200 OK\r\n\r\n",
            "HTTP/1.1 200 O\u{00}K\r\n\r\n", "\r\nHTTP/1.1 200 OK\r\n\r\n", "<html>hello</html>",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        ] {
            assertRefused(text, smuggling: text.contains("Bad Name"))
        }
    }

    func testOversizedResponseHead() {
        let outcome = ParserVerifier.verifyResponses(
            bytes("HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "b", count: 300)),
            limits: HTTPLimits(maxHeaderBytes: 200))
        XCTAssertEqual(outcome.error?.status, 502)
    }

    func testLargeBodyIsNotLimited() {
        let body = String(repeating: "z", count: 5000)
        let outcome = ParserVerifier.verifyResponses(
            bytes("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body), limits: HTTPLimits(maxBodyBytes: 10))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(bodies(outcome.parts), [bytes(body)])
    }

    func testRefusalIsStickyAndReportedByFinish() {
        var parser = HTTPResponseParser(limits: HTTPLimits())
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
        XCTAssertThrowsError(try parser.next(&buffer))
        XCTAssertThrowsError(try parser.next(&buffer))
        XCTAssertThrowsError(try parser.finish())
    }
}
