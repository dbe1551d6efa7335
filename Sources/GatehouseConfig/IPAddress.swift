/// Textual IP addresses to bytes: 4 for IPv4, 16 for IPv6, strict (no leading zeros, no zone ids).
public enum IPAddress {
    /// The 4 bytes of a dotted-quad IPv4 address, or nil.
    public static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(4)
        for part in parts {
            let digits = Array(part.utf8)
            // "010" would be octal to some parsers and decimal to others: refuse the ambiguity.
            guard (1...3).contains(digits.count), digits.allSatisfy(isDigit),
                digits.count == 1 || digits[0] != UInt8(ascii: "0"),
                let value = Int(part), value <= 255
            else { return nil }
            out.append(UInt8(value))
        }
        return out
    }

    /// The 16 bytes of an IPv6 address (with `::` compression and an optional dotted IPv4 tail), or nil.
    public static func parseIPv6(_ text: Substring) -> [UInt8]? {
        guard !text.isEmpty, !text.contains("%") else { return nil }
        var head = [UInt16]()
        var tail = [UInt16]()
        var sawGap = false
        let halves: [Substring]
        if let range = text.firstRange(of: "::") {
            sawGap = true
            halves = [text[..<range.lowerBound], text[range.upperBound...]]
            guard !halves[1].contains("::") else { return nil }
        } else {
            halves = [text]
        }
        for (which, half) in halves.enumerated() {
            guard !half.isEmpty else { continue }
            let groups = half.split(separator: ":", omittingEmptySubsequences: false)
            var words = [UInt16]()
            for (index, group) in groups.enumerated() {
                let isLast = which == halves.count - 1 && index == groups.count - 1
                if isLast, group.contains("."), let v4 = parseIPv4(group) {
                    words.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    words.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard (1...4).contains(group.utf8.count), group.utf8.allSatisfy(isHexDigit),
                    let word = UInt16(group, radix: 16)
                else { return nil }
                words.append(word)
            }
            if which == 0 { head = words } else { tail = words }
        }
        let count = head.count + tail.count
        if sawGap {
            guard count <= 7 else { return nil }
        } else {
            guard count == 8 else { return nil }
        }
        let words = head + [UInt16](repeating: 0, count: 8 - count) + tail
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    /// IPv4 or IPv6 (without brackets).
    public static func parse(_ text: Substring) -> [UInt8]? {
        text.contains(":") ? parseIPv6(text) : parseIPv4(text)
    }

    /// Whether `host` (a name or an address without brackets) is the loopback interface.
    public static func isLoopback(host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        if let v4 = parseIPv4(host[...]) { return v4[0] == 127 }
        if let v6 = parseIPv6(host[...]) {
            if v6 == [UInt8](repeating: 0, count: 15) + [1] { return true }
            // ::ffff:127.x.x.x
            return v6[0..<10].allSatisfy { $0 == 0 } && v6[10] == 0xff && v6[11] == 0xff && v6[12] == 127
        }
        return false
    }

    /// Whether `text` is a plausible DNS name: labels of letters, digits and hyphens (underscores tolerated).
    static func isHostName(_ text: Substring) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            let bytes = Array(label.utf8)
            guard (1...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-")
            else { return false }
            return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        }
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    static func isHexDigit(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
            || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }

    static func isAlphanumeric(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
            || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
    }
}
