/// Takes a message body off the buffer according to its framing: fixed length, chunked (RFC 9112 §7.1,
/// strictly: 1 to 16 hex digits, bounded extensions, CRLF exactly where it belongs, trailers) or until
/// the connection closes. Shared by the request and the response parser.
struct BodyDecoder: Sendable {
    enum State: Sendable {
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(HeadScanner)
        case untilClose
    }

    enum Event {
        case body(ArraySlice<UInt8>)
        case end(trailers: HTTPHeaders)
    }

    private(set) var state: State
    private let limits: HTTPLimits
    private let maxBodyBytes: Int
    /// Decoded bytes announced by chunk sizes so far.
    private var announced = 0

    /// `maxBodyBytes` bounds the chunked total (a fixed length was checked against it with the head).
    init(framing: BodyFraming, limits: HTTPLimits, maxBodyBytes: Int) {
        self.limits = limits
        self.maxBodyBytes = maxBodyBytes
        switch framing {
        case .none: state = .fixed(remaining: 0)
        case .contentLength(let n): state = .fixed(remaining: n)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
    }

    /// True when the body is complete except for the `.end` still to be returned.
    var isComplete: Bool {
        if case .fixed(0) = state { return true }
        return false
    }

    var isUntilClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// The next piece of the body, or nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> Event? {
        while true {
            switch state {
            case .fixed(let remaining):
                if remaining == 0 { return .end(trailers: HTTPHeaders()) }
                if buffer.isEmpty { return nil }
                let n = min(remaining, buffer.readableBytes)
                state = .fixed(remaining: remaining - n)
                return .body(buffer.readSlice(length: n))

            case .untilClose:
                if buffer.isEmpty { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes))

            case .chunkSize:
                let outcome = buffer.withReadableBuffer { Self.parseChunkSizeLine($0, limits: limits) }
                switch outcome {
                case .needMore:
                    return nil
                case .failed(let failure):
                    throw failure
                case .size(let size, let lineLength):
                    buffer.moveReaderIndex(forwardBy: lineLength)
                    if size == 0 {
                        state = .trailers(HeadScanner(mode: .trailers))
                    } else {
                        guard size <= maxBodyBytes - announced else {
                            throw .bodyTooLarge("chunked body larger than \(maxBodyBytes) bytes")
                        }
                        announced += size
                        state = .chunkData(remaining: size)
                    }
                }

            case .chunkData(let remaining):
                if buffer.isEmpty { return nil }
                let n = min(remaining, buffer.readableBytes)
                state = n == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - n)
                return .body(buffer.readSlice(length: n))

            case .chunkDataEnd:
                let view = buffer.readableBytesView
                guard let first = view.first else { return nil }
                guard first == ASCII.cr else { throw .smuggling("chunk data not followed by CRLF") }
                guard view.count >= 2 else { return nil }
                guard view[view.startIndex + 1] == ASCII.lf else { throw .smuggling("chunk data not followed by CRLF") }
                buffer.moveReaderIndex(forwardBy: 2)
                state = .chunkSize

            case .trailers(var scanner):
                let limits = self.limits
                let outcome: Result<(Int, HTTPHeaders)?, HTTPParseError> = buffer.withReadableBuffer { p in
                    switch scanner.scan(p, maxBytes: limits.maxHeaderBytes, maxLines: limits.maxHeaderCount) {
                    case .needMore: return .success(nil)
                    case .failed(let failure): return .failure(failure)
                    case .complete(let length):
                        var trailers = HTTPHeaders()
                        trailers.reserveCapacity(scanner.lines)
                        var fields = FramingFields()
                        if let failure = HeaderFieldParser.parse(
                            p, from: 0, to: length - 2, into: &trailers, framing: &fields)
                        {
                            return .failure(failure)
                        }
                        // RFC 9110 §6.5.1 forbids framing and routing fields in trailers; a server that
                        // merges trailers into the header section would read them, so they are refused.
                        if fields.contentLength != nil || fields.transferEncodingCount > 0 || fields.hostCount > 0 {
                            return .failure(.smuggling("framing or Host field in the trailers"))
                        }
                        return .success((length, trailers))
                    }
                }
                switch outcome {
                case .failure(let failure):
                    throw failure
                case .success(nil):
                    state = .trailers(scanner)
                    return nil
                case .success(let (length, trailers)?):
                    buffer.moveReaderIndex(forwardBy: length)
                    state = .fixed(remaining: 0)
                    return .end(trailers: trailers)
                }
            }
        }
    }

    enum ChunkSizeOutcome {
        case needMore
        /// The chunk size and the length of its line, CRLF included.
        case size(Int, lineLength: Int)
        case failed(HTTPParseError)
    }

    /// Reads `chunk-size [chunk-ext] CRLF` at the start of `p`. The size is 1 to 16 hex digits;
    /// extensions (`;name[=token|quoted-string]`, with optional whitespace around `;` and `=`) are checked
    /// and dropped.
    static func parseChunkSizeLine(_ p: UnsafeBufferPointer<UInt8>, limits: HTTPLimits) -> ChunkSizeOutcome {
        guard !p.isEmpty else { return .needMore }
        var digits = 0
        while digits < min(p.count, 17) && ASCII.hexValue(p[digits]) != nil { digits += 1 }
        if digits == 0 { return .failed(.smuggling("invalid chunk size")) }
        if digits > 16 { return .failed(.smuggling("chunk size longer than 16 hex digits")) }

        // The line can hold 16 digits, the extensions, CR and LF; past that it is refused unseen.
        let window = 16 + limits.maxChunkExtensionBytes + 2
        var lf = digits
        let searchEnd = min(p.count, window)
        while lf < searchEnd && p[lf] != ASCII.lf { lf += 1 }
        guard lf < searchEnd else {
            return p.count >= window ? .failed(.badRequest("chunk extensions too long")) : .needMore
        }
        guard p[lf - 1] == ASCII.cr else { return .failed(.smuggling("bare LF in a chunk-size line")) }
        let cr = lf - 1
        if cr < digits { return .failed(.smuggling("invalid chunk size")) }

        var size = 0
        for i in 0..<digits {
            // `!`: the loop above counted these bytes as hex digits.
            let (shifted, overflow) = size.multipliedReportingOverflow(by: 16)
            if overflow { return .failed(.smuggling("chunk size overflows")) }
            size = shifted | ASCII.hexValue(p[i])!
        }
        if cr - digits > limits.maxChunkExtensionBytes { return .failed(.badRequest("chunk extensions too long")) }
        if let failure = checkExtensions(p, from: digits, to: cr) { return .failed(failure) }
        return .size(size, lineLength: lf + 1)
    }

    /// `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`, ext-val = token / quoted-string.
    private static func checkExtensions(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int)
        -> HTTPParseError?
    {
        let invalid = HTTPParseError.smuggling("invalid chunk extension")
        var i = start
        func skipWhitespace() { while i < end && ASCII.isWhitespace(p[i]) { i += 1 } }
        func token() -> Bool {
            let first = i
            while i < end && ASCII.isTokenChar(p[i]) { i += 1 }
            return i > first
        }
        while true {
            skipWhitespace()
            if i == end { return nil }
            guard p[i] == ASCII.semicolon else { return invalid }
            i += 1
            skipWhitespace()
            guard token() else { return invalid }
            skipWhitespace()
            guard i < end, p[i] == ASCII.equals else { continue }
            i += 1
            skipWhitespace()
            guard i < end else { return invalid }
            if p[i] == ASCII.quote {
                i += 1
                var closed = false
                while i < end {
                    let b = p[i]
                    if b == ASCII.quote {
                        closed = true
                        i += 1
                        break
                    }
                    if b == ASCII.backslash {
                        i += 1
                        guard i < end, p[i] == ASCII.tab || p[i] >= 0x20 && p[i] != 0x7F else { return invalid }
                    } else if !(b == ASCII.tab || b >= 0x20 && b != 0x7F) {
                        return invalid
                    }
                    i += 1
                }
                guard closed else { return invalid }
            } else if !token() {
                return invalid
            }
        }
    }
}
