import GatehouseJSON

/// String sanitization of `tools/call` arguments (§6.4), with the seed's patterns and order.
///
/// `reject` looks for, case-insensitively (ASCII), the seed's four patterns:
/// `<script[^>]*>.*?</script>`, `javascript:`, `on\w+\s*=` and `<iframe[^>]*>.*?</iframe>`. The element
/// patterns also match across line breaks (the seed's `.` did not), and `\w`/`\s` are Unicode word and
/// space characters as in Python's `re`.
///
/// `escape` HTML-escapes `&`, `<`, `>`, `"`, `'` (as Python's `html.escape`: `&amp;`, `&lt;`, `&gt;`,
/// `&quot;`, `&#x27;`), then removes `javascript:` and `on\w+\s*=`. The removal is repeated until none
/// is left (`javajavascript:script:` leaves nothing behind), which the seed's single pass did not do;
/// for text without such nested occurrences the output is the seed's. It runs in linear time.
public enum Sanitizer {
    /// A pattern `reject` refuses; the raw value names it in messages and logs.
    public enum Pattern: String, Sendable, Equatable {
        case scriptElement = "<script>"
        case javascriptURL = "javascript:"
        case eventHandler = "on…="
        case iframeElement = "<iframe>"
    }

    /// One step of the way from `arguments` to a string or key.
    public enum PathComponent: Sendable, Equatable {
        case key(String)
        case index(Int)
    }

    // MARK: - Detection

    /// The first of the seed's patterns (script, `javascript:`, `on…=`, iframe) found in `text`, nil when clean.
    public static func dangerousPattern(in text: String) -> Pattern? {
        var text = text
        return text.withUTF8 { scan($0) }
    }

    private static func scan(_ s: UnsafeBufferPointer<UInt8>) -> Pattern? {
        // Every pattern needs '<', ':' or '=': most strings are cleared by this one pass.
        let found = ByteSetScan.findPatternBytes(s)
        let hasAngle = found & 1 != 0
        let hasColon = found & 2 != 0
        let hasEquals = found & 4 != 0
        if !(hasAngle || hasColon || hasEquals) { return nil }
        if hasAngle, containsElement(s, open: scriptOpen, close: scriptClose) { return .scriptElement }
        if hasColon, firstIndex(of: javascriptColon, in: s, from: 0) != nil { return .javascriptURL }
        if hasEquals, containsEventHandler(s) { return .eventHandler }
        if hasAngle, containsElement(s, open: iframeOpen, close: iframeClose) { return .iframeElement }
        return nil
    }

    /// The first string value or key inside `value` holding a pattern, with the path to it (an empty
    /// path is `value` itself); nil when every string is clean.
    public static func firstDangerous(in value: JSONValue) -> (path: [PathComponent], pattern: Pattern)? {
        var path: [PathComponent] = []
        guard let pattern = firstDangerous(in: value, path: &path) else { return nil }
        return (path, pattern)
    }

