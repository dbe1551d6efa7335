import XCTest

@testable import GatehouseHTTP

/// Serialize, then parse: the same head comes back.
final class HTTPSerializerTests: XCTestCase {
    private func string(_ buffer: ByteBuffer) -> String { String(decoding: buffer.readableBytesView, as: UTF8.self) }

    func testRequestHeadRoundTrip() throws {
        let headers = HTTPHeaders([
            ("Host", "127.0.0.1:8000"), ("Content-Type", "application/json"), ("Content-Length", "2"),
            ("X-Forwarded-For", "10.0.0.1, 10.0.0.2"), ("Mcp-Session-Id", "abc-123"), ("X-Empty", ""),
        ])
        var buffer = ByteBuffer()
        HTTPSerializer.writeRequestHead(method: "POST", target: "/mcp?x=1", headers: headers, into: &buffer)
        buffer.writeString("{}")
        XCTAssertTrue(string(buffer).hasPrefix("POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"))
        var parser = HTTPRequestParser(limits: HTTPLimits())
        guard case .head(let head)? = try parser.next(&buffer) else { return XCTFail("no head") }
        XCTAssertEqual(head.method, "POST")
        XCTAssertEqual(head.target, "/mcp?x=1")
        XCTAssertEqual(head.version, .http1_1)
        XCTAssertEqual(head.headers, headers)
        XCTAssertEqual(head.framing, .contentLength(2))
        XCTAssertEqual(try parser.next(&buffer), .body(ArraySlice("{}".utf8)))
        XCTAssertEqual(try parser.next(&buffer), .end(trailers: HTTPHeaders()))
    }

    func testParsedRequestRoundTrip() throws {
        let original = "DELETE /mcp HTTP/1.1\r\nhost: h\r\nMcp-Session-Id: s1\r\nX-UTF8: naïve\r\n\r\n"
        var buffer = ByteBuffer(string: original)
        var parser = HTTPRequestParser(limits: HTTPLimits())
        guard case .head(let head)? = try parser.next(&buffer) else { return XCTFail("no head") }
        var out = ByteBuffer()
        HTTPSerializer.writeRequestHead(method: head.method, target: head.target, headers: head.headers, into: &out)
        XCTAssertEqual(string(out), original)
    }

    func testResponseHeadRoundTrip() throws {
        for status in [200, 201, 202, 204, 400, 401, 403, 404, 413, 429, 431, 500, 501, 502, 504, 299] {
            let headers = HTTPHeaders([
                ("Content-Type", "application/json"), ("Content-Length", "0"), ("Vary", "Origin"),
            ])
            var buffer = ByteBuffer()
            HTTPSerializer.writeResponseHead(status: status, headers: headers, into: &buffer)
            var parser = HTTPResponseParser(limits: HTTPLimits())
            parser.expectResponse(toRequestMethod: "GET")
            guard case .head(let head)? = try parser.next(&buffer) else { return XCTFail("no head for \(status)") }
            XCTAssertEqual(head.status, status)
            XCTAssertEqual(head.reason, HTTPSerializer.reasonPhrase(status))
            XCTAssertEqual(head.headers, headers)
            XCTAssertEqual(head.version, .http1_1)
        }
    }

