/// A tiny JSON object writer for log lines and error bodies: strings are escaped (quotes, backslash,
/// control characters as `\u00XX`) and bytes that are not valid UTF-8 become U+FFFD, so any input
/// yields one valid JSON object on one line.
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

    mutating func field(_ name: String, bytes value: [UInt8]?) {
        key(name)
        if let value { Self.appendString(value, to: &bytes) } else { appendRaw("null") }
        needsComma = true
    }

    mutating func field(_ name: String, _ value: Int64?) {
        key(name)
        if let value { appendRaw(String(value)) } else { appendRaw("null") }
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
        case .none: appendRaw("null")
        }
        needsComma = true
    }

    /// Milliseconds with up to three decimals (`12.5`, `0.031`); negative or non-finite values are written as 0.
    mutating func field(_ name: String, milliseconds value: Double?) {
        key(name)
        if let value { appendMilliseconds(value) } else { appendRaw("null") }
        needsComma = true
    }

    mutating func field(_ name: String, value: LogValue) {
        key(name)
        switch value {
        case .string(let s): Self.appendString(s.utf8, to: &bytes)
        case .int(let i): appendRaw(String(i))
        case .bool(let b): appendRaw(b ? "true" : "false")
        case .null: appendRaw("null")
        }
        needsComma = true
    }

    mutating func string(_ value: String?) {
        separate()
        if let value { Self.appendString(value.utf8, to: &bytes) } else { appendRaw("null") }
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

    private mutating func appendMilliseconds(_ value: Double) {
        guard value.isFinite, value > 0 else {
            appendRaw("0")
            return
        }
        // Fixed point with three decimals, trailing zeros trimmed: no Foundation formatter needed.
        let micros = (value * 1000).rounded()
        guard micros < 9.0e15 else {
            appendRaw(String(Int64(value)))
            return
        }
        let total = Int64(micros)
        appendRaw(String(total / 1000))
        var fraction = total % 1000
        if fraction == 0 { return }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        var text = String(fraction)
        while text.utf8.count < digits { text = "0" + text }
        bytes.append(UInt8(ascii: "."))
        appendRaw(text)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `input` as a quoted JSON string. Input is treated as bytes: well-formed UTF-8 is copied,
    /// anything else (stray continuation bytes, overlongs, surrogates, truncated sequences) becomes U+FFFD.
    static func appendString<C: Collection>(_ input: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.append(UInt8(ascii: "\""))
        if let done = input.withContiguousStorageIfAvailable({ appendEscaped($0, to: &out) }) {
            _ = done
        } else {
            let copy = Array(input)
            copy.withUnsafeBufferPointer { appendEscaped($0, to: &out) }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscaped(_ s: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            if c < 0x80 {
                switch c {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(c)
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(c)
                case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
                case 0..<0x20, 0x7F:
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    out.append(hexDigits[Int(c >> 4)])
                    out.append(hexDigits[Int(c & 0x0F)])
                default: out.append(c)
                }
                i += 1
                continue
            }
            let length = validSequenceLength(s, at: i)
            if length == 0 {
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                i += 1
                continue
            }
            // U+2028 and U+2029 are legal JSON but break JavaScript line-based readers of logs.
            if length == 3, c == 0xE2, s[i + 1] == 0x80, s[i + 2] == 0xA8 || s[i + 2] == 0xA9 {
                out.append(contentsOf: Array("\\u202".utf8))
                out.append(s[i + 2] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9"))
                i += 3
                continue
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: s[i..<i + length]))
            i += length
        }
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
