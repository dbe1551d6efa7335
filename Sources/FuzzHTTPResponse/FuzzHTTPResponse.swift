import FuzzSupport
import GatehouseHTTP

/// libFuzzer target for the upstream side: `HTTPResponseParser` (chunked, fixed and close-delimited
/// bodies, interim responses, HEAD) and `SSEParser`. The first input byte is a selector: bit 0 picks
/// the SSE parser alone over the rest of the input; otherwise bit 1 announces the first request as a
/// HEAD, bit 2 picks tight limits, bit 3 ends the stream with `finish()` (the upstream closed).
/// Properties checked beyond "no crash":
/// - whole-buffer, byte-at-a-time and random-split feeding give the same responses, refusal and
///   leftover (and the same SSE events);
/// - framing agrees with the status and fields (no body for HEAD, 1xx, 204, 304; one Content-Length
///   value; exactly `chunked`), every refusal is a 502;
/// - for SSE: the raw bytes of the events plus `pendingBytes` are exactly the input, and each body of
///   a `text/event-stream` response goes through the SSE parser with the same property.
@main
enum FuzzHTTPResponse {
    static func main() {
        FuzzDriver.run { input in
            guard let selector = input.first else { return }
            let stream = UnsafeRawBufferPointer(rebasing: input.dropFirst())
            var rng = SplitMix64(hashing: input)
            if selector & 1 == 1 {
                checkSSE(Array(stream), rng: &rng)
                return
            }
            let limits =
                selector & 4 == 0
                ? HTTPLimits() : HTTPLimits(maxHeaderBytes: 200, maxHeaderCount: 6, maxChunkExtensionBytes: 12)
            let methods = selector & 2 == 0 ? ["GET", "POST"] : ["HEAD", "GET"]
            let finish = selector & 8 != 0
            let whole = ResponseOutcome.parse(
                stream, methods: methods, finish: finish, limits: limits, sizes: [stream.count])
            let bytes = ResponseOutcome.parse(
                stream, methods: methods, finish: finish, limits: limits,
                sizes: Array(repeating: 1, count: stream.count))
            FuzzDriver.require(bytes == whole, "byte-at-a-time \(bytes) != whole \(whole)")
            let split = ResponseOutcome.parse(
                stream, methods: methods, finish: finish, limits: limits, sizes: rng.pieces(of: stream.count))
            FuzzDriver.require(split == whole, "random split \(split) != whole \(whole)")
            if let error = whole.error { FuzzDriver.require(error.status == 502, "refusal \(error) is not a 502") }
            for (index, message) in whole.messages.enumerated() {
                checkFraming(message, answeringHead: index == 0 && methods[0] == "HEAD")
                if message.head.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") == true
                {
                    checkSSE(message.body, rng: &rng)
                }
            }
        }
    }

    static func checkFraming(_ message: ResponseOutcome.Message, answeringHead: Bool) {
        let head = message.head
        FuzzDriver.require((200...599).contains(head.status), "final status \(head.status)")
        let lengths = head.headers.values(name: "content-length")
        let codings = head.headers.values(name: "transfer-encoding")
        if answeringHead || head.status == 204 || head.status == 304 {
            FuzzDriver.require(head.framing == .none, "a body on a response that cannot have one")
        }
        switch head.framing {
        case .none:
            FuzzDriver.require(message.body.isEmpty, "body bytes without a body")
        case .contentLength(let n):
            FuzzDriver.require(codings.isEmpty, "Content-Length and Transfer-Encoding both accepted")
            FuzzDriver.require(Set(lengths).count == 1 && Int(lengths[0]) == n, "Content-Length values \(lengths)")
            if message.isComplete {
                FuzzDriver.require(message.body.count == n, "body length \(message.body.count) != \(n)")
            }
        case .chunked:
            FuzzDriver.require(lengths.isEmpty, "Content-Length and chunked both accepted")
            FuzzDriver.require(codings.count == 1 && codings[0].lowercased() == "chunked", "coding \(codings)")
        case .untilClose:
            FuzzDriver.require(lengths.isEmpty && codings.isEmpty, "framing fields on a close-delimited body")
            FuzzDriver.require(!head.keepAlive, "a close-delimited body on a reusable connection")
        }
    }

