/// Finds the end of a head (start line, field lines, empty line) incrementally, checking line endings as
/// it goes, so bytes are looked at once however the head arrives and the limits are enforced before the
/// whole head is buffered.
///
/// Every decision depends only on the bytes seen, never on how they were split into reads: parsing one
/// byte at a time and all at once give the same outcome (the tests check it).
struct HeadScanner: Sendable {
    /// What the first line must look like.
    enum Mode: Sendable {
        /// A request line: its method is checked as it arrives, so garbage (a TLS hello on the plain
        /// port) is refused at the first byte.
        case request
        /// A status line: must start with "HTTP/".
        case response
        /// A trailer section: field lines only, and it may be empty.
        case trailers
    }

    enum Outcome {
        case needMore
        /// The head is complete: its length, the final empty line included.
        case complete(Int)
        case failed(HTTPParseError)
    }

    let mode: Mode
    /// Bytes from the reader index already looked at.
    private(set) var scanned = 0
    private var lineStart = 0
    /// Complete non-empty lines so far (start line included).
    private(set) var lines = 0
    private var sawMethodEnd = false

    init(mode: Mode) {
        self.mode = mode
    }

    mutating func reset() {
        scanned = 0
        lineStart = 0
        lines = 0
        sawMethodEnd = false
    }

    /// Continues the scan over `p` (the unread bytes, which start with the head). Looks at no byte past
    /// `maxBytes`; `maxLines` counts the start line too.
    mutating func scan(_ p: UnsafeBufferPointer<UInt8>, maxBytes: Int, maxLines: Int) -> Outcome {
        let end = min(p.count, maxBytes)
        var i = scanned
        while i < end {
            let b = p[i]
            if b > ASCII.cr || (b != ASCII.cr && b != ASCII.lf) {
                if lines == 0, let failure = checkStartLine(b, at: i) { return .failed(failure) }
                i += 1
                continue
            }
            guard b == ASCII.cr else { return .failed(.smuggling("bare LF in the head")) }
            // A CR must be followed by LF; when it is the last byte seen, wait for the next one.
            guard i + 1 < end else { break }
            guard p[i + 1] == ASCII.lf else { return .failed(.smuggling("bare CR in the head")) }
            if i == lineStart {
                if lines == 0 && mode != .trailers {
                    return .failed(.badRequest(mode == .request ? "empty request line" : "empty status line"))
                }
                scanned = i + 2
                return .complete(i + 2)
            }
            lines += 1
            if lines > maxLines { return .failed(.headerTooLarge("too many header fields")) }
            i += 2
            lineStart = i
        }
        scanned = i
        if p.count > maxBytes {
            return .failed(.headerTooLarge("head larger than \(maxBytes) bytes"))
        }
        return .needMore
    }

    private mutating func checkStartLine(_ b: UInt8, at i: Int) -> HTTPParseError? {
        switch mode {
        case .request:
            guard !sawMethodEnd else { return nil }
            if b == ASCII.space {
                if i == 0 { return .badRequest("empty method") }
                sawMethodEnd = true
            } else if !ASCII.isTokenChar(b) {
                return .badRequest("invalid character in the method")
            }
        case .response:
            if i < 5 && b != Self.httpPrefix(i) { return .badRequest("not an HTTP/1.x status line") }
        case .trailers:
            break
        }
        return nil
    }

    /// Byte `i` of "HTTP/".
    private static func httpPrefix(_ i: Int) -> UInt8 {
        switch i {
        case 0: UInt8(ascii: "H")
        case 1, 2: UInt8(ascii: "T")
        case 3: UInt8(ascii: "P")
        default: UInt8(ascii: "/")
        }
    }
}
