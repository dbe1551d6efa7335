/// A JSON value. Numbers keep their exact source text (never rounded through Double).
///
/// Equality is exact: strings and keys compare by their UTF-8 bytes (not by Unicode canonical
/// equivalence, which Swift's `String ==` uses, because an upstream compares code points), numbers by
/// their text (`1.0` ≠ `1`), objects by their members regardless of order (keys are unique).
///
/// Not `indirect`: arrays and objects already live in heap buffers, so a boxed case would only add one
/// allocation per scalar.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// Exact RFC 8259 number text, e.g. `"1e400"`, `"-0.0"`. The writer emits it as is.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The member `key` of an object; nil for a missing member or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The element at `index` of an array; nil when out of range or not an array.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The exact number text, for a number.
    public var numberText: String? {
        if case .number(let t) = self { return t }
        return nil
    }

    /// A number whose value is an exact integer in `Int` range: `3`, `-0`, `3.0`, `3e2` qualify (JSON
    /// Schema's "integer"); `3.5`, `1e19` and non-numbers give nil.
    public var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        return JSONNumber.exactInt(text)
    }

    /// The nearest `Double` of a number (correctly rounded; underflow gives ±0); nil for a non-number
    /// and for a number beyond `Double`'s range (`1e400`), which has no faithful `Double`.
    public var doubleValue: Double? {
        guard case .number(let text) = self, let d = Double(text), d.isFinite else { return nil }
        return d
    }

    /// A number value from an integer.
    public static func integer<I: BinaryInteger>(_ value: I) -> JSONValue {
        .number(String(value))
    }

    /// A number value from a finite double (shortest round-tripping text); nil for NaN and infinities,
    /// which JSON cannot carry.
    public static func double(_ value: Double) -> JSONValue? {
        guard value.isFinite else { return nil }
        if value == value.rounded(), abs(value) < 1e15 { return .number(String(Int64(value))) }
        return .number(value.description)
    }

    /// A short name of the kind of value, for error details ("string", "object", …).
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return JSONObject.exactlyEqual(a, b)
        case (.string(let a), .string(let b)): return JSONObject.exactlyEqual(a, b)
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0 == $1 }
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text.
    public var description: String {
        JSONWriter.text(self)
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Members in literal order; a repeated key keeps its first position and its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}

/// Exact arithmetic on JSON number text.
enum JSONNumber {
    /// The integer value of valid number text when it is exact and fits `Int`.
    static func exactInt(_ text: String) -> Int? {
        var text = text
        return text.withUTF8 { exactInt($0) }
    }

    static func exactInt(_ t: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        let n = t.count
        var negative = false
        if i < n, t[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        // Significant digits (integer and fraction parts, leading zeros dropped) and the power of ten.
        var digits: [UInt8] = []
        var exponent = 0
        var sawDigit = false
        while i < n, isDigit(t[i]) {
            if !(digits.isEmpty && t[i] == UInt8(ascii: "0")) { digits.append(t[i]) }
            sawDigit = true
            i += 1
        }
        guard sawDigit else { return nil }
        if i < n, t[i] == UInt8(ascii: ".") {
            i += 1
            var fraction = false
            while i < n, isDigit(t[i]) {
                if !(digits.isEmpty && t[i] == UInt8(ascii: "0")) { digits.append(t[i]) }
                exponent -= 1  // every fraction digit, kept or a dropped leading zero
                fraction = true
                i += 1
            }
            guard fraction else { return nil }
        }
        if i < n, t[i] == UInt8(ascii: "e") || t[i] == UInt8(ascii: "E") {
            i += 1
            var expNegative = false
            if i < n, t[i] == UInt8(ascii: "+") || t[i] == UInt8(ascii: "-") {
                expNegative = t[i] == UInt8(ascii: "-")
                i += 1
            }
            var e = 0
            var sawExpDigit = false
            while i < n, isDigit(t[i]) {
                e = min(e * 10 + Int(t[i] - UInt8(ascii: "0")), 1_000_000_000)  // saturate: far past Int's range
                sawExpDigit = true
                i += 1
            }
            guard sawExpDigit else { return nil }
            exponent += expNegative ? -e : e
        }
        guard i == n else { return nil }
        if digits.isEmpty { return 0 }
        // The value is digits × 10^exponent: an integer only if the digits below 10^0 are zeros.
        while exponent < 0 {
            guard digits.last == UInt8(ascii: "0") else { return nil }
            digits.removeLast()
            exponent += 1
        }
        guard digits.count + exponent <= 19 else { return nil }
        var value: Int = 0
        for d in digits {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int(d - 48)) : m.addingReportingOverflow(Int(d - 48))
            if o1 || o2 { return nil }
            value = s
        }
        for _ in 0..<exponent {
            let (m, o) = value.multipliedReportingOverflow(by: 10)
            if o { return nil }
            value = m
        }
        return value
    }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }
}

extension JSONNumber {
    /// Whether `t` is exactly an RFC 8259 number.
    static func isValid(_ t: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = t.count
        if i < n, t[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n, isDigit(t[i]) else { return false }
        if t[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < n, isDigit(t[i]) { i += 1 }
        }
        if i < n, t[i] == UInt8(ascii: ".") {
            i += 1
            guard i < n, isDigit(t[i]) else { return false }
            while i < n, isDigit(t[i]) { i += 1 }
        }
        if i < n, t[i] == UInt8(ascii: "e") || t[i] == UInt8(ascii: "E") {
            i += 1
            if i < n, t[i] == UInt8(ascii: "+") || t[i] == UInt8(ascii: "-") { i += 1 }
            guard i < n, isDigit(t[i]) else { return false }
            while i < n, isDigit(t[i]) { i += 1 }
        }
        return i == n
    }
}
