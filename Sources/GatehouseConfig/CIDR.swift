/// An IPv4 or IPv6 network (`10.0.0.0/8`, `fd00::/8`; a bare address is a single host).
public struct CIDR: Sendable, Equatable, CustomStringConvertible {
    /// The network address: 4 bytes (IPv4) or 16 bytes (IPv6), host bits zero.
    public let network: [UInt8]
    public let prefixLength: Int

    /// Parses `text`; a network whose host bits are set (`10.0.0.1/8`) is refused as a likely typo.
    init(parsing text: String) throws(ValueError) {
        let expected = "expected a CIDR like \"10.0.0.0/8\" or \"fd00::/8\""
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress.parse(parts[0]) else { throw ValueError(expected) }
        let maxLength = address.count * 8
        var length = maxLength
        if parts.count == 2 {
            let digits = parts[1]
            guard (1...3).contains(digits.utf8.count), digits.utf8.allSatisfy(IPAddress.isDigit),
                let value = Int(digits), value <= maxLength
            else { throw ValueError(expected) }
            length = value
        }
        let masked = CIDR.mask(address, length)
        guard masked == address else {
            let suggestion = CIDR(network: masked, prefixLength: length)
            throw ValueError("\"\(text)\" has host bits set; did you mean \"\(suggestion)\"?")
        }
        network = masked
        prefixLength = length
    }

    /// A network from its bytes; host bits beyond `prefixLength` are cleared.
    public init(network: [UInt8], prefixLength: Int) {
        precondition(network.count == 4 || network.count == 16, "an IP address has 4 or 16 bytes")
        let length = max(0, min(prefixLength, network.count * 8))
        self.network = CIDR.mask(network, length)
        self.prefixLength = length
    }

    public var isIPv4: Bool { network.count == 4 }

    /// Whether `address` (4 or 16 bytes) lies in this network. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) is matched against IPv4 networks as the IPv4 address it carries.
    public func contains<C: Collection>(_ address: C) -> Bool where C.Element == UInt8 {
        var bytes = Array(address)
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff,
            bytes[11] == 0xff
        {
            bytes = Array(bytes[12...])
        }
        guard bytes.count == network.count else { return false }
        return CIDR.mask(bytes, prefixLength) == network
    }

    public var description: String {
        if isIPv4 { return network.map { String($0) }.joined(separator: ".") + "/\(prefixLength)" }
        return CIDR.formatIPv6(network) + "/\(prefixLength)"
    }

    private static func mask(_ address: [UInt8], _ length: Int) -> [UInt8] {
        var out = address
        for index in out.indices {
            let bitsHere = max(0, min(8, length - index * 8))
            out[index] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        return out
    }

    /// RFC 5952 text: lower-case hex, the longest run of two or more zero groups written `::`.
    static func formatIPv6(_ bytes: [UInt8]) -> String {
        let words = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            if words[index] == 0 {
                var end = index
                while end < 8, words[end] == 0 { end += 1 }
                if end - index > bestLength {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            } else {
                index += 1
            }
        }
        func hex(_ range: Range<Int>) -> String { range.map { String(words[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
