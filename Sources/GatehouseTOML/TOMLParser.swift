/// The reading state over one document's bytes: position, the tables read so far, and the table that
/// `key = value` lines currently go to. Structure (expressions, keys, arrays, inline tables) is here;
/// table rules, strings and scalars live in the `TOMLParser+…` files.
struct TOMLParser {
    /// One part of a (possibly dotted) key, with where it starts for error positions.
    struct KeyPart {
        var name: String
        var offset: Int
    }

    let bytes: [UInt8]
    var position: Int
    var document = TOMLDocument()
    var currentTable = TOMLDocument.root
    /// The key of the last header, for messages.
    var currentPath: [KeyPart] = []
    /// Where the content starts: after a byte order mark, if any.
    let contentStart: Int
    /// Offset of the first byte of every line, for turning offsets into line numbers.
    let lineStarts: [Int]

    init(bytes: [UInt8]) {
        self.bytes = bytes
        let hasBOM = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        self.contentStart = hasBOM ? 3 : 0
        self.position = contentStart
        var starts = [0]
        for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            starts.append(offset + 1)
        }
        self.lineStarts = starts
    }

    // MARK: - Document

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        if let offset = Self.firstInvalidUTF8(in: bytes, from: contentStart) {
            throw error("invalid UTF-8", at: offset)
        }
        while true {
            skipWhitespace()
            guard let byte = current else { break }
            switch byte {
            case UInt8(ascii: "#"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                break
            case UInt8(ascii: "["):
                try parseTableHeader()
            default:
                try parseKeyValue(into: currentTable, path: currentPath)
            }
            try expectLineEnd()
        }
        return document.makeTable(TOMLDocument.root)
    }

    /// After an expression: optional whitespace and comment, then a newline or the end of the file.
    mutating func expectLineEnd() throws(TOMLError) {
        skipWhitespace()
        if current == UInt8(ascii: "#") {
            try skipComment()
        }
        guard current != nil else { return }
        guard try consumeNewline() else {
            throw unexpected(expecting: "a newline or a comment")
        }
    }

    // MARK: - Keys and values

    /// `key = value`, stored into the table at `table` whose key path is `path` (for messages).
    mutating func parseKeyValue(into table: Int, path: [KeyPart]) throws(TOMLError) {
        let keyStart = position
        let key = try parseKey()
        skipWhitespace()
        guard current == UInt8(ascii: "=") else {
            throw unexpected(expecting: "'=' after the key")
        }
        position += 1
        skipWhitespace()
        let depth = document.nodes[table].depth + key.count
        let item = try parseValue(depth: depth)
        try insert(item, at: key, into: table, line: lineNumber(at: keyStart), prefix: path)
    }

    /// A simple or dotted key.
    @inline(never)  // keeps the recursive value parsers' stack frames small
    mutating func parseKey() throws(TOMLError) -> [KeyPart] {
        var parts = [try parseSimpleKey()]
        while true {
            let afterPart = position
            skipWhitespace()
            guard current == UInt8(ascii: ".") else {
                position = afterPart
                return parts
            }
            position += 1
            skipWhitespace()
            guard parts.count < TOMLReader.maximumNestingDepth else {
                throw error("a key of more than \(TOMLReader.maximumNestingDepth) parts", at: position)
            }
            parts.append(try parseSimpleKey())
        }
    }

    /// A bare, basic-quoted or literal-quoted key.
    @inline(never)  // keeps the recursive value parsers' stack frames small
    mutating func parseSimpleKey() throws(TOMLError) -> KeyPart {
        let start = position
        switch current {
        case UInt8(ascii: "\""):
            if byte(at: start + 1) == UInt8(ascii: "\""), byte(at: start + 2) == UInt8(ascii: "\"") {
                throw error("a multi-line string cannot be a key", at: start)
            }
            return KeyPart(name: try parseBasicString(), offset: start)
        case UInt8(ascii: "'"):
            if byte(at: start + 1) == UInt8(ascii: "'"), byte(at: start + 2) == UInt8(ascii: "'") {
                throw error("a multi-line string cannot be a key", at: start)
            }
            return KeyPart(name: try parseLiteralString(), offset: start)
        default:
            while let byte = current, Self.isBareKeyByte(byte) {
                position += 1
            }
            guard position > start else {
                throw unexpected(expecting: "a key")
            }
            return KeyPart(name: String(decoding: bytes[start..<position], as: UTF8.self), offset: start)
        }
    }

    /// Any value; `depth` is the nesting level an array or inline table here would have.
    mutating func parseValue(depth: Int) throws(TOMLError) -> TOMLDocument.Item {
        let start = position
        switch current {
        case UInt8(ascii: "\""):
            if byte(at: start + 1) == UInt8(ascii: "\""), byte(at: start + 2) == UInt8(ascii: "\"") {
                return .value(.string(try parseMultilineBasicString()))
            }
            return .value(.string(try parseBasicString()))
        case UInt8(ascii: "'"):
            if byte(at: start + 1) == UInt8(ascii: "'"), byte(at: start + 2) == UInt8(ascii: "'") {
                return .value(.string(try parseMultilineLiteralString()))
            }
            return .value(.string(try parseLiteralString()))
        case UInt8(ascii: "["):
            return try parseArray(depth: depth)
        case UInt8(ascii: "{"):
            return try parseInlineTable(depth: depth)
        default:
            return .value(try parseBareValue())
        }
    }

    /// `[ value, value, ]`: newlines and comments allowed between elements, a trailing comma too.
    mutating func parseArray(depth: Int) throws(TOMLError) -> TOMLDocument.Item {
        let open = position
        try checkDepth(depth, at: open)
        position += 1
        var items: [TOMLDocument.Item] = []
        while true {
            try skipWhitespaceCommentsAndNewlines()
            guard let byte = current else { throw error("unterminated array", at: open) }
            if byte == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            items.append(try parseValue(depth: depth + 1))
            try skipWhitespaceCommentsAndNewlines()
            switch current {
            case nil:
                throw error("unterminated array", at: open)
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(items)
            default:
                throw unexpected(expecting: "',' or ']' after an array element")
            }
        }
    }

    /// `{ key = value, … }` on one line, no trailing comma.
    mutating func parseInlineTable(depth: Int) throws(TOMLError) -> TOMLDocument.Item {
        let open = position
        try checkDepth(depth, at: open)
        position += 1
        let table = document.makeNode(kind: .inline, line: lineNumber(at: open), depth: depth)
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .table(table)
        }
        while true {
            skipWhitespace()
            switch current {
            case nil:
                throw error("unterminated inline table", at: open)
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                throw error("newlines are not allowed in an inline table", at: position)
            case UInt8(ascii: "}"):
                throw error("a trailing comma is not allowed in an inline table", at: position)
            default:
                try parseKeyValue(into: table, path: [])
            }
            skipWhitespace()
            switch current {
            case nil:
                throw error("unterminated inline table", at: open)
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .table(table)
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                throw error("newlines are not allowed in an inline table", at: position)
            default:
                throw unexpected(expecting: "',' or '}' after an inline table entry")
            }
        }
    }

    func checkDepth(_ depth: Int, at offset: Int) throws(TOMLError) {
        if depth > TOMLReader.maximumNestingDepth {
            throw error("nesting deeper than \(TOMLReader.maximumNestingDepth) levels", at: offset)
        }
    }

    // MARK: - Bytes

    var current: UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    func byte(at offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    mutating func skipWhitespace() {
        while let byte = current, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
            position += 1
        }
    }

    /// Consumes LF or CRLF and returns true; returns false on anything else but a lone CR, which is
    /// refused.
    mutating func consumeNewline() throws(TOMLError) -> Bool {
        switch current {
        case UInt8(ascii: "\n"):
            position += 1
            return true
        case UInt8(ascii: "\r"):
            guard byte(at: position + 1) == UInt8(ascii: "\n") else {
                throw error("carriage return without a line feed", at: position)
            }
            position += 2
            return true
        default:
            return false
        }
    }

    /// From `#` to the end of the line (the newline itself is left); control characters refused.
    mutating func skipComment() throws(TOMLError) {
        position += 1
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\n"):
                return
            case UInt8(ascii: "\r"):
                guard self.byte(at: position + 1) == UInt8(ascii: "\n") else {
                    throw error("carriage return without a line feed", at: position)
                }
                return
            case UInt8(ascii: "\t"):
                break
            case 0x00...0x1F, 0x7F:
                throw error("control character \(Self.scalarName(byte)) in a comment", at: position)
            default:
                break
            }
            position += 1
        }
    }

    mutating func skipWhitespaceCommentsAndNewlines() throws(TOMLError) {
        while true {
            skipWhitespace()
            if current == UInt8(ascii: "#") {
                try skipComment()
            }
            guard try consumeNewline() else { return }
        }
    }

    static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no surrogates,
    /// nothing above U+10FFFF), or nil.
    static func firstInvalidUTF8(in bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        let end = bytes.count
        while index < end {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var lowest: UInt8 = 0x80
            var highest: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lowest = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                highest = 0x9F
            case 0xF0:
                length = 4
                lowest = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                highest = 0x8F
            default: return index
            }
            guard end - index >= length, bytes[index + 1] >= lowest, bytes[index + 1] <= highest else {
                return index
            }
            for next in (index + 2)..<(index + length) where bytes[next] & 0xC0 != 0x80 {
                return index
            }
            index += length
        }
        return nil
    }

    // MARK: - Errors

    /// 1-based line of `offset`.
    func lineNumber(at offset: Int) -> Int {
        // The number of line starts at or before `offset`.
        var low = 0
        var high = lineStarts.count
        while low < high {
            let middle = (low + high) / 2
            if lineStarts[middle] <= offset {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return max(low, 1)
    }

    func error(_ message: String, at offset: Int) -> TOMLError {
        let offset = min(max(offset, 0), bytes.count)
        let line = lineNumber(at: offset)
        var index = max(lineStarts[line - 1], line == 1 ? contentStart : 0)
        var column = 1
        while index < offset {
            if bytes[index] & 0xC0 != 0x80 { column += 1 }
            index += 1
        }
        return TOMLError(line: line, column: column, message: message)
    }

    /// "expected X, found Y" at the current position.
    func unexpected(expecting expected: String) -> TOMLError {
        error("expected \(expected), found \(describeCurrent())", at: position)
    }

    func describeCurrent() -> String {
        guard let byte = current else { return "end of file" }
        switch byte {
        case UInt8(ascii: "\n"): return "end of line"
        case 0x00...0x1F, 0x7F: return "control character \(Self.scalarName(byte))"
        case 0x20..<0x7F: return "'\(Character(Unicode.Scalar(byte)))'"
        default:
            var decoder = UTF8()
            var iterator = bytes[position...].makeIterator()
            if case .scalarValue(let scalar) = decoder.decode(&iterator) {
                return "'\(Character(scalar))' (\(Self.scalarName(scalar.value)))"
            }
            return "an invalid byte"
        }
    }

    /// "U+000C".
    static func scalarName<Value: BinaryInteger>(_ value: Value) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// "an integer", "a string": a value's kind for a message.
    static func withArticle(_ value: TOMLValue) -> String {
        switch value {
        case .integer, .array, .offsetDateTime: "an " + value.typeName
        default: "a " + value.typeName
        }
    }

    /// A key path as written in a message: bare parts as they are, others quoted.
    static func describe(_ parts: some Collection<KeyPart>) -> String {
        parts.map { part in
            if !part.name.isEmpty, part.name.utf8.allSatisfy(isBareKeyByte) {
                return part.name
            }
            var quoted = "\""
            for scalar in part.name.unicodeScalars {
                switch scalar {
                case "\"": quoted += "\\\""
                case "\\": quoted += "\\\\"
                case "\u{0}"..."\u{1F}", "\u{7F}": quoted += "\\u" + scalarName(scalar.value).dropFirst(2)
                default: quoted.unicodeScalars.append(scalar)
                }
            }
            return quoted + "\""
        }.joined(separator: ".")
    }
}
