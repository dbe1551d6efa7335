import XCTest

@testable import GatehouseHTTP

/// Every refusal of the request parser, with its status and smuggling flag, checked whole, byte by byte
/// and in random splits: a refusal must not depend on how the attacker cut the bytes.
final class HTTPRequestRefusalTests: XCTestCase {
    private func assertRefused(
        _ text: String, status: Int, smuggling: Bool, limits: HTTPLimits = HTTPLimits(),
        file: StaticString = #filePath, line: UInt = #line
    ) {
        assertRefused(bytes(text), status: status, smuggling: smuggling, limits: limits, file: file, line: line)
    }

    private func assertRefused(
        _ input: [UInt8], status: Int, smuggling: Bool, limits: HTTPLimits = HTTPLimits(),
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let outcome = ParserVerifier.verifyRequests(input, limits: limits, file: file, line: line)
        guard let error = outcome.error else {
            return XCTFail("accepted: \(outcome.parts)", file: file, line: line)
        }
        XCTAssertEqual(error.status, status, "\(error)", file: file, line: line)
        XCTAssertEqual(error.isSmuggling, smuggling, "\(error)", file: file, line: line)
        XCTAssertEqual(error.status, HTTPParseError.status(for: error.kind), file: file, line: line)
        XCTAssertFalse(outcome.parts.contains { if case .end = $0 { true } else { false } }, file: file, line: line)
    }

    private let post = "POST /mcp HTTP/1.1\r\nHost: h\r\n"

    // MARK: CL.TE, TE.CL, TE.TE

