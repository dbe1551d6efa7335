/// Incremental parser for upstream responses (RFC 9112), as strict as the request parser: a response
/// the gateway frames differently from the upstream would poison the pooled connection.
///
/// Interim 1xx responses (100, 102, 103) are read and skipped; 101 is refused, the gateway never
/// upgrades. Every refusal is `.badResponse` (502), keeping the `isSmuggling` flag of its cause.
public struct HTTPResponseParser: Sendable {
    private enum Phase: Sendable {
        case head
        case body
        case failed(HTTPParseError)
    }

    public let limits: HTTPLimits
    private var phase = Phase.head
    private var scanner = HeadScanner(mode: .response)
    private var body = BodyDecoder(framing: .none, limits: HTTPLimits(), maxBodyBytes: 0)
    /// For each request sent and not yet answered: was it a HEAD?
    private var pendingRequestIsHead: [Bool] = []
    private var interimResponses = 0

    /// Interim responses tolerated before a final one.
    static let maxInterimResponses = 16

    /// `limits.maxBodyBytes` is ignored: responses stream through.
    public init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// Says which request the next response answers (call once per request, in order): a response to
    /// HEAD has no body whatever its headers say. A response nobody announced is read as one to GET.
    public mutating func expectResponse(toRequestMethod method: String) {
        pendingRequestIsHead.append(method == "HEAD")
    }

    /// True between responses: no byte of a next response has been looked at.
    public var isIdle: Bool {
        if case .head = phase { return scanner.scanned == 0 && interimResponses == 0 }
        return false
    }

    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPResponsePart? {
        do throws(HTTPParseError) {
            switch phase {
            case .failed(let failure):
                throw failure
            case .head:
                guard let head = try nextHead(&buffer) else { return nil }
                return .head(head)
            case .body:
                switch try body.next(&buffer) {
                case nil:
                    return nil
                case .body(let bytes):
                    return .body(bytes)
                case .end(let trailers):
                    phase = .head
                    return .end(trailers: trailers)
                }
            }
        } catch {
            let failure = error.kind == .badResponse ? error : error.asBadResponse
            phase = .failed(failure)
            throw failure
        }
    }

    /// The upstream closed the connection (call after `next` has returned nil). Ends a close-delimited
    /// body; nil when no response was in progress; throws when one was cut short.
    public mutating func finish() throws(HTTPParseError) -> HTTPResponsePart? {
        switch phase {
        case .failed(let failure):
            throw failure
        case .head:
            if isIdle { return nil }
            let failure = HTTPParseError(kind: .badResponse, reason: "upstream closed inside a response head")
            phase = .failed(failure)
            throw failure
        case .body:
            if body.isUntilClose || body.isComplete {
                phase = .head
                return .end(trailers: HTTPHeaders())
            }
            let failure = HTTPParseError(kind: .badResponse, reason: "upstream closed before the end of the body")
            phase = .failed(failure)
            throw failure
        }
    }

