import FuzzSupport
import GatehouseHTTP

/// libFuzzer target for `HTTPRequestParser`. The first input byte picks the limits (the contract's
/// defaults or tight ones that put every limit within reach); the rest is the byte stream of a client
/// connection. Properties checked beyond "no crash":
/// - whole-buffer, byte-at-a-time and random-split feeding give the same parts, refusal and leftover;
/// - every accepted head is well-formed (token method and field names, visible-ASCII target without
///   `#`, field values without CR/LF/NUL and trimmed, Host present on HTTP/1.1, framing that agrees
///   with the fields), and each body respects its framing and `maxBodyBytes`;
/// - serializing an accepted HTTP/1.1 message again (head, body re-framed as it came, trailers) and
///   parsing the result gives the same message back.
@main
enum FuzzHTTPRequest {
    static func main() {
        FuzzDriver.run { input in
            guard let selector = input.first else { return }
            let stream = UnsafeRawBufferPointer(rebasing: input.dropFirst())
            check(stream, limits: selector & 1 == 0 ? HTTPLimits() : tightLimits, seed: input)
        }
    }

    static let tightLimits = HTTPLimits(
        maxHeaderBytes: 200, maxBodyBytes: 40, maxHeaderCount: 6, maxChunkExtensionBytes: 12)

    static func check(_ stream: UnsafeRawBufferPointer, limits: HTTPLimits, seed: UnsafeRawBufferPointer) {
        let whole = RequestOutcome.parse(stream, limits: limits, sizes: [stream.count])
        let byteAtATime = RequestOutcome.parse(stream, limits: limits, sizes: Array(repeating: 1, count: stream.count))
        FuzzDriver.require(byteAtATime == whole, "byte-at-a-time \(byteAtATime) != whole \(whole)")
        var rng = SplitMix64(hashing: seed)
        let split = RequestOutcome.parse(stream, limits: limits, sizes: rng.pieces(of: stream.count))
        FuzzDriver.require(split == whole, "random split \(split) != whole \(whole)")

        for message in whole.messages {
            checkWellFormed(message, limits: limits)
            checkReserialization(message, limits: limits)
        }
    }

