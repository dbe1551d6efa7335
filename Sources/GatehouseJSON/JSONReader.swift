/// Strict RFC 8259 reader on bytes.
///
/// Refuses everything an upstream might read differently from the gateway: invalid UTF-8 (overlong
/// forms, encoded surrogates, truncated sequences), lone surrogate escapes, a byte order mark,
/// duplicate object keys (compared after unescaping, byte for byte), nesting beyond `maxDepth`, and
/// anything after the value but whitespace. Numbers are kept as their exact text, so no magnitude is
/// refused and none is rounded. The scan is iterative and works on a pointer; strings without escapes
/// are made straight from the input bytes.
public enum JSONReader {
    /// The ceiling on `maxDepth`: releasing, comparing or writing a value recurses once per level, so
    /// deeper values could exhaust a thread's stack. Far beyond any JSON-RPC message.
    public static let depthCeiling = 1024

    /// Strict RFC 8259: UTF-8 validated, no BOM, no trailing garbage (whitespace allowed), depth limit,
    /// duplicate object keys refused (after unescaping: {"a":1,"\u0061":2} is a duplicate).
    /// `maxDepth` counts nested arrays and objects (a scalar document has depth 0); it is capped at
    /// `depthCeiling`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
            throw JSONError(offset: 0, message: "empty document")
        }
        // Reading bytes through a UInt8 pointer is valid whatever the memory was bound to.
        var parser = Parser(
            bytes: base.assumingMemoryBound(to: UInt8.self), count: bytes.count,
            maxDepth: max(0, min(maxDepth, depthCeiling)))
        return try parser.document()
    }

    /// The usual case, a request or response body: read in place. Callers in other modules would
    /// otherwise reach the unspecialized generic below, which finds the storage through protocol
    /// witnesses at run time.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        // `withUnsafeBytes` rethrows untyped errors, hence the Result.
        let outcome = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONError) -> JSONValue in try parse(raw, maxDepth: maxDepth) }
        }
        return try outcome.get()
    }

    public static func parse<C: Collection>(_ bytes: C, maxDepth: Int = 64) throws(JSONError) -> JSONValue
    where C.Element == UInt8 {
        let direct: Result<JSONValue, JSONError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONError) -> JSONValue in
                try parse(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth)
            }
        }
        if let direct { return try direct.get() }
        let copy = Array(bytes)
        let copied: Result<JSONValue, JSONError> = copy.withUnsafeBytes { raw in
            Result { () throws(JSONError) -> JSONValue in try parse(raw, maxDepth: maxDepth) }
        }
        return try copied.get()
    }
}

// MARK: - The scanner

private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")

/// An array or object being read, with what it holds so far.
private struct Frame {
    var isObject: Bool
    var elements: [JSONValue] = []
    var members: [(key: String, value: JSONValue)] = []
    /// The key whose value is being read.
    var pendingKey = ""
    /// Built once an object grows past a few members; linear search is faster below.
    var keySet: Set<ExactKey>? = nil

    init(isObject: Bool) {
        self.isObject = isObject
        // Most JSON-RPC containers are small: one allocation instead of growing 1, 2, 4.
        if isObject { members.reserveCapacity(4) } else { elements.reserveCapacity(4) }
    }

    /// Records `key` as seen; false when it was seen before.
    mutating func insertKey(_ key: String) -> Bool {
        if keySet == nil {
            if members.count < 12 {
                // By index, so that only keys are read: iterating members would copy (retain) each value.
                for k in members.indices where JSONObject.exactlyEqual(members[k].key, key) { return false }
                return true
            }
            keySet = Set(members.map { ExactKey(text: $0.key) })
        }
        return keySet!.insert(ExactKey(text: key)).inserted  // set just above when it was nil
    }
}

/// A string hashed and compared by its UTF-8 bytes (not by canonical equivalence like `String`).
private struct ExactKey: Hashable {
    var text: String
    static func == (a: ExactKey, b: ExactKey) -> Bool { JSONObject.exactlyEqual(a.text, b.text) }
    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

private struct Parser {
    let p: UnsafePointer<UInt8>
    let n: Int
    let maxDepth: Int
    var i = 0
    /// Reused for strings with escapes.
    var scratch: [UInt8] = []

    init(bytes: UnsafePointer<UInt8>, count: Int, maxDepth: Int) {
        p = bytes
        n = count
        self.maxDepth = maxDepth
    }

    mutating func document() throws(JSONError) -> JSONValue {
        if n >= 3, p[0] == 0xEF, p[1] == 0xBB, p[2] == 0xBF {
            throw JSONError(offset: 0, message: "byte order mark not allowed")
        }
        let v = try value()
        skipWhitespace()
        if i != n { throw JSONError(offset: i, message: "unexpected data after the value: \(describe(p[i]))") }
        return v
    }

    // MARK: Structure