    /// The SSE parser over `bytes`: whole, byte by byte and in random pieces give the same events, and
    /// the raw bytes of the events plus the pending bytes are the input.
    static func checkSSE(_ bytes: [UInt8], rng: inout SplitMix64) {
        func run(_ sizes: [Int]) -> (events: [SSEEvent], raw: [UInt8], pending: [UInt8]) {
            var parser = SSEParser()
            var events: [SSEEvent] = []
            var raw: [UInt8] = []
            var offset = 0
            for size in sizes {
                for (event, eventBytes) in parser.feed(bytes[offset..<(offset + size)]) {
                    FuzzDriver.require(!eventBytes.isEmpty, "an event without bytes")
                    events.append(event)
                    raw.append(contentsOf: eventBytes)
                }
                offset += size
            }
            FuzzDriver.require(parser.pendingByteCount == parser.pendingBytes.count, "pending count")
            return (events, raw, parser.pendingBytes)
        }
        let whole = run(bytes.isEmpty ? [] : [bytes.count])
        FuzzDriver.require(whole.raw + whole.pending == bytes, "SSE raw bytes + pending != input")
        for event in whole.events {
            if let id = event.id { FuzzDriver.require(!id.utf8.contains(0), "an id holding NUL") }
            if let retry = event.retry { FuzzDriver.require(retry >= 0, "negative retry") }
            if event.isCommentOnly {
                FuzzDriver.require(
                    event.event == nil && event.data.isEmpty && event.id == nil, "comment-only event with fields")
            }
        }
        let single = run(Array(repeating: 1, count: bytes.count))
        FuzzDriver.require(single.events == whole.events, "SSE byte-at-a-time events differ")
        FuzzDriver.require(
            single.raw == whole.raw && single.pending == whole.pending, "SSE byte-at-a-time bytes differ")
        let split = run(rng.pieces(of: bytes.count))
        FuzzDriver.require(split.events == whole.events && split.raw == whole.raw, "SSE random split differs")
    }
}

/// Everything parsing an upstream stream gave, independent of how the bytes were cut.
struct ResponseOutcome: Equatable, CustomStringConvertible {
    /// One final response: head, whole body, trailers, and whether `.end` was seen.
    struct Message: Equatable {
        var head: HTTPResponseHead
        var body: [UInt8] = []
        var trailers = HTTPHeaders()
        var isComplete = false
    }

    var messages: [Message] = []
    var error: HTTPParseError?
    var leftover: [UInt8] = []

    var description: String {
        "\(messages.count) response(s), error \(String(describing: error)), \(leftover.count) byte(s) left"
    }

    static func parse(
        _ input: UnsafeRawBufferPointer, methods: [String], finish: Bool, limits: HTTPLimits, sizes: [Int]
    ) -> ResponseOutcome {
        var parser = HTTPResponseParser(limits: limits)
        for method in methods { parser.expectResponse(toRequestMethod: method) }
        var buffer = ByteBuffer()
        var outcome = ResponseOutcome()
        var offset = 0
        func take(_ part: HTTPResponsePart) {
            switch part {
            case .head(let head):
                FuzzDriver.require(outcome.messages.last?.isComplete ?? true, "head before the end of a response")
                outcome.messages.append(Message(head: head))
            case .body(let bytes):
                FuzzDriver.require(!bytes.isEmpty, "empty body part")
                outcome.messages[outcome.messages.count - 1].body.append(contentsOf: bytes)
            case .end(let trailers):
                outcome.messages[outcome.messages.count - 1].trailers = trailers
                outcome.messages[outcome.messages.count - 1].isComplete = true
            }
        }
        do {
            for size in sizes {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + size)]))
                offset += size
                while let part = try parser.next(&buffer) { take(part) }
            }
            if finish {
                if let part = try parser.finish() { take(part) }
                FuzzDriver.require(outcome.messages.last?.isComplete ?? true, "finish left a response open")
            }
        } catch {
            outcome.error = error
            return outcome
        }
        outcome.leftover = Array(buffer.readableBytesView)
        return outcome
    }
}
