import XCTest

@testable import GatehouseHTTP

/// Accepted requests: every case is parsed whole, byte by byte and in random splits (ParserVerifier).
final class HTTPRequestParserTests: XCTestCase {
    private func single(
        _ text: String, limits: HTTPLimits = HTTPLimits(), file: StaticString = #filePath, line: UInt = #line
    )
        -> (head: HTTPRequestHead, body: [UInt8], trailers: HTTPHeaders)?
    {
        let outcome = ParserVerifier.verifyRequests(bytes(text), limits: limits, file: file, line: line)
        XCTAssertNil(outcome.error, file: file, line: line)
        XCTAssertEqual(outcome.leftover, [], file: file, line: line)
        guard case .head(let head)? = outcome.parts.first, case .end(let trailers)? = outcome.parts.last else {
            XCTFail("expected head … end, got \(outcome.parts)", file: file, line: line)
            return nil
        }
        var body: [UInt8] = []
        for part in outcome.parts.dropFirst().dropLast() {
            guard case .body(let piece) = part else {
                XCTFail("unexpected part \(part)", file: file, line: line)
                return nil
            }
            body += piece
        }
        XCTAssertEqual(outcome.parts.count, body.isEmpty ? 2 : 3, file: file, line: line)
        return (head, body, trailers)
    }

    func testSimpleGet() throws {
        let r = try XCTUnwrap(single("GET /mcp?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"))
        XCTAssertEqual(r.head.method, "GET")
        XCTAssertEqual(r.head.target, "/mcp?x=1")
        XCTAssertEqual(r.head.path, "/mcp")
        XCTAssertEqual(r.head.query, "x=1")
        XCTAssertEqual(r.head.version, .http1_1)
        XCTAssertEqual(r.head.headers, HTTPHeaders([("Host", "example.com"), ("Accept", "*/*")]))
        XCTAssertEqual(r.head.framing, .none)
        XCTAssertTrue(r.head.keepAlive)
        XCTAssertFalse(r.head.expectsContinue)
        XCTAssertEqual(r.body, [])
        XCTAssertEqual(r.trailers.count, 0)
    }

    func testContentLengthBody() throws {
        let r = try XCTUnwrap(
            single(
                "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\nhello world"
            ))
        XCTAssertEqual(r.head.framing, .contentLength(11))
        XCTAssertEqual(r.body, bytes("hello world"))
    }

    func testZeroContentLength() throws {
        let r = try XCTUnwrap(single("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"))
        XCTAssertEqual(r.head.framing, .contentLength(0))
        XCTAssertEqual(r.body, [])
    }

    func testRepeatedIdenticalContentLengthIsAccepted() throws {
        let r = try XCTUnwrap(single("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc"))
        XCTAssertEqual(r.head.framing, .contentLength(3))
        XCTAssertEqual(r.body, bytes("abc"))
    }

    func testFieldValuesAreTrimmedAndNamesKeptAsSent() throws {
        let r = try XCTUnwrap(single("GET / HTTP/1.1\r\nhOsT:example.com  \r\nX-Empty:\r\nX-Inner: a \t b\t\r\n\r\n"))
        XCTAssertEqual(r.head.headers[0].name, "hOsT")
        XCTAssertEqual(r.head.headers.first(name: "host"), "example.com")
        XCTAssertEqual(r.head.headers.first(name: "x-empty"), "")
        XCTAssertEqual(r.head.headers.first(name: "X-INNER"), "a \t b")
    }

    func testUTF8FieldValueIsAccepted() throws {
        let r = try XCTUnwrap(single("GET / HTTP/1.1\r\nHost: h\r\nX-Name: café ☕\r\n\r\n"))
        XCTAssertEqual(r.head.headers.first(name: "x-name"), "café ☕")
    }