    mutating func value() throws(JSONError) -> JSONValue {
        var stack: [Frame] = []
        stack.reserveCapacity(8)
        var v: JSONValue
        while true {
            // Read one value; an opened container loops back here for its first element.
            skipWhitespace()
            guard i < n else { throw endOfInput() }
            switch p[i] {
            case UInt8(ascii: "{"):
                guard stack.count < maxDepth else { throw JSONError(offset: i, message: "nesting deeper than \(maxDepth)") }
                i += 1
                skipWhitespace()
                if i < n, p[i] == UInt8(ascii: "}") {
                    i += 1
                    v = .object(JSONObject())
                } else {
                    var frame = Frame(isObject: true)
                    try key(into: &frame)
                    stack.append(frame)
                    continue
                }
            case UInt8(ascii: "["):
                guard stack.count < maxDepth else { throw JSONError(offset: i, message: "nesting deeper than \(maxDepth)") }
                i += 1
                skipWhitespace()
                if i < n, p[i] == UInt8(ascii: "]") {
                    i += 1
                    v = .array([])
                } else {
                    stack.append(Frame(isObject: false))
                    continue
                }
            case quote:
                v = .string(try string())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                v = .number(try number())
            case UInt8(ascii: "t"):
                try literal("true")
                v = .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                v = .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                v = .null
            default:
                throw unexpected()
            }
            // Hand the finished value to its container, closing containers as they end.
            while true {
                let top = stack.count - 1
                if top < 0 { return v }
                skipWhitespace()
                guard i < n else { throw endOfInput() }
                let c = p[i]
                if stack[top].isObject {
                    let pendingKey = stack[top].pendingKey
                    stack[top].members.append((key: pendingKey, value: v))
                    if c == UInt8(ascii: ",") {
                        i += 1
                        skipWhitespace()
                        try key(into: &stack[top])
                        break
                    }
                    guard c == UInt8(ascii: "}") else { throw JSONError(offset: i, message: "expected ',' or '}' but found \(describe(c))") }
                    i += 1
                    v = .object(JSONObject(uniqueMembers: stack.removeLast().members))
                } else {
                    stack[top].elements.append(v)
                    if c == UInt8(ascii: ",") {
                        i += 1
                        break
                    }
                    guard c == UInt8(ascii: "]") else { throw JSONError(offset: i, message: "expected ',' or ']' but found \(describe(c))") }
                    i += 1
                    v = .array(stack.removeLast().elements)
                }
            }
        }
    }

    /// Reads `"key" :` (whitespace already skipped) into `frame.pendingKey`, refusing a repeated key.
    mutating func key(into frame: inout Frame) throws(JSONError) {
        guard i < n else { throw endOfInput() }
        guard p[i] == quote else { throw JSONError(offset: i, message: "expected a string key but found \(describe(p[i]))") }
        let start = i
        let k = try string()
        guard frame.insertKey(k) else {
            throw JSONError(offset: start, message: "duplicate key \(JSONWriter.quoted(k))")
        }
        skipWhitespace()
        guard i < n else { throw endOfInput() }
        guard p[i] == UInt8(ascii: ":") else { throw JSONError(offset: i, message: "expected ':' but found \(describe(p[i]))") }
        i += 1
        frame.pendingKey = k
    }

