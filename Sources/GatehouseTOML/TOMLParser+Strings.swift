/// The four string forms: basic "…", literal '…', and their multi-line forms.
extension TOMLParser {
    /// `"…"` with escapes, on one line.
    @inline(never)  // keeps the recursive value parsers' stack frames small
    mutating func parseBasicString() throws(TOMLError) -> String {
        let open = position
        position += 1
        var text: [UInt8] = []
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &text)
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                throw error("unterminated string", at: open)
            default:
                try appendStringByte(byte, to: &text)
            }
        }
        throw error("unterminated string", at: open)
    }

    /// `"""…"""`: a newline right after the opening quotes is dropped, a backslash at the end of a
    /// line removes the line break and the whitespace after it.
    @inline(never)  // keeps the recursive value parsers' stack frames small
    mutating func parseMultilineBasicString() throws(TOMLError) -> String {
        let open = position
        position += 3
        _ = try consumeNewline()
        var text: [UInt8] = []
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                if try closesMultilineString(quote: byte, text: &text) {
                    return String(decoding: text, as: UTF8.self)
                }
            case UInt8(ascii: "\\"):
                var next = position + 1
                while let space = self.byte(at: next), space == UInt8(ascii: " ") || space == UInt8(ascii: "\t") {
                    next += 1
                }
                if let end = self.byte(at: next), end == UInt8(ascii: "\n") || end == UInt8(ascii: "\r") {
                    position = next
                    try skipWhitespaceAndNewlines()
                } else {
                    try parseEscape(into: &text)
                }
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                _ = try consumeNewline()
                text.append(UInt8(ascii: "\n"))
            default:
                try appendStringByte(byte, to: &text)
            }
        }
        throw error("unterminated multi-line string", at: open)
    }

    /// `'…'`: no escapes, on one line.
    @inline(never)  // keeps the recursive value parsers' stack frames small
    mutating func parseLiteralString() throws(TOMLError) -> String {
        let open = position
        position += 1
        var text: [UInt8] = []
        while let byte = current {
            switch byte {
            case UInt8(ascii: "'"):
                position += 1
                return String(decoding: text, as: UTF8.self)
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                throw error("unterminated string", at: open)
            default:
                try appendStringByte(byte, to: &text)
            }
        }
        throw error("unterminated string", at: open)
    }

    /// `'''…'''`: no escapes; a newline right after the opening quotes is dropped.
    @inline(never)  // keeps the recursive value parsers' stack frames small
    mutating func parseMultilineLiteralString() throws(TOMLError) -> String {
        let open = position
        position += 3
        _ = try consumeNewline()
        var text: [UInt8] = []
        while let byte = current {
            switch byte {
            case UInt8(ascii: "'"):
                if try closesMultilineString(quote: byte, text: &text) {
                    return String(decoding: text, as: UTF8.self)
                }
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                _ = try consumeNewline()
                text.append(UInt8(ascii: "\n"))
            default:
                try appendStringByte(byte, to: &text)
            }
        }
        throw error("unterminated multi-line string", at: open)
    }

    /// At a run of quotes inside a multi-line string: one or two are content; three to five end the
    /// string, the first one or two of them being content; more is an error.
    private mutating func closesMultilineString(quote: UInt8, text: inout [UInt8]) throws(TOMLError) -> Bool {
        var count = 0
        while byte(at: position + count) == quote {
            count += 1
        }
        if count > 5 {
            throw error("too many quotes at the end of a multi-line string", at: position + 5)
        }
        let contentQuotes = count >= 3 ? count - 3 : count
        text.append(contentsOf: repeatElement(quote, count: contentQuotes))
        position += count
        return count >= 3
    }

    /// After a line-ending backslash.
    private mutating func skipWhitespaceAndNewlines() throws(TOMLError) {
        while true {
            skipWhitespace()
            guard try consumeNewline() else { return }
        }
    }

    /// A string byte that is not special: tab and UTF-8 allowed, other control characters refused.
    private mutating func appendStringByte(_ byte: UInt8, to text: inout [UInt8]) throws(TOMLError) {
        switch byte {
        case UInt8(ascii: "\t"):
            break
        case 0x00...0x1F, 0x7F:
            throw error("control character \(Self.scalarName(byte)) must be escaped in a string", at: position)
        default:
            break
        }
        text.append(byte)
        position += 1
    }

    /// `\b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX` (TOML 1.0 has no `\e` or `\x`).
    private mutating func parseEscape(into text: inout [UInt8]) throws(TOMLError) {
        let start = position
        position += 1
        guard let letter = current else {
            throw error("unterminated string", at: start)
        }
        position += 1
        switch letter {
        case UInt8(ascii: "b"): text.append(0x08)
        case UInt8(ascii: "t"): text.append(0x09)
        case UInt8(ascii: "n"): text.append(0x0A)
        case UInt8(ascii: "f"): text.append(0x0C)
        case UInt8(ascii: "r"): text.append(0x0D)
        case UInt8(ascii: "\""): text.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): text.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let digits = letter == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<digits {
                guard let byte = current, let digit = Self.hexDigitValue(byte) else {
                    throw error("\\\(Character(Unicode.Scalar(letter))) needs \(digits) hexadecimal digits", at: start)
                }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw error("escape \(Self.scalarName(value)) is not a Unicode scalar value", at: start)
            }
            UTF8.encode(scalar) { text.append($0) }
        default:
            position = start + 1
            if letter > 0x20, letter < 0x7F {
                throw error("invalid escape sequence '\\\(Character(Unicode.Scalar(letter)))'", at: start)
            }
            throw error("invalid escape: a backslash followed by \(describeCurrent())", at: start)
        }
    }

    static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
