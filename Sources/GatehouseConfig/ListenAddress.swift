/// A `host:port` to listen on; IPv6 hosts are written in brackets (`[::]:8443`) and kept without them.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// An IPv4 address, an IPv6 address (no brackets) or a host name.
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    static let expected = "expected host:port like \"0.0.0.0:8080\" or \"[::]:8080\""

    init(parsing text: String) throws(ValueError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ValueError(Self.expected) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ValueError(Self.expected) }
            portText = rest.dropFirst()
            guard IPAddress.parseIPv6(host) != nil else {
                throw ValueError("\"\(host)\" is not an IPv6 address; \(Self.expected)")
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ValueError(Self.expected) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                throw ValueError("an IPv6 address must be written in brackets, like \"[::1]:8080\"")
            }
            guard IPAddress.parseIPv4(host) != nil || (IPAddress.isHostName(host) && !Self.looksNumeric(host)) else {
                throw ValueError(Self.expected)
            }
        }
        guard let port = Self.parsePort(portText) else { throw ValueError("port must be a number from 1 to 65535") }
        self.host = String(host)
        self.port = port
    }

    /// Whether `host` is an IPv6 address.
    public var isIPv6: Bool { host.contains(":") }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func parsePort(_ text: Substring) -> UInt16? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy(IPAddress.isDigit), let value = Int(text),
            (1...65535).contains(value)
        else { return nil }
        return UInt16(value)
    }

    /// "1.2.3" or "300.1.1.1" are broken addresses, not host names.
    static func looksNumeric(_ host: Substring) -> Bool {
        host.utf8.allSatisfy { IPAddress.isDigit($0) || $0 == UInt8(ascii: ".") }
    }
}