    /// A head with a preformatted block is the head with those fields listed last; an invalid field in the
    /// block's source is left out when the block is made, as it would be from a field list.
    func testPreformattedFieldsAreWrittenLikeListedOnes() {
        let fixed = HTTPHeaders([
            ("X-Frame-Options", "DENY"), ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
            ("Bad Name", "x"), ("X-Bad-Value", "a\r\nInjected: yes"), ("Referrer-Policy", "no-referrer"),
        ])
        let block = HTTPSerializer.preformattedFields(fixed)
        XCTAssertEqual(
            String(decoding: block, as: UTF8.self),
            "X-Frame-Options: DENY\r\nContent-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n"
                + "Referrer-Policy: no-referrer\r\n")
        let own = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "2")])
        for status in [200, 404, 502] {
            var withBlock = ByteBuffer()
            HTTPSerializer.writeResponseHead(status: status, headers: own, preformatted: block, into: &withBlock)
            var listed = ByteBuffer()
            var all = own
            for (name, value) in fixed { all.add(name: name, value: value) }
            HTTPSerializer.writeResponseHead(status: status, headers: all, into: &listed)
            XCTAssertEqual(string(withBlock), string(listed))
        }
        var empty = ByteBuffer()
        HTTPSerializer.writeResponseHead(status: 204, headers: HTTPHeaders(), preformatted: [], into: &empty)
        XCTAssertEqual(string(empty), "HTTP/1.1 204 No Content\r\n\r\n")
    }

    func testStatusLines() {
        var buffer = ByteBuffer()
        HTTPSerializer.writeResponseHead(status: 100, headers: HTTPHeaders(), into: &buffer)
        XCTAssertEqual(string(buffer), "HTTP/1.1 100 Continue\r\n\r\n")
        XCTAssertEqual(HTTPSerializer.reasonPhrase(431), "Request Header Fields Too Large")
        XCTAssertEqual(HTTPSerializer.reasonPhrase(504), "Gateway Timeout")
        XCTAssertEqual(HTTPSerializer.reasonPhrase(799), "Unknown")
    }

    func testChunkedRoundTrip() throws {
        var buffer = ByteBuffer()
        HTTPSerializer.writeResponseHead(
            status: 200, headers: HTTPHeaders([("Transfer-Encoding", "chunked")]), into: &buffer)
        let pieces = [bytes("data: one\n\n"), [], Array(repeating: 0x61, count: 4096), bytes("x")]
        for piece in pieces { HTTPSerializer.writeChunk(piece, into: &buffer) }
        HTTPSerializer.writeLastChunk(into: &buffer)
        XCTAssertTrue(string(buffer).contains("\r\nB\r\ndata: one\n\n\r\n1000\r\n"))
        XCTAssertTrue(string(buffer).hasSuffix("1\r\nx\r\n0\r\n\r\n"))
        let outcome = ParserVerifier.verifyResponses(Array(buffer.readableBytesView))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.parts.dropFirst().first, .body(ArraySlice(pieces.joined())))
        XCTAssertEqual(outcome.parts.last, .end(trailers: HTTPHeaders()))
    }

    func testLastChunkWithTrailers() throws {
        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        HTTPSerializer.writeChunk(bytes("abc"), into: &buffer)
        HTTPSerializer.writeLastChunk(trailers: HTTPHeaders([("X-Sum", "1")]), into: &buffer)
        let outcome = ParserVerifier.verifyRequests(Array(buffer.readableBytesView))
        XCTAssertEqual(outcome.parts.last, .end(trailers: HTTPHeaders([("X-Sum", "1")])))
    }

    func testHeaderInjectionIsNotWritten() throws {
        var buffer = ByteBuffer()
        HTTPSerializer.writeResponseHead(
            status: 200,
            headers: HTTPHeaders([
                ("X-Ok", "fine"), ("X-Evil", "a\r\nSet-Cookie: stolen"), ("Bad Name", "v"), ("", "v"),
                ("X-Nul", "a\u{0}b"),
                ("X-Lf", "a\nb"),
            ]), into: &buffer)
        XCTAssertEqual(string(buffer), "HTTP/1.1 200 OK\r\nX-Ok: fine\r\n\r\n")
        var request = ByteBuffer()
        HTTPSerializer.writeRequestHead(method: "GET\r\nX", target: "/a b\r\nc", headers: HTTPHeaders(), into: &request)
        XCTAssertEqual(string(request), "GET%0D%0AX /a%20b%0D%0Ac HTTP/1.1\r\n\r\n")
    }

    func testEmptyChunkWritesNothing() {
        var buffer = ByteBuffer()
        HTTPSerializer.writeChunk([UInt8](), into: &buffer)
        XCTAssertTrue(buffer.isEmpty)
    }

    // MARK: Output equal to the field-by-field writer it replaced

    /// The field writer before the head was reserved once and written from contiguous UTF-8.
    private func referenceFields(_ headers: HTTPHeaders) -> [UInt8] {
        var out: [UInt8] = []
        for field in headers {
            let name = Array(field.name.utf8)
            let value = Array(field.value.utf8)
            guard !name.isEmpty, name.allSatisfy(ASCII.isTokenChar),
                !value.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 })
            else { continue }
            out += name + Array(": ".utf8) + value + [13, 10]
        }
        return out + [13, 10]
    }

    private let awkwardHeaders = HTTPHeaders([
        ("Host", "127.0.0.1:8000"), ("x", ""), ("X-UTF8", "naïve ünïcode ✓"), ("X-Tab", "a\tb"),
        ("X-Evil", "a\r\nSet-Cookie: stolen"), ("Bad Name", "v"), ("", "v"), ("X-Nul", "a\u{0}b"), ("X-Cr", "a\rb"),
        ("é", "non-token name"), ("X-Long", String(repeating: "v", count: 5000)),
        (String(repeating: "N", count: 300), "long name"),
        ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none';"),
    ])

    /// A buffer whose front was already read (so a reservation may compact instead of growing) and that holds
    /// a few bytes already.
    private func usedBuffer(capacity: Int) -> ByteBuffer {
        var buffer = ByteBuffer(capacity: capacity)
        buffer.writeString("previous answer")
        buffer.moveReaderIndex(forwardBy: 9)
        return buffer
    }

    func testFieldsEqualTheReferenceWriter() {
        for capacity in [0, 16, 64, 100, 8192] {
            var buffer = usedBuffer(capacity: capacity)
            HTTPSerializer.writeFields(awkwardHeaders, into: &buffer)
            XCTAssertEqual(Array(buffer.readableBytesView), Array("answer".utf8) + referenceFields(awkwardHeaders))
        }
        var empty = ByteBuffer()
        HTTPSerializer.writeFields(HTTPHeaders(), into: &empty)
        XCTAssertEqual(string(empty), "\r\n")
    }

    func testHeadsEqualTheReferenceWriter() {
        for capacity in [0, 32, 8192] {
            var request = usedBuffer(capacity: capacity)
            HTTPSerializer.writeRequestHead(method: "POST", target: "/mcp?a=1", headers: awkwardHeaders, into: &request)
            XCTAssertEqual(
                Array(request.readableBytesView),
                Array("answerPOST /mcp?a=1 HTTP/1.1\r\n".utf8) + referenceFields(awkwardHeaders))

            var escaped = usedBuffer(capacity: capacity)
            HTTPSerializer.writeRequestHead(method: "G T", target: "/é x", headers: awkwardHeaders, into: &escaped)
            XCTAssertEqual(
                Array(escaped.readableBytesView),
                Array("answerG%20T /%C3%A9%20x HTTP/1.1\r\n".utf8) + referenceFields(awkwardHeaders))

            for status in [200, 204, 431, 599, -5, 1000] {
                var response = usedBuffer(capacity: capacity)
                HTTPSerializer.writeResponseHead(status: status, headers: awkwardHeaders, into: &response)
                let code = min(max(status, 0), 999)
                let digits = String(code / 100) + String(code / 10 % 10) + String(code % 10)
                let line = "answerHTTP/1.1 \(digits) \(HTTPSerializer.reasonPhrase(status))\r\n"
                XCTAssertEqual(Array(response.readableBytesView), Array(line.utf8) + referenceFields(awkwardHeaders))
            }

            var trailers = usedBuffer(capacity: capacity)
            HTTPSerializer.writeLastChunk(trailers: awkwardHeaders, into: &trailers)
            XCTAssertEqual(
                Array(trailers.readableBytesView), Array("answer0\r\n".utf8) + referenceFields(awkwardHeaders))
        }
    }
}
