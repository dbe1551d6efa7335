import XCTest

@testable import GatehouseHTTP

/// Mutated messages (the kind a fuzzer produces): the parsers never trap, and the outcome never depends
/// on how the bytes were split. A seeded generator keeps failures reproducible.
final class HTTPParserPropertyTests: XCTestCase {
    private let requestSeeds = [
        "GET /mcp HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
        "POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    ]

    private let responseSeeds = [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n",
        "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n",
    ]

    /// Interesting bytes for a desync: line ends, separators, digits, hex, high and control bytes.
    private let alphabet: [UInt8] =
        Array("\r\n :;,=\"\t0123456789aAfFxX-chunked".utf8) + [0x00, 0x0B, 0x7F, 0x80, 0xFF]

    private func mutate(_ input: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int(rng.next() % 4 + 1) {
            let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
            let byte = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            switch rng.next() % 4 {
            case 0 where !bytes.isEmpty: bytes[position] = byte
            case 1: bytes.insert(byte, at: position)
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            default:
                let other = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                let range = min(position, other)..<max(position, other)
                bytes.insert(contentsOf: bytes[range].prefix(64), at: position)
            }
        }
        return bytes
    }

    func testMutatedRequestsAreSplitInvariant() {
        var rng = SplitMix64(seed: 2026)
        var refused = 0
        let limits = HTTPLimits(maxHeaderBytes: 256, maxBodyBytes: 64)
        for i in 0..<1500 {
            let input = mutate(bytes(requestSeeds[i % requestSeeds.count]), using: &rng)
            let outcome = ParserVerifier.verifyRequests(input, limits: limits)
            if let error = outcome.error {
                refused += 1
                XCTAssertEqual(error.status, HTTPParseError.status(for: error.kind))
                XCTAssertNotEqual(error.kind, .badResponse)
            }
        }
        XCTAssertGreaterThan(refused, 100)
    }

    func testMutatedResponsesAreSplitInvariant() {
        var rng = SplitMix64(seed: 9112)
        for i in 0..<1500 {
            let input = mutate(bytes(responseSeeds[i % responseSeeds.count]), using: &rng)
            let outcome = ParserVerifier.verifyResponses(input, methods: ["GET", "HEAD"], finish: true)
            if let error = outcome.error { XCTAssertEqual(error.kind, .badResponse) }
        }
    }

    func testRandomBytesNeverTrap() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<300 {
            let input = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            ParserVerifier.verifyRequests(input)
            ParserVerifier.verifyResponses(input, finish: true)
            var sse = SSEParser()
            let events = sse.feed(input)
            XCTAssertEqual(events.flatMap(\.raw) + sse.pendingBytes, input)
        }
    }

    /// Parsing then serializing an accepted request and parsing again gives the same head.
    func testAcceptedRequestsSurviveReserialization() throws {
        var rng = SplitMix64(seed: 3)
        var checked = 0
        for i in 0..<1500 {
            let input = mutate(bytes(requestSeeds[i % requestSeeds.count]), using: &rng)
            let outcome = ParserVerifier.parseRequests(input, limits: HTTPLimits(), sizes: [input.count])
            // The serializer always writes HTTP/1.1, which needs a Host: 1.0 heads without one are skipped.
            guard outcome.error == nil, case .head(let head)? = outcome.parts.first, head.version == .http1_1 else {
                continue
            }
            var buffer = ByteBuffer()
            HTTPSerializer.writeRequestHead(
                method: head.method, target: head.target, headers: head.headers, into: &buffer)
            var parser = HTTPRequestParser(limits: HTTPLimits())
            guard case .head(let again)? = try parser.next(&buffer) else {
                return XCTFail("reserialized head not parsed")
            }
            XCTAssertEqual(again.method, head.method)
            XCTAssertEqual(again.target, head.target)
            XCTAssertEqual(again.headers, head.headers)
            XCTAssertEqual(again.framing, head.framing)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 50)
    }
}
