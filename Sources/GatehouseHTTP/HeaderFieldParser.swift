/// What the field lines said about framing and the connection, gathered while they are parsed so the
/// head is walked once.
struct FramingFields: Sendable {
    var contentLength: Int?
    /// Digits of the first Content-Length value, to tell "5" and "05" apart: both must be byte-identical.
    var contentLengthDigits = 0
    var transferEncodingCount = 0
    /// The first Transfer-Encoding value (trimmed), when there is one.
    var transferEncoding: TransferCoding = .chunked
    var hostCount = 0
    var hostIsValid = true
    var connectionClose = false
    var connectionKeepAlive = false
    var expectsContinue = false

    /// How a Transfer-Encoding value reads.
    enum TransferCoding: Sendable, Equatable {
        /// Exactly `chunked` (case-insensitive): the only coding accepted.
        case chunked
        /// A well-formed list of registered codings: valid HTTP, just not supported here.
        case unsupported
        /// Anything a parser could read differently: unknown codings, `identity`, `chunked` twice or not
        /// last, quotes, control characters, empty elements.
        case obfuscated
    }
}

/// Parses field lines (RFC 9112 §5) from a head whose line endings the `HeadScanner` already checked
/// (every CR is followed by LF and every LF preceded by CR).
enum HeaderFieldParser {
    /// Parses the field lines in `p[start..<end]` (`end` is where the final empty line begins) into
    /// `headers`, noting the framing fields in `framing`. Returns the first refusal, if any.
    static func parse(
        _ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, into headers: inout HTTPHeaders,
        framing: inout FramingFields
    ) -> HTTPParseError? {
        var position = start
        while position < end {
            var lineEnd = position
            while p[lineEnd] != ASCII.cr { lineEnd += 1 }
            if let failure = parseLine(p, position, lineEnd, into: &headers, framing: &framing) {
                return failure
            }
            position = lineEnd + 2
        }
        return nil
    }

