/// Unquoted values: booleans, integers, floats and the four date-time kinds.
extension TOMLParser {
    /// A value that is not a string, array or inline table: read up to the next delimiter, then
    /// checked against the grammar as a whole.
    @inline(never)  // keeps the recursive value parsers' stack frames small
    mutating func parseBareValue() throws(TOMLError) -> TOMLValue {
        let start = position
        var end = scanBareToken(from: start)
        // "1979-05-27 07:32:00": a date, one space, then a time.
        if end - start == 10, byte(at: start + 4) == UInt8(ascii: "-"), byte(at: end) == UInt8(ascii: " "),
            let hour1 = byte(at: end + 1), Self.isDigit(hour1), let hour2 = byte(at: end + 2), Self.isDigit(hour2),
            byte(at: end + 3) == UInt8(ascii: ":")
        {
            end = scanBareToken(from: end + 1)
        }
        guard end > start else {
            throw unexpected(expecting: "a value")
        }
        position = end
        let token = start..<end
        if bytes[token].elementsEqual("true".utf8) {
            return .boolean(true)
        }
        if bytes[token].elementsEqual("false".utf8) {
            return .boolean(false)
        }
        if Self.isDigit(bytes[start]) {
            let looksLikeTime =
                end - start > 2 && bytes[start + 2] == UInt8(ascii: ":") && Self.isDigit(bytes[start + 1])
            let looksLikeDate =
                end - start > 4 && bytes[start + 4] == UInt8(ascii: "-")
                && bytes[start..<(start + 4)].allSatisfy(Self.isDigit)
            if looksLikeTime || looksLikeDate {
                return try parseDateTime(token)
            }
        }
        return try parseNumber(token)
    }