    func testChunkedWithExtensionsAndTrailers() throws {
        let text =
            "POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value;flag ; q=\"a \\\"b\\\" c\"\r\nhello\r\n"
            + "6\r\n world\r\n"
            + "0;last=1\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n"
        let r = try XCTUnwrap(single(text))
        XCTAssertEqual(r.head.framing, .chunked)
        XCTAssertEqual(r.body, bytes("hello world"))
        XCTAssertEqual(r.trailers, HTTPHeaders([("X-Checksum", "abc"), ("X-Other", "d")]))
    }

    func testChunkedUppercaseHexAndLeadingZeros() throws {
        let body = String(repeating: "x", count: 0x1A)
        let r = try XCTUnwrap(
            single("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked \r\n\r\n001A\r\n\(body)\r\n000\r\n\r\n"))
        XCTAssertEqual(r.body, bytes(body))
    }

    func testChunkedEmptyBody() throws {
        let r = try XCTUnwrap(single("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
        XCTAssertEqual(r.body, [])
        XCTAssertTrue(r.trailers.isEmpty)
    }

    func testExpectContinue() throws {
        let r = try XCTUnwrap(
            single("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok"))
        XCTAssertTrue(r.head.expectsContinue)
        // An HTTP/1.0 client's expectation is ignored (RFC 9110 §10.1.1).
        let old = try XCTUnwrap(single("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"))
        XCTAssertFalse(old.head.expectsContinue)
    }

    func testExpectContinueHeadArrivesBeforeTheBody() throws {
        // The server must see the head (and answer 100) while the client still holds the body back.
        var parser = HTTPRequestParser(limits: HTTPLimits())
        var buffer = ByteBuffer(
            string: "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        guard case .head(let head)? = try parser.next(&buffer) else { return XCTFail("no head") }
        XCTAssertTrue(head.expectsContinue)
        XCTAssertNil(try parser.next(&buffer))
        buffer.writeString("data")
        XCTAssertEqual(try parser.next(&buffer), .body(ArraySlice("data".utf8)))
        XCTAssertEqual(try parser.next(&buffer), .end(trailers: HTTPHeaders()))
    }

    func testConnectionAndVersionDecideKeepAlive() throws {
        XCTAssertEqual(try XCTUnwrap(single("GET / HTTP/1.0\r\n\r\n")).head.keepAlive, false)
        XCTAssertEqual(try XCTUnwrap(single("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")).head.keepAlive, true)
        XCTAssertEqual(
            try XCTUnwrap(single("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")).head.keepAlive, false)
        XCTAssertEqual(
            try XCTUnwrap(single("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n\r\n")).head
                .keepAlive, true)
        XCTAssertEqual(
            try XCTUnwrap(single("GET / HTTP/1.1\r\nHost: h\r\nConnection: x, CLOSE\r\n\r\n")).head.keepAlive, false)
    }

    func testHTTP10WithoutHostIsAccepted() throws {
        let r = try XCTUnwrap(single("GET /a HTTP/1.0\r\nContent-Length: 1\r\n\r\nz"))
        XCTAssertEqual(r.head.version, .http1_0)
        XCTAssertEqual(r.body, bytes("z"))
    }

    func testLeadingEmptyLinesAreSkipped() throws {
        let r = try XCTUnwrap(single("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        XCTAssertEqual(r.head.method, "GET")
    }

    func testTargetForms() throws {
        let absolute = try XCTUnwrap(
            single("GET http://example.com:8080/mcp/x?y=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        XCTAssertEqual(absolute.head.targetForm, .absolute)
        XCTAssertEqual(absolute.head.path, "/mcp/x")
        XCTAssertEqual(absolute.head.originFormTarget, "/mcp/x?y=1")
        let bare = try XCTUnwrap(single("GET https://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        XCTAssertEqual(bare.head.path, "/")
        XCTAssertEqual(bare.head.originFormTarget, "/?q")
        let asterisk = try XCTUnwrap(single("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"))
        XCTAssertEqual(asterisk.head.targetForm, .asterisk)
        XCTAssertEqual(asterisk.head.originFormTarget, "*")
        let connect = try XCTUnwrap(single("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"))
        XCTAssertEqual(connect.head.targetForm, .authority)
        XCTAssertEqual(connect.head.originFormTarget, "example.com:443")
        let origin = try XCTUnwrap(single("DELETE /mcp HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"))
        XCTAssertEqual(origin.head.targetForm, .origin)
        XCTAssertNil(origin.head.query)
    }

    func testKeepAliveSequence() throws {
        let text =
            "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
            + "GET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        let outcome = ParserVerifier.verifyRequests(bytes(text))
        XCTAssertNil(outcome.error)
        let targets = outcome.parts.compactMap { part -> String? in
            if case .head(let head) = part { return head.target }
            return nil
        }
        XCTAssertEqual(targets, ["/1", "/2", "/3", "/4"])
        let bodies = outcome.parts.compactMap { part -> [UInt8]? in
            if case .body(let b) = part { return Array(b) }
            return nil
        }
        XCTAssertEqual(bodies, [bytes("abc"), bytes("xy")])
        XCTAssertEqual(outcome.parts.count, 4 + 4 + 2)
    }

    func testPipelinedRequestsInOneBuffer() throws {
        let first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nfirst"
        let second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        var parser = HTTPRequestParser(limits: HTTPLimits())
        var buffer = ByteBuffer(string: first + second)
        XCTAssertTrue(parser.isIdle)
        guard case .head(let a)? = try parser.next(&buffer) else { return XCTFail("no first head") }
        XCTAssertEqual(a.target, "/a")
        XCTAssertFalse(parser.isIdle)
        XCTAssertEqual(try parser.next(&buffer), .body(ArraySlice("first".utf8)))
        // The second request is still whole in the buffer: nothing of it was consumed.
        XCTAssertEqual(buffer.readableBytes, second.utf8.count)
        XCTAssertEqual(try parser.next(&buffer), .end(trailers: HTTPHeaders()))
        XCTAssertTrue(parser.isIdle)
        XCTAssertEqual(buffer.readableBytes, second.utf8.count)
        guard case .head(let b)? = try parser.next(&buffer) else { return XCTFail("no second head") }
        XCTAssertEqual(b.target, "/b")
        XCTAssertEqual(try parser.next(&buffer), .end(trailers: HTTPHeaders()))
        XCTAssertNil(try parser.next(&buffer))
        XCTAssertTrue(buffer.isEmpty)
    }

    func testBodyPiecesAreSlicesOfTheBuffer() throws {
        var parser = HTTPRequestParser(limits: HTTPLimits())
        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234")
        _ = try parser.next(&buffer)
        XCTAssertEqual(try parser.next(&buffer), .body(ArraySlice("01234".utf8)))
        XCTAssertNil(try parser.next(&buffer))
        buffer.writeString("56789")
        XCTAssertEqual(try parser.next(&buffer), .body(ArraySlice("56789".utf8)))
        XCTAssertEqual(try parser.next(&buffer), .end(trailers: HTTPHeaders()))
    }

    func testIncompleteInputLeavesBytesUnconsumed() {
        let outcome = ParserVerifier.verifyRequests(bytes("GET / HTTP/1.1\r\nHost: h\r\n"))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.parts, [])
        XCTAssertEqual(outcome.leftover, bytes("GET / HTTP/1.1\r\nHost: h\r\n"))
    }

    func testHeadExactlyAtTheLimitIsAccepted() throws {
        let base = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n"
        let pad = String(repeating: "a", count: 200 - base.utf8.count)
        let text = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \(pad)\r\n\r\n"
        XCTAssertEqual(text.utf8.count, 200)
        XCTAssertNotNil(single(text, limits: HTTPLimits(maxHeaderBytes: 200)))
    }

    func testHeaderCountAtTheLimitIsAccepted() throws {
        var limits = HTTPLimits()
        limits.maxHeaderCount = 3
        XCTAssertNotNil(single("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits))
    }

    func testBodyAtTheLimitIsAccepted() throws {
        let limits = HTTPLimits(maxBodyBytes: 4)
        XCTAssertNotNil(single("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd", limits: limits))
        XCTAssertNotNil(
            single(
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n",
                limits: limits))
    }
}