    private static func firstDangerous(in value: JSONValue, path: inout [PathComponent]) -> Pattern? {
        switch value {
        case .string(let s):
            return dangerousPattern(in: s)
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                path.append(.index(index))
                if let found = firstDangerous(in: element, path: &path) { return found }
                path.removeLast()
            }
            return nil
        case .object(let object):
            for member in object.members {
                path.append(.key(member.key))
                if let found = dangerousPattern(in: member.key) { return found }
                if let found = firstDangerous(in: member.value, path: &path) { return found }
                path.removeLast()
            }
            return nil
        case .null, .bool, .number:
            return nil
        }
    }

    // MARK: - Escaping

    /// The seed's escape of one string (see the type's comment).
    public static func escape(_ text: String) -> String {
        guard needsEscaping(text) else { return text }
        var machine = EscapeMachine(capacity: text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": machine.feed(ascii: "&amp;")
            case "<": machine.feed(ascii: "&lt;")
            case ">": machine.feed(ascii: "&gt;")
            case "\"": machine.feed(ascii: "&quot;")
            case "'": machine.feed(ascii: "&#x27;")
            default: machine.feed(scalar)
            }
        }
        return String(decoding: machine.bytes, as: UTF8.self)
    }

    /// Whether `escape(text)` differs from `text`.
    public static func needsEscaping(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { s in
            let found = ByteSetScan.findEscapeBytes(s)
            if found & 4 != 0 { return true }
            let hasColon = found & 1 != 0
            let hasEquals = found & 2 != 0
            // Without an escaped character, the removals only act on what is already there; and a
            // `javascript:` that only appears once an `on…=` is removed needs that `on…=` first.
            if hasColon, firstIndex(of: javascriptColon, in: s, from: 0) != nil { return true }
            return hasEquals && containsEventHandler(s)
        }
    }

    /// Whether any string or key inside `value` changes under `escape`.
    public static func needsEscaping(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s):
            return needsEscaping(s)
        case .array(let elements):
            return elements.contains { needsEscaping($0) }
        case .object(let object):
            return object.members.contains { needsEscaping($0.key) || needsEscaping($0.value) }
        case .null, .bool, .number:
            return false
        }
    }

    /// Two keys of one object that became the same key once escaped (`"<"` and `"&lt;"`): forwarding
    /// both would hand the upstream a duplicate key, so the message is refused instead.
    public struct KeyCollision: Error, Sendable, Equatable {
        /// Where the colliding key is, from the escaped value's root.
        public var path: [PathComponent]
    }

    /// Appends the compact JSON text of `value` with every string and key escaped. Throws when two
    /// keys of an object become equal.
    public static func writeEscaped(_ value: JSONValue, into out: inout [UInt8]) throws(KeyCollision) {
        var path: [PathComponent] = []
        try writeEscaped(value, into: &out, path: &path)
    }

    /// `value` with every string and key escaped.
    public static func escaped(_ value: JSONValue) throws(KeyCollision) -> JSONValue {
        var out: [UInt8] = []
        try writeEscaped(value, into: &out)
        // The text was just written from a valid value: it parses, and its depth is the value's.
        guard let result = try? JSONReader.parse(out, maxDepth: JSONReader.depthCeiling) else {
            preconditionFailure("escaped JSON does not parse")
        }
        return result
    }

    private static func writeEscaped(
        _ value: JSONValue, into out: inout [UInt8], path: inout [PathComponent]
    ) throws(KeyCollision) {
        switch value {
        case .string(let s):
            JSONWriter.writeString(escape(s), into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                path.append(.index(index))
                try writeEscaped(element, into: &out, path: &path)
                path.removeLast()
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            var seen = KeySet()
            for (index, member) in object.members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                let key = escape(member.key)
                path.append(.key(member.key))
                guard seen.insert(key) else { throw KeyCollision(path: path) }
                JSONWriter.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                try writeEscaped(member.value, into: &out, path: &path)
                path.removeLast()
            }
            out.append(UInt8(ascii: "}"))
        case .null, .bool, .number:
            JSONWriter.write(value, into: &out)
        }
    }

    /// A path as text for error details: `params.arguments.a[2]["odd key"]`, cut to `maxPathBytes`.
    public static func describe(path: [PathComponent], from root: String) -> String {
        var text = root
        for component in path {
            switch component {
            case .index(let i):
                text += "[\(i)]"
            case .key(let key):
                if isPlainKey(key) {
                    text += "." + key
                } else {
                    text += "[" + JSONWriter.quoted(key) + "]"
                }
            }
            if text.utf8.count > maxPathBytes { break }
        }
        guard text.utf8.count > maxPathBytes else { return text }
        // Cut on a scalar boundary so the result stays valid UTF-8.
        var cut = ""
        for scalar in text.unicodeScalars {
            if cut.utf8.count + String(scalar).utf8.count > maxPathBytes { break }
            cut.unicodeScalars.append(scalar)
        }
        return cut + "…"
    }

    /// The longest field path shown in a message (keys are client-chosen).
    public static let maxPathBytes = 200

    private static func isPlainKey(_ key: String) -> Bool {
        !key.isEmpty && MCPToolNameMatcher.isStandardName(key)
    }

    // MARK: - Byte patterns

    private static let scriptOpen: [UInt8] = Array("<script".utf8)
    private static let scriptClose: [UInt8] = Array("</script>".utf8)
    private static let iframeOpen: [UInt8] = Array("<iframe".utf8)
    private static let iframeClose: [UInt8] = Array("</iframe>".utf8)
    private static let javascriptColon: [UInt8] = Array("javascript:".utf8)

    /// `<tag[^>]*>.*?</tag>`: the first opening is enough, since any later one finds its `>` and the
    /// closing tag no earlier.
    private static func containsElement(_ s: UnsafeBufferPointer<UInt8>, open: [UInt8], close: [UInt8]) -> Bool {
        guard let start = firstIndex(of: open, in: s, from: 0) else { return false }
        var i = start + open.count
        while i < s.count, s[i] != UInt8(ascii: ">") { i += 1 }
        guard i < s.count else { return false }
        return firstIndex(of: close, in: s, from: i + 1) != nil
    }

    /// The first position of `needle` (lowercase ASCII) in `s`, compared ASCII case-insensitively.
    private static func firstIndex(of needle: [UInt8], in s: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        let first = needle[0]
        let n = s.count
        let m = needle.count
        guard n - from >= m else { return nil }
        var i = from
        while i <= n - m {
            if lowercased(s[i]) == first {
                var k = 1
                while k < m, lowercased(s[i + k]) == needle[k] { k += 1 }
                if k == m { return i }
            }
            i += 1
        }
        return nil
    }

    @inline(__always) static func lowercased(_ c: UInt8) -> UInt8 {
        c &- UInt8(ascii: "A") < 26 ? c | 0x20 : c
    }

    /// `on\w+\s*=` anywhere in valid UTF-8 text: a run of word characters holding `on` with at least one
    /// more word character after it, then optional spaces, then `=`.
    private static func containsEventHandler(_ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var inRun = false
        var armed = false  // the current run (or the run before the current spaces) holds `on\w`
        var onPending = false  // the run ends in `on`
        var lastWasO = false
        var i = 0
        while i < s.count {
            let (scalar, length) = decodeScalar(s, at: i)
            i += length
            switch classify(scalar) {
            case .word:
                if !inRun {
                    inRun = true
                    armed = false
                    onPending = false
                    lastWasO = false
                }
                let lower = scalar.value < 0x80 ? lowercased(UInt8(scalar.value)) : 0
                if onPending { armed = true }
                onPending = lastWasO && lower == UInt8(ascii: "n")
                lastWasO = lower == UInt8(ascii: "o")
            case .space:
                inRun = false
                onPending = false
                lastWasO = false
            case .other:
                if scalar == "=" && armed { return true }
                inRun = false
                armed = false
                onPending = false
                lastWasO = false
            }
        }
        return false
    }

    /// The scalar at `i` of valid UTF-8 and its length.
    @inline(__always) private static func decodeScalar(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> (
        Unicode.Scalar, Int
    ) {
        let c = s[i]
        if c < 0x80 { return (Unicode.Scalar(c), 1) }
        var value: UInt32
        let length: Int
        if c < 0xE0 {
            value = UInt32(c & 0x1F)
            length = 2
        } else if c < 0xF0 {
            value = UInt32(c & 0x0F)
            length = 3
        } else {
            value = UInt32(c & 0x07)
            length = 4
        }
        let end = min(i + length, s.count)
        for k in (i + 1)..<end { value = value << 6 | UInt32(s[k] & 0x3F) }
        return (Unicode.Scalar(value) ?? "\u{FFFD}", end - i)
    }

    /// The regex classes the event-handler pattern uses.
    enum CharacterClass { case word, space, other }

    /// Python's `\w` (letters, digits and underscore, in any script) and `\s` (Unicode spaces, plus the
    /// ASCII separators 0x1C–0x1F that Python's `str.isspace` counts).
    static func classify(_ scalar: Unicode.Scalar) -> CharacterClass {
        let v = scalar.value
        if v < 0x80 {
            switch UInt8(v) {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                return .word
            case 0x09...0x0D, 0x1C...0x20:
                return .space
            default:
                return .other
            }
        }
        if v == 0x85 || scalar.properties.isWhitespace { return .space }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
            .decimalNumber, .letterNumber, .otherNumber:
            return .word
        default:
            return .other
        }
    }
}