    private func scanBareToken(from start: Int) -> Int {
        var end = start
        while let byte = byte(at: end) {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"),
                UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "#"),
                UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: "'"):
                return end
            default:
                end += 1
            }
        }
        return end
    }

    /// How a message refers to a bad bare token: by its length, never its text — an unquoted value may be
    /// a secret (an API key or JWT secret written without quotes), and configuration errors are printed and
    /// logged. The line and column locate it.
    private func quoted(_ token: Range<Int>) -> String {
        "(\(token.count) characters, not shown)"
    }

    // MARK: - Numbers

    /// Decimal, hexadecimal, octal and binary integers (64-bit, overflow refused); floats with
    /// fraction and/or exponent, `inf` and `nan`.
    private func parseNumber(_ token: Range<Int>) throws(TOMLError) -> TOMLValue {
        var index = token.lowerBound
        let end = token.upperBound
        let hasSign = bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")
        let isNegative = bytes[index] == UInt8(ascii: "-")
        if hasSign {
            index += 1
        }
        if bytes[index..<end].elementsEqual("inf".utf8) {
            return .float(isNegative ? -Double.infinity : Double.infinity)
        }
        if bytes[index..<end].elementsEqual("nan".utf8) {
            return .float(isNegative ? -Double.nan : Double.nan)
        }
        guard index < end, Self.isDigit(bytes[index]) else {
            let first = bytes[token.lowerBound]
            if first >= UInt8(ascii: "A") && first <= UInt8(ascii: "Z")
                || first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z")
            {
                throw error("invalid value \(quoted(token)) (strings must be quoted)", at: token.lowerBound)
            }
            throw error("invalid value \(quoted(token))", at: token.lowerBound)
        }

        if bytes[index] == UInt8(ascii: "0"), index + 1 < end,
            let radix = Self.radix(forPrefix: bytes[index + 1])
        {
            guard !hasSign else {
                throw error("a sign is not allowed before a hexadecimal, octal or binary integer", at: token.lowerBound)
            }
            let digitsEnd = try scanDigits(from: index + 2, to: end, radix: radix, in: token)
            guard digitsEnd == end else {
                throw error("invalid digit in integer \(quoted(token))", at: digitsEnd)
            }
            var value: Int64 = 0
            for byte in bytes[(index + 2)..<end] where byte != UInt8(ascii: "_") {
                let digit = Int64(Self.hexDigitValue(byte) ?? 0)
                let shifted = value.multipliedReportingOverflow(by: Int64(radix))
                let sum = shifted.partialValue.addingReportingOverflow(digit)
                guard !shifted.overflow, !sum.overflow else {
                    throw error("integer \(quoted(token)) does not fit in 64 bits", at: token.lowerBound)
                }
                value = sum.partialValue
            }
            return .integer(value)
        }

        let integerEnd = try scanDigits(from: index, to: end, radix: 10, in: token)
        if bytes[index] == UInt8(ascii: "0"), integerEnd > index + 1 {
            throw error("leading zeros are not allowed in \(quoted(token))", at: index)
        }
        var cursor = integerEnd
        var isFloat = false
        if cursor < end, bytes[cursor] == UInt8(ascii: ".") {
            isFloat = true
            cursor = try scanDigits(from: cursor + 1, to: end, radix: 10, in: token)
        }
        if cursor < end, bytes[cursor] == UInt8(ascii: "e") || bytes[cursor] == UInt8(ascii: "E") {
            isFloat = true
            cursor += 1
            if cursor < end, bytes[cursor] == UInt8(ascii: "+") || bytes[cursor] == UInt8(ascii: "-") {
                cursor += 1
            }
            cursor = try scanDigits(from: cursor, to: end, radix: 10, in: token)
        }
        guard cursor == end else {
            throw error("invalid number \(quoted(token))", at: cursor)
        }

        if isFloat {
            var text = ""
            text.reserveCapacity(token.count)
            for byte in bytes[token] where byte != UInt8(ascii: "_") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            }
            guard let value = Double(text), value.isFinite else {
                throw error("float \(quoted(token)) is out of range", at: token.lowerBound)
            }
            return .float(value)
        }
        // Accumulated as a negative number: Int64.min has no positive counterpart.
        var value: Int64 = 0
        for byte in bytes[index..<end] where byte != UInt8(ascii: "_") {
            let shifted = value.multipliedReportingOverflow(by: 10)
            let difference = shifted.partialValue.subtractingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !shifted.overflow, !difference.overflow else {
                throw error("integer \(quoted(token)) does not fit in 64 bits", at: token.lowerBound)
            }
            value = difference.partialValue
        }
        if !isNegative {
            guard value != Int64.min else {
                throw error("integer \(quoted(token)) does not fit in 64 bits", at: token.lowerBound)
            }
            value = -value
        }
        return .integer(value)
    }

    private static func radix(forPrefix byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "x"): 16
        case UInt8(ascii: "o"): 8
        case UInt8(ascii: "b"): 2
        default: nil
        }
    }

    /// Digits with single underscores between them; returns the offset after the last digit.
    private func scanDigits(from start: Int, to end: Int, radix: Int, in token: Range<Int>) throws(TOMLError) -> Int {
        func isDigit(_ offset: Int) -> Bool {
            guard offset < end, let value = Self.hexDigitValue(bytes[offset]) else { return false }
            return Int(value) < radix
        }
        guard isDigit(start) else {
            throw error("expected a digit in \(quoted(token))", at: start)
        }
        var index = start + 1
        while index < end {
            if bytes[index] == UInt8(ascii: "_") {
                guard isDigit(index + 1) else {
                    throw error("an underscore must stand between two digits in \(quoted(token))", at: index)
                }
                index += 2
            } else if isDigit(index) {
                index += 1
            } else {
                break
            }
        }
        return index
    }

    // MARK: - Date-times

    /// RFC 3339 date-times as TOML has them: offset date-time, local date-time, local date, local time.
    private func parseDateTime(_ token: Range<Int>) throws(TOMLError) -> TOMLValue {
        var cursor = token.lowerBound
        let end = token.upperBound
        if byte(at: cursor + 2) == UInt8(ascii: ":") {
            try readTime(at: &cursor, end: end, in: token)
            try expectEnd(cursor, end, token)
            return .localTime(String(decoding: bytes[token], as: UTF8.self))
        }
        try readDate(at: &cursor, end: end, in: token)
        if cursor == end {
            return .localDate(String(decoding: bytes[token], as: UTF8.self))
        }
        let separator = cursor
        guard
            bytes[cursor] == UInt8(ascii: "T") || bytes[cursor] == UInt8(ascii: "t")
                || bytes[cursor] == UInt8(ascii: " ")
        else {
            throw error("invalid date-time \(quoted(token)): expected 'T' between date and time", at: cursor)
        }
        cursor += 1
        try readTime(at: &cursor, end: end, in: token)
        var text = Array(bytes[token])
        text[separator - token.lowerBound] = UInt8(ascii: "T")
        if cursor == end {
            return .localDateTime(String(decoding: text, as: UTF8.self))
        }
        switch bytes[cursor] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            cursor += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            cursor += 1
            _ = try readField(at: &cursor, end: end, range: 0...23, name: "offset hour", in: token)
            try expect(UInt8(ascii: ":"), at: &cursor, end: end, in: token)
            _ = try readField(at: &cursor, end: end, range: 0...59, name: "offset minute", in: token)
        default:
            throw error("invalid date-time \(quoted(token)): expected 'Z' or an offset like +02:00", at: cursor)
        }
        try expectEnd(cursor, end, token)
        return .offsetDateTime(String(decoding: text, as: UTF8.self))
    }

    /// YYYY-MM-DD with the day checked against the month and leap years.
    private func readDate(at cursor: inout Int, end: Int, in token: Range<Int>) throws(TOMLError) {
        let year = try readField(at: &cursor, end: end, digits: 4, range: 0...9999, name: "year", in: token)
        try expect(UInt8(ascii: "-"), at: &cursor, end: end, in: token)
        let month = try readField(at: &cursor, end: end, range: 1...12, name: "month", in: token)
        try expect(UInt8(ascii: "-"), at: &cursor, end: end, in: token)
        let dayStart = cursor
        let day = try readField(at: &cursor, end: end, range: 1...31, name: "day", in: token)
        let isLeapYear = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let daysInMonth: Int
        switch month {
        case 2: daysInMonth = isLeapYear ? 29 : 28
        case 4, 6, 9, 11: daysInMonth = 30
        default: daysInMonth = 31
        }
        guard day <= daysInMonth else {
            throw error("invalid date-time \(quoted(token)): the month has only \(daysInMonth) days", at: dayStart)
        }
    }

    /// HH:MM:SS with an optional fraction; a leap second (60) is allowed.
    private func readTime(at cursor: inout Int, end: Int, in token: Range<Int>) throws(TOMLError) {
        _ = try readField(at: &cursor, end: end, range: 0...23, name: "hour", in: token)
        try expect(UInt8(ascii: ":"), at: &cursor, end: end, in: token)
        _ = try readField(at: &cursor, end: end, range: 0...59, name: "minute", in: token)
        try expect(UInt8(ascii: ":"), at: &cursor, end: end, in: token)
        _ = try readField(at: &cursor, end: end, range: 0...60, name: "second", in: token)
        if cursor < end, bytes[cursor] == UInt8(ascii: ".") {
            cursor += 1
            guard cursor < end, Self.isDigit(bytes[cursor]) else {
                throw error("invalid date-time \(quoted(token)): expected digits after '.'", at: cursor)
            }
            while cursor < end, Self.isDigit(bytes[cursor]) {
                cursor += 1
            }
        }
    }

    private func readField(
        at cursor: inout Int, end: Int, digits: Int = 2, range: ClosedRange<Int>, name: String, in token: Range<Int>
    ) throws(TOMLError) -> Int {
        let start = cursor
        var value = 0
        for _ in 0..<digits {
            guard cursor < end, Self.isDigit(bytes[cursor]) else {
                throw error("invalid date-time \(quoted(token)): the \(name) needs \(digits) digits", at: start)
            }
            value = value * 10 + Int(bytes[cursor] - UInt8(ascii: "0"))
            cursor += 1
        }
        guard range.contains(value) else {
            let low = String(range.lowerBound)
            let high = String(range.upperBound)
            let lowText = String(repeating: "0", count: max(0, digits - low.count)) + low
            throw error("invalid date-time \(quoted(token)): the \(name) must be \(lowText) to \(high)", at: start)
        }
        return value
    }

    private func expect(_ separator: UInt8, at cursor: inout Int, end: Int, in token: Range<Int>) throws(TOMLError) {
        guard cursor < end, bytes[cursor] == separator else {
            throw error(
                "invalid date-time \(quoted(token)): expected '\(Character(Unicode.Scalar(separator)))'", at: cursor)
        }
        cursor += 1
    }

    private func expectEnd(_ cursor: Int, _ end: Int, _ token: Range<Int>) throws(TOMLError) {
        guard cursor == end else {
            throw error("invalid date-time \(quoted(token)): unexpected characters at the end", at: cursor)
        }
    }
}
