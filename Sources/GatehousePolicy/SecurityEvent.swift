/// A security-log event of §10: `auth`, `access` or `security`, with the request's address, user agent
/// and id (null when the event belongs to no request, like a configuration reload).
public struct SecurityEvent: Sendable {
    /// How urgent a `security` event is.
    public enum Severity: String, Sendable { case low, medium, high }

    /// What the event says; decides `event_type` and the type-specific fields.
    public enum Payload: Sendable {
        /// An authentication attempt; `method` is nil when no credential kind could be told.
        case auth(userID: String?, success: Bool, method: Principal.Kind?, reason: String?)
        /// An authorization decision on `resource` (path or `tools/call:<tool>`) for `action`
        /// (the JSON-RPC method or the HTTP method).
        case access(resource: String, action: String, userID: String?, allowed: Bool)
        /// Anything else worth an operator's attention; `kind` is `rate_limited`, `origin_refused`, …
        case security(severity: Severity, kind: String, details: [(String, LogValue)])
    }

    public var payload: Payload
    public var ipAddress: String?
    public var userAgent: String?
    public var requestID: String?

    public init(_ payload: Payload, ipAddress: String?, userAgent: String?, requestID: String?) {
        self.payload = payload
        self.ipAddress = ipAddress
        self.userAgent = userAgent
        self.requestID = requestID
    }

    /// `auth`, `access` or `security`.
    public var eventType: String {
        switch payload {
        case .auth: return "auth"
        case .access: return "access"
        case .security: return "security"
        }
    }

    /// A successful authentication of `principal`.
    public static func authenticated(
        _ principal: Principal, ipAddress: String?, userAgent: String?, requestID: String?
    ) -> SecurityEvent {
        SecurityEvent(
            .auth(userID: principal.name, success: true, method: principal.kind, reason: nil),
            ipAddress: ipAddress, userAgent: userAgent, requestID: requestID)
    }

    /// A failed authentication. The credential itself is never part of the event.
    public static func authenticationFailed(
        _ failure: AuthFailure, ipAddress: String?, userAgent: String?, requestID: String?
    ) -> SecurityEvent {
        SecurityEvent(
            .auth(userID: nil, success: false, method: failure.method, reason: failure.reason),
            ipAddress: ipAddress, userAgent: userAgent, requestID: requestID)
    }
}

/// One access-log record of §10 (`event_type` `request`), written when a request ends.
public struct AccessRecord: Sendable {
    public var method: String
    /// The request target; only the path is logged, a query string (which may hold secrets) never is.
    public var path: String
    public var status: Int
    public var durationMilliseconds: Double
    public var bytesIn: Int64
    public var bytesOut: Int64
    /// Time to the upstream's response head; nil when the request never reached the upstream.
    public var upstreamMilliseconds: Double?
    public var userID: String?
    public var rpcMethod: String?
    public var tool: String?
    public var requestID: String
    public var ipAddress: String

    public init(
        method: String, path: String, status: Int, durationMilliseconds: Double, bytesIn: Int64,
        bytesOut: Int64, upstreamMilliseconds: Double?, userID: String?, rpcMethod: String?, tool: String?,
        requestID: String, ipAddress: String
    ) {
        self.method = method
        self.path = path
        self.status = status
        self.durationMilliseconds = durationMilliseconds
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.upstreamMilliseconds = upstreamMilliseconds
        self.userID = userID
        self.rpcMethod = rpcMethod
        self.tool = tool
        self.requestID = requestID
        self.ipAddress = ipAddress
    }
}