    static func checkWellFormed(_ message: RequestOutcome.Message, limits: HTTPLimits) {
        let head = message.head
        FuzzDriver.require(!head.method.isEmpty && head.method.utf8.allSatisfy(isTokenChar), "method \(head.method)")
        FuzzDriver.require(
            !head.target.isEmpty && head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") },
            "target \(head.target)")
        FuzzDriver.require(head.version == .http1_1 || head.version == .http1_0, "version \(head.version)")
        for field in head.headers {
            FuzzDriver.require(!field.name.isEmpty && field.name.utf8.allSatisfy(isTokenChar), "name \(field.name)")
            let value = Array(field.value.utf8)
            FuzzDriver.require(!value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }), "value \(field.value)")
            FuzzDriver.require(value.first != 0x20 && value.first != 0x09, "untrimmed value")
            FuzzDriver.require(value.last != 0x20 && value.last != 0x09, "untrimmed value")
        }
        let hosts = head.headers.values(name: "host")
        FuzzDriver.require(hosts.count <= 1, "several Host fields accepted")
        if head.version == .http1_1 { FuzzDriver.require(hosts.count == 1, "HTTP/1.1 without Host accepted") }
        let lengths = head.headers.values(name: "content-length")
        let codings = head.headers.values(name: "transfer-encoding")
        switch head.framing {
        case .none:
            FuzzDriver.require(lengths.isEmpty && codings.isEmpty, "no framing but framing fields")
            FuzzDriver.require(message.body.isEmpty, "body without framing")
        case .contentLength(let n):
            FuzzDriver.require(codings.isEmpty, "Content-Length and Transfer-Encoding both accepted")
            FuzzDriver.require(
                !lengths.isEmpty && lengths.allSatisfy { Int($0) == n && $0.utf8.allSatisfy(isDigit) }, "lengths")
            FuzzDriver.require(Set(lengths).count == 1, "differing Content-Length values accepted: \(lengths)")
            FuzzDriver.require(n <= limits.maxBodyBytes, "Content-Length above the limit accepted")
            if message.isComplete {
                FuzzDriver.require(message.body.count == n, "body length \(message.body.count) != \(n)")
            }
        case .chunked:
            FuzzDriver.require(lengths.isEmpty, "Content-Length and chunked both accepted")
            FuzzDriver.require(codings.count == 1 && codings[0].lowercased() == "chunked", "coding \(codings)")
            FuzzDriver.require(head.version == .http1_1, "chunked HTTP/1.0 accepted")
        case .untilClose:
            FuzzDriver.fail("a request framed until close")
        }
        FuzzDriver.require(message.body.count <= limits.maxBodyBytes, "body above maxBodyBytes")
        if !message.trailers.isEmpty {
            FuzzDriver.require(head.framing == .chunked, "trailers without chunked framing")
            for name in ["content-length", "transfer-encoding", "host"] {
                FuzzDriver.require(!message.trailers.contains(name: name), "\(name) in trailers accepted")
            }
        }
    }

    /// serialize(parse(x)) parses to the same message.
    static func checkReserialization(_ message: RequestOutcome.Message, limits: HTTPLimits) {
        guard message.isComplete, message.head.version == .http1_1 else { return }
        var buffer = ByteBuffer()
        let head = message.head
        HTTPSerializer.writeRequestHead(method: head.method, target: head.target, headers: head.headers, into: &buffer)
        switch head.framing {
        case .chunked:
            HTTPSerializer.writeChunk(message.body, into: &buffer)
            HTTPSerializer.writeLastChunk(trailers: message.trailers, into: &buffer)
        default:
            buffer.writeBytes(message.body)
        }
        let bytes = Array(buffer.readableBytesView)
        let again = bytes.withUnsafeBytes { RequestOutcome.parse($0, limits: limits, sizes: [$0.count]) }
        // The re-serialized head may be longer than the original (", " after each colon): only a
        // refusal for size is acceptable, and only when the original was close to the limit.
        if let error = again.error, error.status == 431 { return }
        FuzzDriver.require(again.error == nil, "re-serialized message refused: \(String(describing: again.error))")
        FuzzDriver.require(again.messages.count == 1, "re-serialized message parsed as \(again.messages.count)")
        let reparsed = again.messages[0]
        FuzzDriver.require(reparsed.head == head, "head \(reparsed.head) != \(head)")
        FuzzDriver.require(reparsed.body == message.body, "body differs after re-serialization")
        FuzzDriver.require(reparsed.trailers == message.trailers, "trailers differ after re-serialization")
        FuzzDriver.require(again.leftover.isEmpty, "bytes left after a re-serialized message")
    }
}

/// RFC 9110 tchar.
func isTokenChar(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
    }
}

func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

/// Everything parsing a request stream gave, independent of how the bytes were cut.
struct RequestOutcome: Equatable, CustomStringConvertible {
    /// One request: its head, its whole body, its trailers, and whether `.end` was seen.
    struct Message: Equatable {
        var head: HTTPRequestHead
        var body: [UInt8] = []
        var trailers = HTTPHeaders()
        var isComplete = false
    }

    var messages: [Message] = []
    var error: HTTPParseError?
    var leftover: [UInt8] = []

    var description: String {
        "\(messages.count) message(s), error \(String(describing: error)), \(leftover.count) byte(s) left"
    }

    static func parse(_ input: UnsafeRawBufferPointer, limits: HTTPLimits, sizes: [Int]) -> RequestOutcome {
        var parser = HTTPRequestParser(limits: limits)
        var buffer = ByteBuffer()
        var outcome = RequestOutcome()
        var offset = 0
        for size in sizes {
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + size)]))
            offset += size
            do {
                while let part = try parser.next(&buffer) {
                    switch part {
                    case .head(let head):
                        FuzzDriver.require(
                            outcome.messages.last?.isComplete ?? true, "head before the end of a message")
                        outcome.messages.append(Message(head: head))
                    case .body(let bytes):
                        FuzzDriver.require(!bytes.isEmpty, "empty body part")
                        outcome.messages[outcome.messages.count - 1].body.append(contentsOf: bytes)
                    case .end(let trailers):
                        outcome.messages[outcome.messages.count - 1].trailers = trailers
                        outcome.messages[outcome.messages.count - 1].isComplete = true
                    }
                }
            } catch {
                outcome.error = error
                // A refused parser keeps refusing, with the same error.
                do {
                    _ = try parser.next(&buffer)
                    FuzzDriver.fail("parser answered after a refusal")
                } catch let again {
                    FuzzDriver.require(again == error, "second refusal \(again) != \(error)")
                }
                return outcome
            }
        }
        outcome.leftover = Array(buffer.readableBytesView)
        return outcome
    }
}
