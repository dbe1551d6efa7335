/// An IPv4 or IPv6 network (`10.0.0.0/8`, `fd00::/8`, a bare address for one host), as the policy layer
/// matches `server.trusted_proxies` (the configuration's own CIDR type lives in a target above this one).
public struct IPNetwork: Sendable, Equatable {
    /// 4 bytes (IPv4) or 16 bytes (IPv6), host bits zero.
    public let address: [UInt8]
    public let prefixLength: Int

    /// A network from its bytes; nil unless `address` has 4 or 16 bytes and `prefixLength` fits.
    /// Host bits beyond the prefix are cleared.
    public init?(address: [UInt8], prefixLength: Int) {
        guard address.count == 4 || address.count == 16, (0...(address.count * 8)).contains(prefixLength) else {
            return nil
        }
        self.address = IPNetwork.mask(address, prefixLength)
        self.prefixLength = prefixLength
    }

    /// `a.b.c.d/n`, `x:y::z/n` or a bare address; nil for anything else, host bits set included.
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        let slash = bytes.firstIndex(of: UInt8(ascii: "/"))
        guard let address = ClientAddress.parse(bytes[..<(slash ?? bytes.endIndex)]) else { return nil }
        var length = address.count * 8
        if let slash {
            let digits = bytes[(slash + 1)...]
            guard (1...3).contains(digits.count), digits.allSatisfy(ClientAddress.isDigit),
                let value = Int(String(decoding: digits, as: UTF8.self)), value <= length
            else { return nil }
            length = value
        }
        guard IPNetwork.mask(address, length) == address else { return nil }
        self.init(address: address, prefixLength: length)
    }

    /// Whether `address` (4 or 16 bytes) lies in this network. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) is matched against IPv4 networks as the IPv4 address it carries.
    public func contains(_ address: [UInt8]) -> Bool {
        let candidate = address.count == 16 && self.address.count == 4 ? ClientAddress.unmapped(address) : address
        guard candidate.count == self.address.count else { return false }
        var bits = prefixLength
        for index in candidate.indices where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xff : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if candidate[index] & mask != self.address[index] { return false }
            bits -= 8
        }
        return true
    }

    static func mask(_ address: [UInt8], _ length: Int) -> [UInt8] {
        var out = address
        for index in out.indices {
            let bitsHere = max(0, min(8, length - index * 8))
            out[index] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        return out
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
public struct TrustedProxies: Sendable {
    public let networks: [IPNetwork]

    public init(_ networks: [IPNetwork]) {
        self.networks = networks
    }

    public var isEmpty: Bool { networks.isEmpty }

    /// Whether `address` (4 or 16 bytes) belongs to one of the networks.
    public func contains(_ address: [UInt8]) -> Bool {
        networks.contains { $0.contains(address) }
    }
}

/// Who the client is (§2 `server.trusted_proxies`, §3.3): the connection's peer, unless that peer is a
/// trusted proxy, in which case `X-Forwarded-For` is walked from right to left — each hop was appended
/// by the machine to its right — for as long as the hops are trusted proxies themselves. The first
/// untrusted hop is the client. Entries left of it were written by the client and are never believed.
public enum ClientAddress {
    /// The client address in canonical text (dotted IPv4 — also for an IPv4-mapped IPv6 address — or
    /// RFC 5952 IPv6), so that one client always gets the same rate-limit key.
    ///
    /// `xForwardedFor` holds the values of every `X-Forwarded-For` field in the order received, each a
    /// comma-separated list. A hop that is not an IP address (a name, `unknown`, an address with a zone)
    /// stops the walk at the trusted hop right of it. A peer that is not an IP address at all is
    /// returned unchanged.
    public static func resolve(peer: String, xForwardedFor: [String], trusted: TrustedProxies) -> String {
        if trusted.isEmpty { return canonical(peer) }
        return resolve(peer: peer, xForwardedFor: xForwardedFor, isTrusted: trusted.contains)
    }

    /// `resolve(peer:xForwardedFor:trusted:)` with any matcher of trusted addresses (4 or 16 bytes).
    public static func resolve(
        peer: String, xForwardedFor: [String], isTrusted: ([UInt8]) -> Bool
    ) -> String {
        guard let address = parseHop(Array(peer.utf8)[...]) else { return peer }
        return resolve(peerAddress: address, xForwardedFor: xForwardedFor, isTrusted: isTrusted)
    }

    /// The same walk starting from the peer's address bytes (4 or 16, as the socket gave them).
    public static func resolve(peerAddress: [UInt8], xForwardedFor: [String], trusted: TrustedProxies) -> String {
        resolve(peerAddress: peerAddress, xForwardedFor: xForwardedFor, isTrusted: trusted.contains)
    }

    /// The walk itself, from the peer's address bytes with any matcher of trusted addresses.
    public static func resolve(
        peerAddress: [UInt8], xForwardedFor: [String], isTrusted: ([UInt8]) -> Bool
    ) -> String {
        var client = peerAddress
        guard isTrusted(client) else { return format(client) }
        walk: for value in xForwardedFor.reversed() {
            let bytes = Array(value.utf8)
            var end = bytes.endIndex
            while end > bytes.startIndex {
                let comma = bytes[..<end].lastIndex(of: UInt8(ascii: ",")) ?? bytes.startIndex - 1
                let element = trimmed(bytes[(comma + 1)..<end])
                end = comma
                // Empty list elements are allowed by the list syntax (RFC 9110 §5.6.1) and carry nothing.
                if element.isEmpty { continue }
                guard let hop = parseHop(element) else { break walk }
                client = hop
                if !isTrusted(hop) { break walk }
            }
        }
        return format(client)
    }

    /// The peer text in canonical form when it is an address, else unchanged.
    static func canonical(_ peer: String) -> String {
        guard let address = parseHop(Array(peer.utf8)[...]) else { return peer }
        return format(address)
    }

    /// One hop of a forwarding list: a bare address, `a.b.c.d:port`, `[v6]` or `[v6]:port`.
    static func parseHop(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard let first = text.first else { return nil }
        if first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let rest = text[(close + 1)...]
            guard rest.isEmpty || isPort(rest) else { return nil }
            return parseIPv6(text[(text.startIndex + 1)..<close])
        }
        if let colon = text.firstIndex(of: UInt8(ascii: ":")) {
            if text[(colon + 1)...].contains(UInt8(ascii: ":")) { return parseIPv6(text) }
            // Exactly one colon: an IPv4 address with a port.
            guard isPort(text[colon...]) else { return nil }
            return parseIPv4(text[..<colon])
        }
        return parseIPv4(text)
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 address written without brackets or port, or nil.
    public static func parse<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        let bytes = ArraySlice(text)
        return bytes.contains(UInt8(ascii: ":")) ? parseIPv6(bytes) : parseIPv4(bytes)
    }

    /// Dotted decimal, strict: four parts of 1 to 3 digits, at most 255, no leading zeros (which some
    /// parsers read as octal).
    static func parseIPv4(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(4)
        var value = 0
        var digits = 0
        for c in text {
            if c == UInt8(ascii: ".") {
                guard digits > 0, out.count < 3 else { return nil }
                out.append(UInt8(value))
                value = 0
                digits = 0
                continue
            }
            // A second digit after a leading zero ("01") is refused, like a fourth digit.
            guard isDigit(c), digits < 3, digits == 0 || value != 0 else { return nil }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            digits += 1
            guard value <= 255 else { return nil }
        }
        guard digits > 0, out.count == 3 else { return nil }
        out.append(UInt8(value))
        return out
    }

    /// Eight groups of 1 to 4 hex digits, one `::` for a run of zero groups, an optional dotted IPv4
    /// tail; no zone (`%eth0`).
    static func parseIPv6(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var words: [UInt16] = []
        words.reserveCapacity(8)
        var gap: Int? = nil
        var i = text.startIndex
        let end = text.endIndex
        guard text.count >= 2 else { return nil }
        if text[i] == UInt8(ascii: ":") {
            guard text[i + 1] == UInt8(ascii: ":") else { return nil }
            gap = 0
            i += 2
        }
        while i < end {
            var j = i
            var value: UInt32 = 0
            while j < end, let digit = hexValue(text[j]) {
                guard j - i < 4 else { return nil }
                value = value << 4 | UInt32(digit)
                j += 1
            }
            if j < end, text[j] == UInt8(ascii: ".") {
                guard words.count <= 6, let v4 = parseIPv4(text[i..<end]) else { return nil }
                words.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                words.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                i = end
                break
            }
            guard j > i, words.count < 8 else { return nil }
            words.append(UInt16(value))
            if j == end { break }
            guard text[j] == UInt8(ascii: ":"), j + 1 < end else { return nil }
            j += 1
            if text[j] == UInt8(ascii: ":") {
                guard gap == nil else { return nil }
                gap = words.count
                j += 1
            }
            i = j
        }
        if let gap {
            guard words.count <= 7 else { return nil }
            words.insert(contentsOf: repeatElement(0, count: 8 - words.count), at: gap)
        } else {
            guard words.count == 8 else { return nil }
        }
        var out = [UInt8]()
        out.reserveCapacity(16)
        for word in words {
            out.append(UInt8(word >> 8))
            out.append(UInt8(word & 0xff))
        }
        return out
    }

    /// Dotted decimal for 4 bytes and for an IPv4-mapped IPv6 address, RFC 5952 text for other 16 bytes.
    public static func format(_ address: [UInt8]) -> String {
        let bytes = unmapped(address)
        if bytes.count == 4 { return bytes.map { String($0) }.joined(separator: ".") }
        precondition(bytes.count == 16, "an IP address has 4 or 16 bytes")
        let words = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        // The longest run of two or more zero groups (the first of equals) is written `::`.
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard words[index] == 0 else {
                index += 1
                continue
            }
            var runEnd = index
            while runEnd < 8, words[runEnd] == 0 { runEnd += 1 }
            if runEnd - index > bestLength {
                bestStart = index
                bestLength = runEnd - index
            }
            index = runEnd
        }
        func hex(_ range: Range<Int>) -> String { range.map { String(words[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    /// The IPv4 address inside `::ffff:a.b.c.d`, else `address` itself.
    static func unmapped(_ address: [UInt8]) -> [UInt8] {
        guard address.count == 16, address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xff, address[11] == 0xff
        else { return address }
        return Array(address[12...])
    }

    /// `:` followed by 1 to 5 digits.
    private static func isPort(_ text: ArraySlice<UInt8>) -> Bool {
        guard text.first == UInt8(ascii: ":") else { return false }
        let digits = text.dropFirst()
        return (1...5).contains(digits.count) && digits.allSatisfy(isDigit)
    }

    private static func trimmed(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = text
        while let c = slice.first, c == 0x20 || c == 0x09 { slice = slice.dropFirst() }
        while let c = slice.last, c == 0x20 || c == 0x09 { slice = slice.dropLast() }
        return slice
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
