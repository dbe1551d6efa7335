/// What the CORS step (§3.4) decided for one request.
public enum CORSDecision: Sendable {
    /// No `Origin`: not a cross-origin browser request, nothing to check or add.
    case noOrigin
    /// A preflight from an allowed origin: answer 204 here with these headers (§7).
    case preflightAllowed(headers: [(String, String)])
    /// A preflight from another origin: 403.
    case preflightRefused
    /// Any other request from an origin that is not allowed: 403 `Origin not allowed` (the MCP
    /// DNS-rebinding rule).
    case refused
    /// A request from an allowed origin: go on, and add these headers to whatever answers it.
    case allowed(responseHeaders: [(String, String)])
}

/// The `[cors]` policy (§3.4, §7): preflights are answered by the gateway, allowed origins are echoed with
/// `Vary: Origin`, and any request carrying another `Origin` is refused. Origins are compared exactly,
/// except that scheme and host are case-insensitive (`HTTPS://App.Example` is `https://app.example`; a
/// port is part of the origin, a default port is not assumed). `*` allows every origin (the
/// configuration refuses it together with credentials). The fixed header blocks are built once here.
public struct CORSPolicy: Sendable {
    /// `Access-Control-Allow-Methods` of a preflight answer.
    public static let allowMethods = "GET, POST, DELETE, OPTIONS"
    /// `Access-Control-Allow-Headers` of a preflight answer.
    public static let allowHeaders =
        "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name"
    /// `Access-Control-Expose-Headers` of every answer to an allowed origin.
    public static let exposeHeaders =
        "Mcp-Session-Id, WWW-Authenticate, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"

    public let allowsAnyOrigin: Bool
    public let allowCredentials: Bool
    public let maxAgeSeconds: Int
    /// Allowed origins, lower-cased.
    private let origins: Set<String>
    /// Headers after `Access-Control-Allow-Origin` on an answer to an allowed origin.
    private let responseTail: [(String, String)]
    /// Headers after `Access-Control-Allow-Origin` on a preflight answer.
    private let preflightTail: [(String, String)]

    public init(origins: [String], allowCredentials: Bool, maxAgeSeconds: Int) {
        precondition(
            !(allowCredentials && origins.contains("*")), "the configuration refuses \"*\" with credentials")
        allowsAnyOrigin = origins.contains("*")
        self.origins = Set(origins.filter { $0 != "*" }.map(Self.lowercased))
        self.allowCredentials = allowCredentials
        self.maxAgeSeconds = max(0, maxAgeSeconds)
        var response = [("Vary", "Origin"), ("Access-Control-Expose-Headers", Self.exposeHeaders)]
        var preflight = response
        preflight.append(("Access-Control-Allow-Methods", Self.allowMethods))
        preflight.append(("Access-Control-Allow-Headers", Self.allowHeaders))
        preflight.append(("Access-Control-Max-Age", String(self.maxAgeSeconds)))
        if allowCredentials {
            // A credentialed fetch can only read the answer itself when it says so too (Fetch §3.2.5).
            response.append(("Access-Control-Allow-Credentials", "true"))
            preflight.append(("Access-Control-Allow-Credentials", "true"))
        }
        responseTail = response
        preflightTail = preflight
    }

    /// The decision for a request with HTTP `method`, its `Origin` value and its
    /// `Access-Control-Request-Method` value. A preflight is an `OPTIONS` carrying both headers; an
    /// `OPTIONS` without `Access-Control-Request-Method` is an ordinary request.
    public func evaluate(method: String, origin: String?, requestMethodHeader: String?) -> CORSDecision {
        guard let origin else { return .noOrigin }
        let isPreflight = requestMethodHeader != nil && method == "OPTIONS"
        guard allows(origin: origin) else { return isPreflight ? .preflightRefused : .refused }
        let echo = ("Access-Control-Allow-Origin", origin)
        return isPreflight
            ? .preflightAllowed(headers: [echo] + preflightTail) : .allowed(responseHeaders: [echo] + responseTail)
    }

    /// Whether `origin` (an `Origin` header value) is allowed.
    public func allows(origin: String) -> Bool {
        if allowsAnyOrigin { return !origin.isEmpty }
        if origin.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
            return origins.contains(Self.lowercased(origin))
        }
        return origins.contains(origin)
    }

    /// The 403 `Origin not allowed` for a refused request or preflight, with `Vary: Origin` (the answer
    /// depends on it) and a `security` event of kind `origin_refused` (severity medium) naming the origin.
    public static func rejection(
        origin: String, preflight: Bool, ipAddress: String?, userAgent: String?, requestID: String?
    ) -> Rejection {
        let event = SecurityEvent(
            .security(
                severity: .medium, kind: "origin_refused",
                details: [("origin", .string(origin)), ("preflight", .bool(preflight))]),
            ipAddress: ipAddress, userAgent: userAgent, requestID: requestID)
        return Rejection(
            status: 403, message: "Origin not allowed", headers: [("Vary", "Origin")], securityEvent: event)
    }

    private static func lowercased(_ text: String) -> String {
        String(
            decoding: text.utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 },
            as: UTF8.self)
    }
}
