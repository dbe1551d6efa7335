/// Incremental HTTP/1.1 request parser (RFC 9112), strict by design: a security gateway that reads a
/// message differently from the server behind it is a request-smuggling vector, so every ambiguity is
/// refused rather than resolved.
///
/// A decoder that says "need more": `next` returns the next part or nil until more bytes arrive. After
/// `.end` it is ready for the following request on the same connection (keep-alive, pipelining); it
/// never consumes a byte of that next request before it is asked for it. After a refusal it keeps
/// throwing the same error: the connection must be answered and closed.
public struct HTTPRequestParser: Sendable {
    private enum Phase: Sendable {
        case head
        case body
        case failed(HTTPParseError)
    }

    public let limits: HTTPLimits
    private var phase = Phase.head
    private var scanner = HeadScanner(mode: .request)
    private var body = BodyDecoder(framing: .none, limits: HTTPLimits(), maxBodyBytes: 0)
    private var skippedEmptyLines = 0

    /// Empty lines tolerated before a request line (RFC 9112 §2.2 asks for at least one).
    static let maxSkippedEmptyLines = 16

    public init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// True between messages: no byte of a next request has been looked at yet.
    public var isIdle: Bool {
        if case .head = phase { return scanner.scanned == 0 }
        return false
    }

    /// The next part, or nil when more bytes are needed. Consumes from `buffer` exactly what it returns
    /// (head bytes, body bytes and their framing), never bytes of the following request.
    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPRequestPart? {
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
            phase = .failed(error)
            throw error
        }
    }

    private mutating func nextHead(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPRequestHead? {
        if scanner.scanned == 0 {
            while let first = buffer.readableBytesView.first, first == ASCII.cr || first == ASCII.lf {
                let view = buffer.readableBytesView
                guard first == ASCII.cr else { throw .smuggling("bare LF before the request line") }
                guard view.count >= 2 else { return nil }
                guard view[view.startIndex + 1] == ASCII.lf else { throw .smuggling("bare CR before the request line") }
                skippedEmptyLines += 1
                guard skippedEmptyLines <= Self.maxSkippedEmptyLines else {
                    throw .badRequest("too many empty lines before the request line")
                }
                buffer.moveReaderIndex(forwardBy: 2)
            }
        }
        let limits = self.limits
        let outcome: Result<(Int, HTTPRequestHead)?, HTTPParseError> = buffer.withReadableBuffer { p in
            switch scanner.scan(p, maxBytes: limits.maxHeaderBytes, maxLines: limits.maxHeaderCount + 1) {
            case .needMore: return .success(nil)
            case .failed(let failure): return .failure(failure)
            case .complete(let length):
                return Self.parseHead(p, length: length, fieldCount: scanner.lines - 1, limits: limits).map {
                    (length, $0)
                }
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
            skippedEmptyLines = 0
            body = BodyDecoder(framing: head.framing, limits: limits, maxBodyBytes: limits.maxBodyBytes)
            phase = .body
            return head
        }
    }

    /// Parses a complete head `p[0..<length]` (request line, fields, empty line).
    static func parseHead(
        _ p: UnsafeBufferPointer<UInt8>, length: Int, fieldCount: Int, limits: HTTPLimits
    ) -> Result<HTTPRequestHead, HTTPParseError> {
        var lineEnd = 0
        while p[lineEnd] != ASCII.cr { lineEnd += 1 }
        let line: RequestLine
        switch RequestLine.parse(UnsafeBufferPointer(rebasing: p[0..<lineEnd])) {
        case .success(let parsed): line = parsed
        case .failure(let failure): return .failure(failure)
        }

        var headers = HTTPHeaders()
        headers.reserveCapacity(fieldCount)
        var fields = FramingFields()
        if let failure = HeaderFieldParser.parse(p, from: lineEnd + 2, to: length - 2, into: &headers, framing: &fields)
        {
            return .failure(failure)
        }

        let framing: BodyFraming
        if fields.transferEncodingCount > 0 {
            if fields.contentLength != nil {
                return .failure(.smuggling("both Content-Length and Transfer-Encoding"))
            }
            if line.version == .http1_0 {
                return .failure(.smuggling("Transfer-Encoding in an HTTP/1.0 request"))
            }
            if fields.transferEncodingCount > 1 {
                return .failure(.unsupportedCoding("several Transfer-Encoding fields", smuggling: true))
            }
            switch fields.transferEncoding {
            case .chunked: framing = .chunked
            case .unsupported: return .failure(.unsupportedCoding("unsupported transfer coding", smuggling: false))
            case .obfuscated: return .failure(.unsupportedCoding("obfuscated Transfer-Encoding", smuggling: true))
            }
        } else if let length = fields.contentLength {
            framing = .contentLength(length)
        } else {
            framing = .none
        }

        if line.version == .http1_1 && fields.hostCount == 0 { return .failure(.badRequest("missing Host")) }
        if fields.hostCount > 1 { return .failure(.badRequest("several Host fields")) }
        if !fields.hostIsValid { return .failure(.badRequest("invalid Host")) }

        if case .contentLength(let length) = framing, length > limits.maxBodyBytes {
            return .failure(.bodyTooLarge("Content-Length above \(limits.maxBodyBytes)"))
        }

        let keepAlive =
            if fields.connectionClose { false } else { line.version == .http1_1 || fields.connectionKeepAlive }
        return .success(
            HTTPRequestHead(
                method: line.method, target: line.target, version: line.version, headers: headers,
                framing: framing, keepAlive: keepAlive,
                // RFC 9110 §10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
                expectsContinue: fields.expectsContinue && line.version == .http1_1))
    }
}

/// `method SP request-target SP HTTP-version`, checked strictly.
struct RequestLine {
    var method: String
    var target: String
    var version: HTTPVersion

    static func parse(_ line: UnsafeBufferPointer<UInt8>) -> Result<RequestLine, HTTPParseError> {
        let malformed = Result<RequestLine, HTTPParseError>.failure(.badRequest("malformed request line"))
        guard let firstSpace = line.firstIndex(of: ASCII.space) else { return malformed }
        let method = UnsafeBufferPointer(rebasing: line[0..<firstSpace])
        guard !method.isEmpty, method.allSatisfy(ASCII.isTokenChar) else {
            return .failure(.badRequest("invalid method"))
        }
        let afterMethod = firstSpace + 1
        guard let secondSpace = line[afterMethod...].firstIndex(of: ASCII.space) else { return malformed }
        let target = UnsafeBufferPointer(rebasing: line[afterMethod..<secondSpace])
        let versionBytes = UnsafeBufferPointer(rebasing: line[(secondSpace + 1)...])
        guard !target.isEmpty else { return malformed }
        guard let version = parseVersion(versionBytes) else { return malformed }
        guard version == .http1_1 || version == .http1_0 else {
            return .failure(.badRequest("unsupported HTTP version"))
        }
        // Visible ASCII only. A fragment is never sent (RFC 9110 §7.1); refusing "#" keeps the path the
        // gateway checks equal to the path a server that strips fragments would route on.
        guard target.allSatisfy({ ASCII.isVisible($0) && $0 != UInt8(ascii: "#") }) else {
            return .failure(.badRequest("invalid character in the request-target"))
        }
        let methodString = String(decoding: method, as: UTF8.self)
        guard isValidTarget(target, method: method) else { return .failure(.badRequest("invalid request-target")) }
        return .success(
            RequestLine(method: methodString, target: String(decoding: target, as: UTF8.self), version: version))
    }

    /// "HTTP/" DIGIT "." DIGIT, exactly eight bytes.
    static func parseVersion(_ bytes: UnsafeBufferPointer<UInt8>) -> HTTPVersion? {
        guard bytes.count == 8, bytes.prefix(5).elementsEqual("HTTP/".utf8),
            ASCII.isDigit(bytes[5]), bytes[6] == UInt8(ascii: "."), ASCII.isDigit(bytes[7])
        else { return nil }
        return HTTPVersion(major: Int(bytes[5] - 0x30), minor: Int(bytes[7] - 0x30))
    }

    /// origin-form ("/…"); "*" for OPTIONS; authority-form for CONNECT; absolute-form with an http or
    /// https scheme, a non-empty authority without userinfo.
    private static func isValidTarget(_ target: UnsafeBufferPointer<UInt8>, method: UnsafeBufferPointer<UInt8>) -> Bool
    {
        if target[0] == UInt8(ascii: "/") { return true }
        if target.count == 1 && target[0] == UInt8(ascii: "*") {
            return method.elementsEqual("OPTIONS".utf8)
        }
        if method.elementsEqual("CONNECT".utf8) {
            return target.allSatisfy(ASCII.isHostChar)
        }
        let schemeLength: Int
        if ASCII.equalsIgnoringCase(target.prefix(7), "http://") {
            schemeLength = 7
        } else if ASCII.equalsIgnoringCase(target.prefix(8), "https://") {
            schemeLength = 8
        } else {
            return false
        }
        var i = schemeLength
        while i < target.count && target[i] != UInt8(ascii: "/") && target[i] != UInt8(ascii: "?") {
            guard ASCII.isHostChar(target[i]) else { return false }
            i += 1
        }
        return i > schemeLength
    }
}