/// Output of `Sanitizer.escape`: scalars are appended one at a time and a `javascript:` or `on…=`
/// that the newest scalar completes is cut off the end at once, so removal reaches its fixed point in
/// one linear pass. Per scalar it keeps where the current word run's first `on\w` starts (`armed`),
/// which a later `=` needs; spaces carry the run's value forward.
private struct EscapeMachine {
    private(set) var bytes: [UInt8] = []
    private var starts: [Int] = []  // byte offset of each scalar
    private var kinds: [Sanitizer.CharacterClass] = []
    private var lowers: [UInt8] = []  // ASCII lowercase of each scalar, 0 for non-ASCII
    private var runStarts: [Int] = []  // first scalar of the word run, -1 outside runs
    private var armed: [Int] = []  // scalar index of the run's first `on` followed by a word char, or -1

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    mutating func feed(ascii text: StaticString) {
        let p = text.utf8Start
        for k in 0..<text.utf8CodeUnitCount { feed(Unicode.Scalar(p[k])) }
    }

    mutating func feed(_ scalar: Unicode.Scalar) {
        let k = kinds.count
        let previousKind = k > 0 ? kinds[k - 1] : .other
        let kind = Sanitizer.classify(scalar)
        let lower = scalar.value < 0x80 ? Sanitizer.lowercased(UInt8(scalar.value)) : 0

        if scalar == "=", previousKind != .other, armed[k - 1] >= 0 {
            truncate(toScalars: armed[k - 1])
            return
        }
        if scalar == ":", k >= 10, endsWithJavascript(k) {
            truncate(toScalars: k - 10)
            return
        }

        var runStart = -1
        var armedAt = -1
        switch kind {
        case .word:
            runStart = previousKind == .word ? runStarts[k - 1] : k
            armedAt = previousKind == .word ? armed[k - 1] : -1
            if armedAt < 0, k - 2 >= runStart, lowers[k - 2] == UInt8(ascii: "o"), lowers[k - 1] == UInt8(ascii: "n") {
                armedAt = k - 2
            }
        case .space:
            armedAt = previousKind != .other ? armed[k - 1] : -1
        case .other:
            break
        }
        starts.append(bytes.count)
        kinds.append(kind)
        lowers.append(lower)
        runStarts.append(runStart)
        armed.append(armedAt)
        if scalar.value < 0x80 {
            bytes.append(UInt8(scalar.value))
        } else {
            bytes.append(contentsOf: String(scalar).utf8)
        }
    }