    private mutating func nextHead(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPResponseHead? {
        while true {
            let limits = self.limits
            let isHead = pendingRequestIsHead.first ?? false
            let outcome: Result<(Int, HTTPResponseHead)?, HTTPParseError> = buffer.withReadableBuffer { p in
                switch scanner.scan(p, maxBytes: limits.maxHeaderBytes, maxLines: limits.maxHeaderCount + 1) {
                case .needMore: return .success(nil)
                case .failed(let failure): return .failure(failure)
                case .complete(let length):
                    return Self.parseHead(p, length: length, fieldCount: scanner.lines - 1, answeringHead: isHead)
                        .map { (length, $0) }
                }
            }
            switch outcome {
            case .failure(let failure):
                throw failure
            case .success(nil):
                return nil
            case .success(let (length, head)?):
                buffer.moveReaderIndex(forwardBy: length)
                scanner.reset()
                if head.status < 200 {
                    guard head.status != 101 else {
                        throw HTTPParseError(kind: .badResponse, reason: "unexpected 101 Switching Protocols")
                    }
                    interimResponses += 1
                    guard interimResponses <= Self.maxInterimResponses else {
                        throw HTTPParseError(kind: .badResponse, reason: "too many interim responses")
                    }
                    continue
                }
                interimResponses = 0
                if !pendingRequestIsHead.isEmpty { pendingRequestIsHead.removeFirst() }
                body = BodyDecoder(framing: head.framing, limits: limits, maxBodyBytes: .max)
                phase = .body
                return head
            }
        }
    }

    /// Parses a complete head `p[0..<length]` and decides the framing (RFC 9112 §6.3).
    static func parseHead(
        _ p: UnsafeBufferPointer<UInt8>, length: Int, fieldCount: Int, answeringHead: Bool
    ) -> Result<HTTPResponseHead, HTTPParseError> {
        func bad(_ reason: String, smuggling: Bool = false) -> Result<HTTPResponseHead, HTTPParseError> {
            .failure(HTTPParseError(kind: .badResponse, isSmuggling: smuggling, reason: reason))
        }
        var lineEnd = 0
        while p[lineEnd] != ASCII.cr { lineEnd += 1 }
        // "HTTP/1.1 200 OK": version, SP, three digits, then SP and a reason (possibly empty) or nothing.
        guard lineEnd >= 12, let version = RequestLine.parseVersion(UnsafeBufferPointer(rebasing: p[0..<8])),
            p[8] == ASCII.space, ASCII.isDigit(p[9]), ASCII.isDigit(p[10]), ASCII.isDigit(p[11]),
            lineEnd == 12 || p[12] == ASCII.space
        else { return bad("malformed status line") }
        guard version == .http1_1 || version == .http1_0 else { return bad("unsupported HTTP version") }
        let status = Int(p[9] - 0x30) * 100 + Int(p[10] - 0x30) * 10 + Int(p[11] - 0x30)
        guard (100...599).contains(status) else { return bad("status code out of range") }
        let reasonBytes = UnsafeBufferPointer(rebasing: p[min(13, lineEnd)..<lineEnd])
        guard reasonBytes.allSatisfy({ $0 == ASCII.tab || ($0 >= 0x20 && $0 != 0x7F) }) else {
            return bad("control character in the reason phrase")
        }

        var headers = HTTPHeaders()
        headers.reserveCapacity(fieldCount)
        var fields = FramingFields()
        if let failure = HeaderFieldParser.parse(p, from: lineEnd + 2, to: length - 2, into: &headers, framing: &fields)
        {
            return .failure(failure.asBadResponse)
        }

        let framing: BodyFraming
        if answeringHead || status < 200 || status == 204 || status == 304 {
            framing = .none
        } else if fields.transferEncodingCount > 0 {
            if fields.contentLength != nil { return bad("both Content-Length and Transfer-Encoding", smuggling: true) }
            if version == .http1_0 { return bad("Transfer-Encoding in an HTTP/1.0 response", smuggling: true) }
            if fields.transferEncodingCount > 1 { return bad("several Transfer-Encoding fields", smuggling: true) }
            switch fields.transferEncoding {
            case .chunked: framing = .chunked
            case .unsupported: return bad("unsupported transfer coding")
            case .obfuscated: return bad("obfuscated Transfer-Encoding", smuggling: true)
            }
        } else if let length = fields.contentLength {
            framing = .contentLength(length)
        } else {
            framing = .untilClose
        }

        let keepAlive: Bool =
            if framing == .untilClose || fields.connectionClose {
                false
            } else {
                version == .http1_1 || fields.connectionKeepAlive
            }
        // The reason phrase is informational (never forwarded as is): a lossy decoding is harmless.
        return .success(
            HTTPResponseHead(
                version: version, status: status, reason: String(decoding: reasonBytes, as: UTF8.self),
                headers: headers, framing: framing, keepAlive: keepAlive))
    }
}
