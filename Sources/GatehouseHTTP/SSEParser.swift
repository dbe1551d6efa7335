/// One Server-Sent Events event (WHATWG HTML §9.2.6), as the fields of one block of lines.
public struct SSEEvent: Sendable, Equatable {
    /// The `event` field, when the block has one.
    public var event: String?
    /// The `data` lines joined with "\n" (the last newline removed).
    public var data: String
    /// The `id` field of this block (an `id` holding NUL is ignored, as the standard says).
    public var id: String?
    /// The `retry` field when it is all ASCII digits.
    public var retry: Int?
    /// The block carries nothing a client acts on: only comments (`: keep-alive`), unknown fields, or
    /// nothing at all (stray empty lines). A proxy forwards such blocks untouched.
    public var isCommentOnly: Bool

    public init(
        event: String? = nil, data: String = "", id: String? = nil, retry: Int? = nil, isCommentOnly: Bool = false
    ) {
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
        self.isCommentOnly = isCommentOnly
    }
}

/// Incremental Server-Sent Events framing: lines end in CRLF, LF or CR; an empty line ends an event.
/// Each event comes back with the exact bytes that formed it, so a proxy can forward the events it
/// does not rewrite byte for byte; the concatenation of every `raw` plus `pendingBytes` is the input.
///
/// A CR that is the last byte fed may be the first half of a CRLF: its line waits for the next byte.
/// An upstream that ends lines with a lone CR therefore has each event delivered when the next one
/// starts; CRLF and LF streams (every common server) are delivered at once.
public struct SSEParser: Sendable {
    private var pending: [UInt8] = []
    /// Where the next line starts in `pending`.
    private var lineStart = 0
    private var current = Fields()
    private var atStreamStart = true

    private struct Fields: Sendable {
        var event: String?
        var data: [UInt8] = []
        var hasData = false
        var id: String?
        var retry: Int?
        var isCommentOnly = true
    }

    public init() {}

    /// Bytes of an event not yet complete.
    public var pendingBytes: [UInt8] { pending }

    /// How many bytes wait in an incomplete event (for memory bounds: an upstream that never ends an
    /// event grows this).
    public var pendingByteCount: Int { pending.count }

    public mutating func feed<C: Collection>(_ bytes: C) -> [(event: SSEEvent, raw: [UInt8])] where C.Element == UInt8 {
        pending.append(contentsOf: bytes)
        var events: [(event: SSEEvent, raw: [UInt8])] = []
        var eventStart = 0
        if atStreamStart {
            // A UTF-8 byte order mark at the very start of the stream is not part of the first field name.
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            let available = min(pending.count, 3)
            if pending.prefix(available).elementsEqual(bom.prefix(available)) {
                if available < 3 { return events }
                lineStart = 3
            }
            atStreamStart = false
        }
        let bytes = pending  // shares the storage; keeps `self` free for the field updates below
        bytes.withUnsafeBufferPointer { p in
            var i = lineStart
            while i < p.count {
                let b = p[i]
                guard b == ASCII.lf || b == ASCII.cr else {
                    i += 1
                    continue
                }
                let lineEnd = i
                if b == ASCII.cr {
                    guard i + 1 < p.count else { break }  // CR or CRLF? Wait for the next byte.
                    i += p[i + 1] == ASCII.lf ? 2 : 1
                } else {
                    i += 1
                }
                if lineEnd == lineStart {
                    events.append((dispatch(), Array(p[eventStart..<i])))
                    eventStart = i
                } else {
                    process(UnsafeBufferPointer(rebasing: p[lineStart..<lineEnd]))
                }
                lineStart = i
            }
        }
        if eventStart > 0 {
            pending.removeFirst(eventStart)
            lineStart -= eventStart
        }
        return events
    }

    private mutating func process(_ line: UnsafeBufferPointer<UInt8>) {
        if line[0] == ASCII.colon { return }  // a comment
        let colon = line.firstIndex(of: ASCII.colon) ?? line.count
        let name = UnsafeBufferPointer(rebasing: line[0..<colon])
        var valueStart = min(colon + 1, line.count)
        if valueStart < line.count && line[valueStart] == ASCII.space { valueStart += 1 }
        let value = UnsafeBufferPointer(rebasing: line[valueStart...])
        if name.elementsEqual("data".utf8) {
            if current.hasData { current.data.append(ASCII.lf) }
            current.data.append(contentsOf: value)
            current.hasData = true
            current.isCommentOnly = false
        } else if name.elementsEqual("event".utf8) {
            current.event = String(decoding: value, as: UTF8.self)
            current.isCommentOnly = false
        } else if name.elementsEqual("id".utf8) {
            if !value.contains(0) {
                current.id = String(decoding: value, as: UTF8.self)
                current.isCommentOnly = false
            }
        } else if name.elementsEqual("retry".utf8) {
            if !value.isEmpty && value.allSatisfy(ASCII.isDigit) {
                var n = 0
                var overflow = false
                for b in value {
                    let (t, o1) = n.multipliedReportingOverflow(by: 10)
                    let (s, o2) = t.addingReportingOverflow(Int(b - 0x30))
                    overflow = overflow || o1 || o2
                    n = s
                }
                if !overflow {
                    current.retry = n
                    current.isCommentOnly = false
                }
            }
        }
    }

    private mutating func dispatch() -> SSEEvent {
        let fields = current
        current = Fields()
        return SSEEvent(
            event: fields.event, data: String(decoding: fields.data, as: UTF8.self), id: fields.id,
            retry: fields.retry, isCommentOnly: fields.isCommentOnly)
    }
}