    func testContentLengthAndTransferEncoding() {
        assertRefused(
            post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, smuggling: true)
        assertRefused(
            post + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", status: 400, smuggling: true)
        // The CL+TE rule wins over the coding's own problems.
        assertRefused(post + "Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n", status: 400, smuggling: true)
        assertRefused(
            post + "Content-Length: 4\r\nTransfer-Encoding: chunked\u{0B}\r\n\r\n", status: 400, smuggling: true)
    }

    func testObfuscatedTransferEncoding() {
        for value in [
            "xchunked", "chunked\u{0B}", "\u{0C}chunked", "\"chunked\"", "chunked, chunked", "identity", "chunked;q=1",
            "chunked, gzip", "chunk", "chunked\u{00}", ",chunked", "chunked,", "chunked , ", "x-custom, chunked", "",
        ] {
            assertRefused(post + "Transfer-Encoding: \(value)\r\n\r\n", status: 501, smuggling: true)
        }
        assertRefused(
            post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501, smuggling: true)
        assertRefused(
            post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", status: 501, smuggling: true)
        assertRefused(
            bytes(post + "Transfer-Encoding: chunked") + [0xFF] + bytes("\r\n\r\n"), status: 400, smuggling: false)
    }

    func testHonestUnsupportedTransferCoding() {
        assertRefused(post + "Transfer-Encoding: gzip, chunked\r\n\r\n", status: 501, smuggling: false)
        assertRefused(post + "Transfer-Encoding: deflate\r\n\r\n", status: 501, smuggling: false)
        assertRefused(post + "Transfer-Encoding: br,chunked\r\n\r\n", status: 501, smuggling: false)
    }

    func testTransferEncodingOnHTTP10() {
        assertRefused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, smuggling: true)
    }

    func testWhitespaceBeforeColon() {
        assertRefused(post + "Transfer-Encoding : chunked\r\n\r\n", status: 400, smuggling: true)
        assertRefused(post + "Content-Length\t: 3\r\n\r\nabc", status: 400, smuggling: true)
    }

    // MARK: Content-Length

    func testDifferingContentLength() {
        assertRefused(post + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", status: 400, smuggling: true)
        assertRefused(post + "Content-Length: 3\r\nContent-Length: 03\r\n\r\nabc", status: 400, smuggling: true)
    }

    func testCommaJoinedContentLength() {
        assertRefused(post + "Content-Length: 3, 3\r\n\r\nabc", status: 400, smuggling: true)
        assertRefused(post + "Content-Length: 3,4\r\n\r\nabc", status: 400, smuggling: true)
    }

    func testMalformedContentLength() {
        for value in ["", "+3", "-1", "3 3", "0x3", "3a", "three", "١", "3.0", "\"3\""] {
            assertRefused(post + "Content-Length: \(value)\r\n\r\nabc", status: 400, smuggling: true)
        }
        assertRefused(post + "Content-Length: 99999999999999999999999\r\n\r\n", status: 400, smuggling: true)
    }

    func testContentLengthOverTheLimit() {
        assertRefused(post + "Content-Length: 1048577\r\n\r\n", status: 413, smuggling: false)
        assertRefused(
            post + "Content-Length: 5\r\n\r\nabcde", status: 413, smuggling: false, limits: HTTPLimits(maxBodyBytes: 4))
    }

    // MARK: Chunked

    private let chunked = "POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"

    func testBadChunkSizes() {
        for line in [
            "zz", "-1", " 5", "+5", "0x5", "5 x", "5x", ";a", "5\u{00}", "5;", "5;=x", "5;a=", "5;a=\"x", "5;a=b c",
        ] {
            assertRefused(chunked + "\(line)\r\nhello\r\n0\r\n\r\n", status: 400, smuggling: true)
        }
        assertRefused(chunked + "5\nhello\r\n0\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "5\rhello\r\n0\r\n\r\n", status: 400, smuggling: true)
    }

    func testChunkSizeOverflow() {
        assertRefused(chunked + "FFFFFFFFFFFFFFFF\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "8000000000000000\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "00000000000000001\r\nx\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "10000000000000000", status: 400, smuggling: true)
    }

    func testChunkDataNotFollowedByCRLF() {
        assertRefused(chunked + "5\r\nhelloXX0\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "5\r\nhello\n0\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "5\r\nhello\rX0\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "3\r\nhello\r\n0\r\n\r\n", status: 400, smuggling: true)
    }

    func testChunkExtensionsTooLong() {
        var limits = HTTPLimits()
        limits.maxChunkExtensionBytes = 16
        assertRefused(
            chunked + "5;" + String(repeating: "a", count: 20) + "\r\nhello\r\n0\r\n\r\n", status: 400,
            smuggling: false, limits: limits)
        assertRefused(
            chunked + "5;" + String(repeating: "a", count: 200), status: 400, smuggling: false, limits: limits)
        assertRefused(chunked + "5;" + String(repeating: "a", count: 2000), status: 400, smuggling: false)
    }

    func testChunkedTotalOverTheLimit() {
        let limits = HTTPLimits(maxBodyBytes: 8)
        assertRefused(chunked + "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", status: 413, smuggling: false, limits: limits)
        assertRefused(chunked + "9\r\n", status: 413, smuggling: false, limits: limits)
    }

    func testBadTrailers() {
        assertRefused(chunked + "0\r\nX-T: a\nX-U: b\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "0\r\nX-T: a\r\n continued\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "0\r\nX-T : a\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "0\r\nContent-Length: 5\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "0\r\ntransfer-encoding: chunked\r\n\r\n", status: 400, smuggling: true)
        assertRefused(chunked + "0\r\nHost: other\r\n\r\n", status: 400, smuggling: true)
        assertRefused(
            chunked + "0\r\n" + String(repeating: "X-T: a\r\n", count: 101) + "\r\n", status: 431, smuggling: false)
        assertRefused(chunked + "0\r\nX-T: " + String(repeating: "a", count: 17000), status: 431, smuggling: false)
    }

    // MARK: Line endings and folding

    func testObsoleteLineFolding() {
        assertRefused(post + "X-A: 1\r\n 2\r\n\r\n", status: 400, smuggling: true)
        assertRefused(post + "X-A: 1\r\n\t2\r\n\r\n", status: 400, smuggling: true)
        assertRefused("GET / HTTP/1.1\r\n Host: h\r\n\r\n", status: 400, smuggling: true)
    }

    func testBareLF() {
        assertRefused("GET / HTTP/1.1\nHost: h\r\n\r\n", status: 400, smuggling: true)
        assertRefused("GET / HTTP/1.1\r\nHost: h\n\r\n", status: 400, smuggling: true)
        assertRefused("GET / HTTP/1.1\r\nHost: h\r\n\n", status: 400, smuggling: true)
        assertRefused("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, smuggling: true)
        assertRefused("GET / HTTP/1.1\r\nHost: h\r\nX: a\nContent-Length: 5\r\n\r\n", status: 400, smuggling: true)
    }

    func testBareCR() {
        assertRefused("GET / HTTP/1.1\rHost: h\r\n\r\n", status: 400, smuggling: true)
        assertRefused("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", status: 400, smuggling: true)
        assertRefused("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", status: 400, smuggling: true)
        assertRefused("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, smuggling: true)
    }

    // MARK: Field names and values

    func testControlCharactersInFields() {
        assertRefused(post + "X-A: a\u{00}b\r\n\r\n", status: 400, smuggling: true)
        assertRefused(post + "X-A: a\u{7F}\r\n\r\n", status: 400, smuggling: true)
        assertRefused(post + "X-A: \u{1B}[31m\r\n\r\n", status: 400, smuggling: true)
        assertRefused(post + "X\u{00}A: a\r\n\r\n", status: 400, smuggling: true)
    }

    func testInvalidFieldNames() {
        assertRefused(post + ": empty\r\n\r\n", status: 400, smuggling: false)
        assertRefused(post + "X(A): a\r\n\r\n", status: 400, smuggling: false)
        assertRefused(post + "NoColonHere\r\n\r\n", status: 400, smuggling: false)
        assertRefused(bytes(post) + [0x58, 0xC3, 0xA9] + bytes(": a\r\n\r\n"), status: 400, smuggling: false)
    }

    func testInvalidUTF8Value() {
        assertRefused(bytes(post + "X-A: ") + [0xC3, 0x28] + bytes("\r\n\r\n"), status: 400, smuggling: false)
        assertRefused(bytes(post + "X-A: ") + [0xFF] + bytes("\r\n\r\n"), status: 400, smuggling: false)
    }

    // MARK: Host

    func testHost() {
        assertRefused("GET / HTTP/1.1\r\n\r\n", status: 400, smuggling: false)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", status: 400, smuggling: false)
        assertRefused("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", status: 400, smuggling: false)
        assertRefused("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, smuggling: false)
        for value in ["a b", "user@host", "a/b", "h?x", "h#x", "h\\x"] {
            assertRefused("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n", status: 400, smuggling: false)
        }
    }

    // MARK: Request line

    func testMalformedRequestLines() {
        for line in [
            "GET / HTTP/2.0", "GET / HTTP/1.2", "GET / HTTP/0.9", "GET / http/1.1", "GET / HTTP/1.1 ",
            "GET  / HTTP/1.1",
            "GET /  HTTP/1.1", "GET / HTTP/1.10", "GET /", "GET", "GET /a b HTTP/1.1", "G(T / HTTP/1.1",
            " GET / HTTP/1.1",
            "GET /#frag HTTP/1.1", "GET * HTTP/1.1", "GET ftp://h/x HTTP/1.1", "GET http:// HTTP/1.1",
            "GET http://u@h/ HTTP/1.1", "GET mcp HTTP/1.1", "GET /\u{7F} HTTP/1.1", "GET /é HTTP/1.1",
            "GET\t/ HTTP/1.1",
        ] {
            assertRefused(line + "\r\nHost: h\r\n\r\n", status: 400, smuggling: false)
        }
    }

    func testGarbageIsRefusedAtTheFirstByte() {
        // A TLS ClientHello on the plain-HTTP port: refused before the head limit or a timeout.
        var parser = HTTPRequestParser(limits: HTTPLimits())
        var buffer = ByteBuffer(bytes: [0x16, 0x03, 0x01])
        XCTAssertThrowsError(try parser.next(&buffer)) { error in
            XCTAssertEqual((error as? HTTPParseError)?.status, 400)
        }
        assertRefused([0x16, 0x03, 0x01, 0x02, 0x00], status: 400, smuggling: false)
    }

    func testTooManyEmptyLinesBeforeTheRequest() {
        assertRefused(
            String(repeating: "\r\n", count: 17) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, smuggling: false)
    }

    // MARK: Limits

    func testOverlongHead() {
        let limits = HTTPLimits(maxHeaderBytes: 200)
        let base = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n"
        let pad = String(repeating: "a", count: 201 - base.utf8.count)
        assertRefused(
            "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \(pad)\r\n\r\n", status: 431, smuggling: false, limits: limits)
        // Refused before the head is complete: no need to wait for the rest of a huge head.
        assertRefused(
            "GET / HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 300), status: 431, smuggling: false,
            limits: limits)
        assertRefused("GET /" + String(repeating: "a", count: 20000), status: 431, smuggling: false)
    }

    func testTooManyFields() {
        let fields = (0..<101).map { "X-\($0): v\r\n" }.joined()
        assertRefused("GET / HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n", status: 431, smuggling: false)
        // Refused as soon as the count is passed, before the head ends.
        assertRefused("GET / HTTP/1.1\r\nHost: h\r\n" + fields, status: 431, smuggling: false)
    }

    // MARK: After a refusal

    func testRefusalIsSticky() {
        var parser = HTTPRequestParser(limits: HTTPLimits())
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        var first: HTTPParseError?
        do { _ = try parser.next(&buffer) } catch { first = error }
        XCTAssertEqual(first?.isSmuggling, true)
        do {
            _ = try parser.next(&buffer)
            XCTFail("accepted after a refusal")
        } catch {
            XCTAssertEqual(error, first)
        }
    }

    func testReasonNeverQuotesTheInput() {
        let secret = "Bearer-s3cr3t-value"
        let outcome = ParserVerifier.verifyRequests(bytes("GET / HTTP/1.1\r\nAuthorization: \(secret)\u{00}\r\n\r\n"))
        let error = try? XCTUnwrap(outcome.error)
        XCTAssertNotNil(error)
        XCTAssertFalse(error?.description.contains("s3cr3t") ?? true)
    }
}
