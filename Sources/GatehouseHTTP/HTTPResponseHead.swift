/// A parsed status line and header section of an upstream response, with the framing decided.
public struct HTTPResponseHead: Sendable, Equatable {
    public var version: HTTPVersion
    public var status: Int
    /// The reason phrase as sent (may be empty); informational only.
    public var reason: String
    public var headers: HTTPHeaders
    /// `.none` for HEAD, 204 and 304; else `.contentLength`, `.chunked` or `.untilClose`.
    public var framing: BodyFraming
    /// The upstream connection may be reused after this response.
    public var keepAlive: Bool

    public init(
        version: HTTPVersion = .http1_1, status: Int, reason: String = "", headers: HTTPHeaders = HTTPHeaders(),
        framing: BodyFraming = .none, keepAlive: Bool = true
    ) {
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
    }
}