    @inline(__always) mutating func skipWhitespace() {
        while i < n {
            switch p[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let w = word.utf8Start
        let len = word.utf8CodeUnitCount
        for k in 0..<len {
            guard i + k < n else { throw endOfInput() }
            guard p[i + k] == w[k] else { throw JSONError(offset: i + k, message: "invalid literal") }
        }
        i += len
    }

    // MARK: Numbers

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, kept as text.
    mutating func number() throws(JSONError) -> String {
        let start = i
        if p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n, isDigit(p[i]) else { throw invalidNumber(start) }
        if p[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < n, isDigit(p[i]) { i += 1 }
        }
        if i < n, p[i] == UInt8(ascii: ".") {
            i += 1
            guard i < n, isDigit(p[i]) else { throw invalidNumber(start) }
            while i < n, isDigit(p[i]) { i += 1 }
        }
        if i < n, p[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < n, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
            guard i < n, isDigit(p[i]) else { throw invalidNumber(start) }
            while i < n, isDigit(p[i]) { i += 1 }
        }
        return String(decoding: UnsafeBufferPointer(start: p + start, count: i - start), as: UTF8.self)
    }

    @inline(__always) func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

    func invalidNumber(_ start: Int) -> JSONError {
        JSONError(offset: i < n ? i : start, message: "invalid number")
    }

    // MARK: Strings

    /// Reads a string starting at its opening quote.
    mutating func string() throws(JSONError) -> String {
        i += 1
        let start = i
        while true {
            skipPlainASCII()
            guard i < n else { throw JSONError(offset: start - 1, message: "unterminated string") }
            let c = p[i]
            if c == quote {
                let s = String(decoding: UnsafeBufferPointer(start: p + start, count: i - start), as: UTF8.self)
                i += 1
                return s
            }
            if c == backslash { return try escapedString(from: start) }
            if c < 0x20 { throw controlCharacter() }
            i += try utf8SequenceLength()
        }
    }

    /// Skips bytes that need no attention: ASCII other than `"`, `\` and control characters. Eight at
    /// a time while the word has none of them (SWAR), then one by one.
    @inline(__always) mutating func skipPlainASCII() {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= n {
            let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            let control = (w &- ones &* 0x20) & ~w  // high bit set in bytes < 0x20 (or >= 0x80)
            let q = w ^ (ones &* 0x22)
            let quoteHit = (q &- ones) & ~q
            let b = w ^ (ones &* 0x5C)
            let backslashHit = (b &- ones) & ~b
            if (control | quoteHit | backslashHit | w) & highs != 0 { break }
            i += 8
        }
        while i < n {
            let c = p[i]
            if c < 0x20 || c >= 0x80 || c == quote || c == backslash { return }
            i += 1
        }
    }

    /// Continues a string that has an escape: everything goes through `scratch`.
    mutating func escapedString(from start: Int) throws(JSONError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
        while true {
            let runStart = i
            skipPlainASCII()
            if i > runStart { scratch.append(contentsOf: UnsafeBufferPointer(start: p + runStart, count: i - runStart)) }
            guard i < n else { throw JSONError(offset: start - 1, message: "unterminated string") }
            let c = p[i]
            if c == quote {
                i += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if c == backslash {
                try escape()
                continue
            }
            if c < 0x20 { throw controlCharacter() }
            let len = try utf8SequenceLength()
            scratch.append(contentsOf: UnsafeBufferPointer(start: p + i, count: len))
            i += len
        }
    }

    /// Decodes one escape at `\` into `scratch`.
    mutating func escape() throws(JSONError) {
        let at = i
        guard i + 1 < n else { throw endOfInput() }
        let e = p[i + 1]
        i += 2
        switch e {
        case quote, backslash, UInt8(ascii: "/"): scratch.append(e)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw JSONError(offset: at, message: "lone surrogate \\u\(hexString(scalar))")
            }
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard i + 1 < n, p[i] == backslash, p[i + 1] == UInt8(ascii: "u") else {
                    throw JSONError(offset: at, message: "lone surrogate \\u\(hexString(scalar))")
                }
                i += 2
                let low = try hex4()
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw JSONError(offset: at, message: "lone surrogate \\u\(hexString(scalar))")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            appendUTF8(scalar)
        default:
            throw JSONError(offset: at, message: "invalid escape")
        }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= n else { throw endOfInput() }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = p[i + k]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw JSONError(offset: i + k, message: "invalid \\u escape")
            }
            v = v << 4 | UInt32(d)
        }
        i += 4
        return v
    }

    mutating func appendUTF8(_ s: UInt32) {
        switch s {
        case 0..<0x80:
            scratch.append(UInt8(s))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | s >> 6))
            scratch.append(UInt8(0x80 | s & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | s >> 12))
            scratch.append(UInt8(0x80 | s >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | s & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | s >> 18))
            scratch.append(UInt8(0x80 | s >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | s >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | s & 0x3F))
        }
    }

    /// The length of the well-formed UTF-8 sequence at `i` (a byte ≥ 0x80), per Unicode table 3-7:
    /// no overlong forms, no encoded surrogates, nothing above U+10FFFF.
    @inline(__always) func utf8SequenceLength() throws(JSONError) -> Int {
        let c = p[i]
        let len: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: len = 2
        case 0xE0: len = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: len = 3
        case 0xED: len = 3; high = 0x9F
        case 0xF0: len = 4; low = 0x90
        case 0xF1...0xF3: len = 4
        case 0xF4: len = 4; high = 0x8F
        default: throw JSONError(offset: i, message: "invalid UTF-8")
        }
        guard i + len <= n else { throw JSONError(offset: i, message: "invalid UTF-8") }
        let second = p[i + 1]
        guard second >= low && second <= high else { throw JSONError(offset: i, message: "invalid UTF-8") }
        for k in 2..<max(len, 2) where p[i + k] & 0xC0 != 0x80 {
            throw JSONError(offset: i, message: "invalid UTF-8")
        }
        return len
    }

    // MARK: Errors

    func endOfInput() -> JSONError { JSONError(offset: n, message: "unexpected end of input") }

    func unexpected() -> JSONError {
        JSONError(offset: i, message: "unexpected \(describe(p[i]))")
    }

    func controlCharacter() -> JSONError {
        JSONError(offset: i, message: "unescaped control character 0x\(hexString(UInt32(p[i]), digits: 2)) in string")
    }

    func describe(_ c: UInt8) -> String {
        if c > 0x20 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x\(hexString(UInt32(c), digits: 2))"
    }
}

private func hexString(_ v: UInt32, digits: Int = 4) -> String {
    let alphabet = Array("0123456789ABCDEF".utf8)
    var out = [UInt8]()
    for k in stride(from: digits - 1, through: 0, by: -1) {
        out.append(alphabet[Int(v >> (UInt32(k) * 4) & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}
