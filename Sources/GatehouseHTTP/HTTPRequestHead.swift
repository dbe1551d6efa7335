/// A parsed request line and header section, with the framing and connection decisions already made.
public struct HTTPRequestHead: Sendable, Equatable {
    /// As sent, e.g. "POST" (methods are case-sensitive).
    public var method: String
    /// The request-target as sent, e.g. "/mcp?x=1".
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// `.none`, `.contentLength(n)` or `.chunked`; never `.untilClose` for a request.
    public var framing: BodyFraming
    /// The connection may carry another request after this one: the version's default, overridden by
    /// `Connection: close` / `keep-alive`.
    public var keepAlive: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request: the client waits for "100 Continue" before the body.
    public var expectsContinue: Bool

    public init(
        method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(),
        framing: BodyFraming = .none, keepAlive: Bool = true, expectsContinue: Bool = false
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
    }

    /// The four shapes of request-target (RFC 9112 §3.2).
    public enum TargetForm: Sendable, Equatable {
        /// "/path?query": the usual form.
        case origin
        /// "http://host/path?query": sent to proxies; servers must accept it too.
        case absolute
        /// "host:port": CONNECT only.
        case authority
        /// "*": OPTIONS only.
        case asterisk
    }

    public var targetForm: TargetForm {
        if target.utf8.first == UInt8(ascii: "/") { return .origin }
        if target == "*" { return .asterisk }
        if method == "CONNECT" { return .authority }
        return .absolute
    }

    /// The target to forward: itself for origin-form, the path and query of an absolute-form target ("/"
    /// when it has no path), "*" for asterisk-form, the target as is for authority-form. Forward this,
    /// not `target`, so the upstream routes on the same path the gateway checked.
    public var originFormTarget: Substring {
        switch targetForm {
        case .origin, .authority, .asterisk: return target[...]
        case .absolute:
            guard let schemeEnd = target.firstRange(of: "://") else { return "/" }
            let rest = target[schemeEnd.upperBound...]
            guard let pathStart = rest.utf8.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") })
            else { return "/" }
            if rest.utf8[pathStart] == UInt8(ascii: "?") { return ("/" + rest[pathStart...])[...] }
            return rest[pathStart...]
        }
    }

    /// The path of the target: `originFormTarget` up to the first "?". Policies match on this.
    public var path: Substring {
        let origin = originFormTarget
        if let question = origin.utf8.firstIndex(of: UInt8(ascii: "?")) { return origin[..<question] }
        return origin
    }

    /// The query after the first "?", without it; nil when there is none.
    public var query: Substring? {
        let origin = originFormTarget
        guard let question = origin.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return origin[origin.utf8.index(after: question)...]
    }
}