    private static func parseLine(
        _ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into headers: inout HTTPHeaders,
        framing: inout FramingFields
    ) -> HTTPParseError? {
        if ASCII.isWhitespace(p[start]) { return .smuggling("obsolete line folding") }
        var colon = start
        while colon < end && ASCII.isTokenChar(p[colon]) { colon += 1 }
        guard colon < end else { return .badRequest("field line without a colon") }
        let stop = p[colon]
        if stop != ASCII.colon {
            if ASCII.isWhitespace(stop) { return .smuggling("whitespace between a field name and its colon") }
            if stop < 0x20 || stop == 0x7F { return .smuggling("control character in a field name") }
            return .badRequest("invalid character in a field name")
        }
        if colon == start { return .badRequest("empty field name") }

        var valueStart = colon + 1
        var valueEnd = end
        while valueStart < valueEnd && ASCII.isWhitespace(p[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart && ASCII.isWhitespace(p[valueEnd - 1]) { valueEnd -= 1 }
        var isASCII = true
        var hasControl = false
        for i in valueStart..<valueEnd {
            let b = p[i]
            if b >= 0x80 {
                isASCII = false
            } else if (b < 0x20 && b != ASCII.tab) || b == 0x7F {
                hasControl = true
            }
        }

        let name = UnsafeBufferPointer(rebasing: p[start..<colon])
        let valueBytes = UnsafeBufferPointer(rebasing: p[valueStart..<valueEnd])
        let known = KnownField(name)
        if hasControl {
            // A control character in Transfer-Encoding is the classic TE.TE obfuscation: refused as an
            // unsupported coding (501) after the CL+TE check has had its say.
            guard known == .transferEncoding else { return .smuggling("control character in a field value") }
        }
        let value: String
        if isASCII {
            value = String(decoding: valueBytes, as: UTF8.self)
        } else if let decoded = String(validating: valueBytes, as: UTF8.self) {
            value = decoded
        } else {
            // Strings carry headers onward; a lossy decoding would forward other bytes than received.
            return .badRequest("field value is not UTF-8")
        }

        switch known {
        case .contentLength:
            if let failure = noteContentLength(valueBytes, in: &framing) { return failure }
        case .transferEncoding:
            framing.transferEncodingCount += 1
            if framing.transferEncodingCount == 1 {
                framing.transferEncoding = hasControl ? .obfuscated : classifyTransferCoding(valueBytes)
            }
        case .host:
            framing.hostCount += 1
            if !valueBytes.allSatisfy(ASCII.isHostChar) { framing.hostIsValid = false }
        case .connection:
            forEachElement(valueBytes) { element in
                if ASCII.equalsIgnoringCase(element, "close") { framing.connectionClose = true }
                if ASCII.equalsIgnoringCase(element, "keep-alive") { framing.connectionKeepAlive = true }
            }
        case .expect:
            forEachElement(valueBytes) { element in
                if ASCII.equalsIgnoringCase(element, "100-continue") { framing.expectsContinue = true }
            }
        case .other:
            break
        }
        headers.add(name: String(decoding: name, as: UTF8.self), value: value)
        return nil
    }

    /// Content-Length is 1*DIGIT, nothing else: no sign, no inner space, no list. Repeated fields must be
    /// byte-identical. RFC 9110 §8.6 lets a recipient accept "5, 5"; we refuse every comma because
    /// parsers disagree on lists, and a disagreement on the body length is a desync.
    private static func noteContentLength(
        _ value: UnsafeBufferPointer<UInt8>, in framing: inout FramingFields
    ) -> HTTPParseError? {
        guard !value.isEmpty else { return .smuggling("empty Content-Length") }
        if value.contains(ASCII.comma) { return .smuggling("comma-separated Content-Length") }
        var length = 0
        for b in value {
            guard ASCII.isDigit(b) else { return .smuggling("invalid Content-Length") }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(b - 0x30))
            if overflow1 || overflow2 { return .smuggling("Content-Length overflows") }
            length = sum
        }
        if let previous = framing.contentLength {
            if previous != length || framing.contentLengthDigits != value.count {
                return .smuggling("differing Content-Length values")
            }
        } else {
            framing.contentLength = length
            framing.contentLengthDigits = value.count
        }
        return nil
    }

    /// Codings a client may honestly send (the IANA registry's common entries), all unsupported here.
    private static let registeredCodings: [StaticString] = [
        "gzip", "x-gzip", "deflate", "compress", "x-compress", "br", "zstd",
    ]

    static func classifyTransferCoding(_ value: UnsafeBufferPointer<UInt8>) -> FramingFields.TransferCoding {
        if ASCII.equalsIgnoringCase(value, "chunked") { return .chunked }
        var elements = 0
        var sawChunked = false
        var isClean = true
        forEachElement(value, keepingEmpty: true) { element in
            guard isClean else { return }
            if sawChunked || element.isEmpty || !element.allSatisfy(ASCII.isTokenChar) {
                isClean = false  // chunked not last, an empty element, quotes or parameters
                return
            }
            elements += 1
            if ASCII.equalsIgnoringCase(element, "chunked") {
                sawChunked = true
            } else if !registeredCodings.contains(where: { ASCII.equalsIgnoringCase(element, $0) }) {
                isClean = false
            }
        }
        return isClean && elements > 0 ? .unsupported : .obfuscated
    }

    /// Calls `body` with each comma-separated element of `value`, OWS-trimmed; empty ones skipped unless
    /// `keepingEmpty`.
    static func forEachElement(
        _ value: UnsafeBufferPointer<UInt8>, keepingEmpty: Bool = false,
        _ body: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != ASCII.comma { end += 1 }
            var a = start
            var b = end
            while a < b && ASCII.isWhitespace(value[a]) { a += 1 }
            while b > a && ASCII.isWhitespace(value[b - 1]) { b -= 1 }
            if a < b || keepingEmpty { body(UnsafeBufferPointer(rebasing: value[a..<b])) }
            start = end + 1
        }
    }

    /// The fields whose meaning the parser itself needs.
    private enum KnownField {
        case contentLength, transferEncoding, host, connection, expect, other

        init(_ name: UnsafeBufferPointer<UInt8>) {
            switch name.count {
            case 4 where ASCII.equalsIgnoringCase(name, "host"): self = .host
            case 6 where ASCII.equalsIgnoringCase(name, "expect"): self = .expect
            case 10 where ASCII.equalsIgnoringCase(name, "connection"): self = .connection
            case 14 where ASCII.equalsIgnoringCase(name, "content-length"): self = .contentLength
            case 17 where ASCII.equalsIgnoringCase(name, "transfer-encoding"): self = .transferEncoding
            default: self = .other
            }
        }
    }
}