    private static let javascript: [UInt8] = Array("javascript".utf8)

    private func endsWithJavascript(_ k: Int) -> Bool {
        for (offset, c) in Self.javascript.enumerated() where lowers[k - 10 + offset] != c { return false }
        return true
    }

    private mutating func truncate(toScalars count: Int) {
        bytes.removeSubrange(starts[count]...)
        starts.removeSubrange(count...)
        kinds.removeSubrange(count...)
        lowers.removeSubrange(count...)
        runStarts.removeSubrange(count...)
        armed.removeSubrange(count...)
    }
}

/// Keys already written in one object, compared by their exact bytes.
private struct KeySet {
    private var small: [String] = []
    private var large: Set<[UInt8]>? = nil

    /// False when `key` was inserted before.
    mutating func insert(_ key: String) -> Bool {
        if large == nil {
            for existing in small where existing.utf8.elementsEqual(key.utf8) { return false }
            if small.count < 12 {
                small.append(key)
                return true
            }
            large = Set(small.map { Array($0.utf8) })
        }
        return large!.insert(Array(key.utf8)).inserted  // set just above when it was nil
    }
}

/// Which of a few bytes occur in a buffer, sixteen bytes at a time: arguments can be megabytes of text
/// and most of it holds none of the bytes looked for.
private enum ByteSetScan {
    typealias Chunk = SIMD16<UInt8>
    typealias Mask = SIMDMask<SIMD16<Int8>>

    /// Whether `<`, `:` and `=` occur in `s`: bits 0, 1 and 2.
    static func findPatternBytes(_ s: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = s.baseAddress else { return 0 }
        let n = s.count
        var k = 0
        var angle = Mask(repeating: false)
        var colon = Mask(repeating: false)
        var equals = Mask(repeating: false)
        while k + 16 <= n {
            let v = UnsafeRawPointer(base + k).loadUnaligned(as: Chunk.self)
            angle .|= v .== Chunk(repeating: UInt8(ascii: "<"))
            colon .|= v .== Chunk(repeating: UInt8(ascii: ":"))
            equals .|= v .== Chunk(repeating: UInt8(ascii: "="))
            k += 16
        }
        var found = (any(angle) ? 1 : 0) | (any(colon) ? 2 : 0) | (any(equals) ? 4 : 0)
        while k < n {
            switch base[k] {
            case UInt8(ascii: "<"): found |= 1
            case UInt8(ascii: ":"): found |= 2
            case UInt8(ascii: "="): found |= 4
            default: break
            }
            k += 1
        }
        return found
    }

    /// Whether one of `&<>"'` occurs in `s` (bit 2), else whether `:` (bit 0) and `=` (bit 1) do.
    static func findEscapeBytes(_ s: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = s.baseAddress else { return 0 }
        let n = s.count
        var k = 0
        var escaped = Mask(repeating: false)
        var colon = Mask(repeating: false)
        var equals = Mask(repeating: false)
        var chunks = 0
        while k + 16 <= n {
            let v = UnsafeRawPointer(base + k).loadUnaligned(as: Chunk.self)
            escaped .|= (v .== Chunk(repeating: UInt8(ascii: "&"))) .| (v .== Chunk(repeating: UInt8(ascii: "<")))
                .| (v .== Chunk(repeating: UInt8(ascii: ">"))) .| (v .== Chunk(repeating: UInt8(ascii: "\"")))
                .| (v .== Chunk(repeating: UInt8(ascii: "'")))
            colon .|= v .== Chunk(repeating: UInt8(ascii: ":"))
            equals .|= v .== Chunk(repeating: UInt8(ascii: "="))
            k += 16
            chunks += 1
            // `any` is a horizontal reduction: once per KiB is enough to stop early.
            if chunks & 63 == 0, any(escaped) { return 4 }
        }
        if any(escaped) { return 4 }
        var found = (any(colon) ? 1 : 0) | (any(equals) ? 2 : 0)
        while k < n {
            switch base[k] {
            case UInt8(ascii: "&"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\""), UInt8(ascii: "'"):
                return 4
            case UInt8(ascii: ":"): found |= 1
            case UInt8(ascii: "="): found |= 2
            default: break
            }
            k += 1
        }
        return found
    }
}
