/// An `http://` or `https://` URL the gateway connects to (the upstream MCP server, a JWKS endpoint).
public struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    /// The two schemes the gateway speaks.
    public enum Scheme: String, Sendable {
        case http, https
    }

    public var scheme: Scheme
    /// A host name or an address; IPv6 without brackets.
    public var host: String
    /// The explicit port, or the scheme's default (80, 443).
    public var port: UInt16
    /// The path below which requests go, without a trailing slash ("" for the root).
    public var basePath: String
    /// The query without `?` ("" when none); only JWKS URLs may carry one.
    public var query: String
    /// What the `Host` header must say: the host as written, with the port when the URL names one
    /// (`"127.0.0.1:8000"`, `"[::1]:8000"`, `"mcp.internal"`).
    public var authority: String

    public init(
        scheme: Scheme, host: String, port: UInt16, basePath: String = "", query: String = "", authority: String
    ) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
        self.query = query
        self.authority = authority
    }

    /// Whether the connection is TLS.
    public var isTLS: Bool { scheme == .https }

    /// The request target for the URL itself: `basePath` (or `/`) and the query.
    public var requestTarget: String {
        (basePath.isEmpty ? "/" : basePath) + (query.isEmpty ? "" : "?" + query)
    }

    public var description: String { "\(scheme.rawValue)://\(authority)\(basePath)\(query.isEmpty ? "" : "?" + query)" }

    static let expected = "expected a URL like \"http://127.0.0.1:8000\""

    init(parsing text: String, allowsQuery: Bool = false) throws(ValueError) {
        let scheme: Scheme
        let rest: Substring
        let lower = text.lowercased()
        if lower.hasPrefix("http://") {
            scheme = .http
            rest = text.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            scheme = .https
            rest = text.dropFirst(8)
        } else {
            throw ValueError("\(Self.expected) (http or https)")
        }
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7f }) else {
            throw ValueError("\(Self.expected): spaces and control characters are not allowed")
        }
        guard !rest.contains("#") else { throw ValueError("\(Self.expected): a fragment (#) is not allowed") }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var pathAndQuery = rest[authorityEnd...]
        guard !authority.contains("@") else {
            throw ValueError("\(Self.expected): credentials in the URL are not supported")
        }
        var query: Substring = ""
        if let mark = pathAndQuery.firstIndex(of: "?") {
            query = pathAndQuery[pathAndQuery.index(after: mark)...]
            pathAndQuery = pathAndQuery[..<mark]
            guard allowsQuery else { throw ValueError("\(Self.expected): a query (?) is not allowed here") }
        }
        let host: Substring
        var port: UInt16 = scheme == .https ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw ValueError(Self.expected) }
            host = authority[authority.index(after: authority.startIndex)..<close]
            guard IPAddress.parseIPv6(host) != nil else { throw ValueError("\(Self.expected): bad IPv6 address") }
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = ListenAddress.parsePort(after.dropFirst()) else {
                    throw ValueError("\(Self.expected): bad port")
                }
                port = p
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                guard let p = ListenAddress.parsePort(authority[authority.index(after: colon)...]) else {
                    throw ValueError("\(Self.expected): bad port")
                }
                port = p
            } else {
                host = authority
            }
            let isAddress = IPAddress.parseIPv4(host) != nil
            guard isAddress || (IPAddress.isHostName(host) && !ListenAddress.looksNumeric(host)) else {
                throw ValueError("\(Self.expected): bad host \"\(host)\"")
            }
        }
        var path = String(pathAndQuery)
        while path.hasSuffix("/") { path.removeLast() }
        self.scheme = scheme
        self.host = String(host)
        self.port = port
        self.basePath = path
        self.query = String(query)
        self.authority = String(authority)
    }
}
