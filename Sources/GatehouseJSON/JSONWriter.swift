/// Compact JSON output: members in their order, no whitespace, non-ASCII as raw UTF-8.
public enum JSONWriter {
    public static func serialize(_ value: JSONValue) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(128)
        write(value, into: &out)
        return out
    }

    /// Appends the compact form of `value`. A `.number` whose text is not a valid JSON number (only
    /// possible for a value built by hand) is written as `null`, so the output is always valid JSON.
    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null:
            out.append(contentsOf: nullBytes)
        case .bool(let b):
            out.append(contentsOf: b ? trueBytes : falseBytes)
        case .number(let text):
            var text = text
            text.withUTF8 { t in
                if JSONNumber.isValid(t) {
                    out.append(contentsOf: t)
                } else {
                    out.append(contentsOf: nullBytes)
                }
            }
        case .string(let s):
            writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (k, element) in elements.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (k, member) in object.members.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(member.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `s` quoted, with `"` and `\` escaped and control characters as `\u00XX`.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            let n = bytes.count
            var runStart = 0
            var k = 0
            while k < n {
                // Eight bytes at a time while none needs escaping (SWAR: high bit set in the bytes
                // that are < 0x20, '"' or '\'; bytes >= 0x80 never trigger).
                while k + 8 <= n {
                    let w = UnsafeRawPointer(base + k).loadUnaligned(as: UInt64.self)
                    let control = (w &- ones &* 0x20) & ~w
                    let q = w ^ (ones &* 0x22)
                    let b = w ^ (ones &* 0x5C)
                    if (control | ((q &- ones) & ~q) | ((b &- ones) & ~b)) & highs != 0 { break }
                    k += 8
                }
                guard k < n else { break }
                let c = base[k]
                if c >= 0x20 && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") {
                    k += 1
                    continue
                }
                if k > runStart { out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: k - runStart)) }
                out.append(UInt8(ascii: "\\"))
                if c >= 0x20 {
                    out.append(c)
                } else {
                    out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    out.append(hexDigits[Int(c >> 4)])
                    out.append(hexDigits[Int(c & 0xF)])
                }
                k += 1
                runStart = k
            }
            if n > runStart { out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: n - runStart)) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The bytes `writeString` escapes: `"`, `\` and control characters.
    @inline(__always)
    private static func needsEscape(_ c: UInt8) -> Bool {
        c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\")
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The compact JSON text of `value` as a `String`, equal to the bytes of `serialize`. Scalars are
    /// written straight into the string, with no intermediate byte array: a request id or a short string
    /// becomes a small (inline) string and allocates nothing.
    public static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let text):
            var copy = text
            return copy.withUTF8 { JSONNumber.isValid($0) } ? text : "null"
        case .string(let s): return quoted(s)
        case .array, .object: return String(decoding: serialize(value), as: UTF8.self)
        }
    }

    /// `s` as a JSON string literal, for log lines, messages and request ids.
    public static func quoted(_ s: String) -> String {
        // Most strings need no escape: then the literal is built in place in one step (inline for up to
        // 13 bytes of text), without the byte array and second copy of the general path.
        let direct = s.utf8.withContiguousStorageIfAvailable { bytes -> String? in
            guard !bytes.contains(where: needsEscape) else { return nil }
            let n = bytes.count
            return String(unsafeUninitializedCapacity: n + 2) { out in
                out[0] = UInt8(ascii: "\"")
                for k in 0..<n { out[k + 1] = bytes[k] }
                out[n + 1] = UInt8(ascii: "\"")
                return n + 2
            }
        }
        if let direct, let direct { return direct }
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count + 2)
        writeString(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static let nullBytes: [UInt8] = Array("null".utf8)
    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
