/// A tiny JSON object writer for log lines and error bodies: strings are escaped (quotes, backslash,
/// control characters as `\u00XX`) and bytes that are not valid UTF-8 become U+FFFD, so any input
/// yields one valid JSON object on one line.
///
/// Every value is written straight into `bytes`: no temporary arrays or `String`s per field, because
/// the log lines are built on the per-request path (three lines per proxied request).
struct JSONText {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// Ends a log line with `\n` (after the last `endObject()`).
    mutating func endLine() {
        bytes.append(0x0A)
    }

    /// Writes `"name":` and leaves the writer ready for the value.
    mutating func key(_ name: String) {
        separate()
        Self.appendString(name.utf8, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func field(_ name: String, _ value: String?) {
        key(name)
        string(value)
    }

    /// Writes at most the first `maxBytes` UTF-8 bytes of `value` (or null). The cut may fall inside a
    /// multi-byte character; its remaining bytes then become U+FFFD like any other invalid UTF-8.
    mutating func field(_ name: String, _ value: String?, maxBytes: Int) {
        key(name)
        if let value { Self.appendString(value.utf8, maxBytes: maxBytes, to: &bytes) } else { appendNull() }
        needsComma = true
    }

    mutating func field(_ name: String, bytes value: [UInt8]?) {
        key(name)
        if let value { Self.appendString(value, to: &bytes) } else { appendNull() }
        needsComma = true
    }

    mutating func field(_ name: String, _ value: Int64?) {
        key(name)
        if let value { Self.appendInteger(value, to: &bytes) } else { appendNull() }
        needsComma = true
    }

    mutating func field(_ name: String, _ value: Int?) {
        field(name, value.map(Int64.init))
    }

    mutating func field(_ name: String, _ value: Bool?) {
        key(name)
        switch value {
        case .some(true): appendRaw("true")
        case .some(false): appendRaw("false")
        case .none: appendNull()
        }
        needsComma = true
    }

    /// Milliseconds with up to three decimals (`12.5`, `0.031`); negative or non-finite values are written as 0.
    mutating func field(_ name: String, milliseconds value: Double?) {
        key(name)
        if let value { appendMilliseconds(value) } else { appendNull() }
        needsComma = true
    }

    mutating func field(_ name: String, value: LogValue) {
        key(name)
        writeValue(value, maxStringBytes: Int.max)
        needsComma = true
    }

    /// Like `field(_:value:)`, with a string value cut to its first `maxStringBytes` UTF-8 bytes.
    mutating func field(_ name: String, value: LogValue, maxStringBytes: Int) {
        key(name)
        writeValue(value, maxStringBytes: maxStringBytes)
        needsComma = true
    }

    /// Writes `"name":"<timestamp>"`, the timestamp formatted in place by `LogFormat.appendTimestamp`.
    mutating func field(_ name: String, timestampMillis millis: Int64) {
        key(name)
        bytes.append(UInt8(ascii: "\""))
        LogFormat.appendTimestamp(millis, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    mutating func string(_ value: String?) {
        separate()
        if let value { Self.appendString(value.utf8, to: &bytes) } else { appendNull() }
        needsComma = true
    }

    /// Writes already-valid JSON text as a value.
    mutating func rawValue(_ text: String) {
        separate()
        appendRaw(text)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func appendRaw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func appendNull() {
        appendRaw("null")
    }

    private mutating func writeValue(_ value: LogValue, maxStringBytes: Int) {
        switch value {
        case .string(let s): Self.appendString(s.utf8, maxBytes: maxStringBytes, to: &bytes)
        case .int(let i): Self.appendInteger(i, to: &bytes)
        case .bool(let b): appendRaw(b ? "true" : "false")
        case .null: appendNull()
        }
    }

    private mutating func appendMilliseconds(_ value: Double) {
        guard value.isFinite, value > 0 else {
            appendRaw("0")
            return
        }
        // Fixed point with three decimals, trailing zeros trimmed: no Foundation formatter needed.
        let micros = (value * 1000).rounded()
        guard micros < 9.0e15 else {
            Self.appendInteger(Int64(value), to: &bytes)
            return
        }
        let total = Int64(micros)
        Self.appendInteger(total / 1000, to: &bytes)
        var fraction = total % 1000
        if fraction == 0 { return }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        bytes.append(UInt8(ascii: "."))
        Self.appendDecimal(UInt64(fraction), minimumDigits: digits, to: &bytes)
    }

    /// Appends `value` in decimal, with a leading `-` when negative (`Int64.min` included).
    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude, minimumDigits: 1, to: &out)
    }

    /// Appends `value` in decimal, left-padded with zeros to `minimumDigits`. The digits are written
    /// into their final place (zeros appended first, then overwritten from the right) so no temporary
    /// array is needed.
    static func appendDecimal(_ value: UInt64, minimumDigits: Int, to out: inout [UInt8]) {
        var count = 1
        var rest = value / 10
        while rest > 0 {
            count += 1
            rest /= 10
        }
        count = max(count, minimumDigits)
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        var position = out.count - 1
        var v = value
        while v > 0 {
            out[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
            v /= 10
            position -= 1
        }
    }

    /// Appends the first `maxBytes` bytes of `input` as a quoted JSON string. Input is treated as
    /// bytes: well-formed UTF-8 is copied, anything else (stray continuation bytes, overlongs,
    /// surrogates, truncated sequences) becomes U+FFFD.
    static func appendString<C: Collection>(_ input: C, maxBytes: Int = Int.max, to out: inout [UInt8])
    where C.Element == UInt8 {
        out.append(UInt8(ascii: "\""))
        // Native Swift strings and arrays are contiguous; the copy is only for other collections
        // (e.g. a bridged NSString on Darwin).
        let done: Void? = input.withContiguousStorageIfAvailable { whole in
            appendEscaped(UnsafeBufferPointer(rebasing: whole.prefix(maxBytes)), to: &out)
        }
        if done == nil {
            let copy = Array(input.prefix(maxBytes))
            copy.withUnsafeBufferPointer { appendEscaped($0, to: &out) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Whether `c` is copied as it is: printable ASCII other than `"` and `\`.
    @inline(__always)
    private static func isPlainASCII(_ c: UInt8) -> Bool {
        c >= 0x20 && c < 0x7F && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\")
    }

    /// Escapes `s` into `out`. Bytes that need no change (printable ASCII other than `"` and `\`, and
    /// well-formed UTF-8 sequences other than U+2028/U+2029) are gathered into runs that are copied
    /// with one `append(contentsOf:)`; only the bytes that change are written one by one.
    private static func appendEscaped(_ s: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let n = s.count
        var runStart = 0
        var i = 0
        while i < n {
            let c = s[i]
            if isPlainASCII(c) {
                i += 1
                continue
            }
            var length = 0
            if c >= 0x80 {
                length = validSequenceLength(s, at: i)
                // U+2028 and U+2029 are legal JSON but break JavaScript line-based readers of logs.
                let isLineSeparator =
                    length == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)
                if length > 0 && !isLineSeparator {
                    i += length
                    continue
                }
            }
            // `c` starts something that is written differently: flush the run before it.
            if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: s[runStart..<i])) }
            if c < 0x80 {
                appendEscapedASCII(c, to: &out)
                i += 1
            } else if length == 0 {
                out.append(0xEF)
                out.append(0xBF)
                out.append(0xBD)
                i += 1
            } else {
                // U+2028 or U+2029.
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "2"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "2"))
                out.append(s[i + 2] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9"))
                i += 3
            }
            runStart = i
        }
        if runStart < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: s[runStart..<n])) }
    }

    /// The escape of an ASCII byte that `isPlainASCII` refuses: `\"`, `\\`, `\n`, `\r`, `\t`, or
    /// `\u00XX` for the other control characters and DEL.
    private static func appendEscapedASCII(_ c: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(c)
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        default:
            out.append(UInt8(ascii: "u"))
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "0"))
            out.append(hexDigit(c >> 4))
            out.append(hexDigit(c & 0x0F))
        }
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// The length of the well-formed UTF-8 sequence starting at `i` (RFC 3629 table), or 0.
    private static func validSequenceLength(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let c = s[i]
        let n = s.count
        func cont(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            i + k < n && range.contains(s[i + k])
        }
        switch c {
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0...0xBF) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80...0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90...0xBF) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80...0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }
}

/// A scalar value of a log detail field.
public enum LogValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral
{
    case string(String), int(Int64), bool(Bool), null

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
