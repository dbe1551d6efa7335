/// How a request ended early: the status, the contract's message, extra headers, and what to log.
/// A rejection is a value that flows to the response writer and the security log, never a thrown error.
public struct Rejection: Sendable {
    /// The shape of the response body (§4): a plain JSON error, or a JSON-RPC error for MCP messages.
    public enum BodyKind: Sendable {
        case json
        /// `id` is the raw JSON text of the request's id, nil when it could not be read.
        case jsonRPC(id: String?, code: Int, details: [(String, String)])
    }

    public var status: Int
    public var message: String
    public var headers: [(String, String)]
    public var securityEvent: SecurityEvent?
    public var bodyKind: BodyKind

    public init(
        status: Int, message: String, headers: [(String, String)] = [], securityEvent: SecurityEvent? = nil,
        bodyKind: BodyKind = .json
    ) {
        self.status = status
        self.message = message
        self.headers = headers
        self.securityEvent = securityEvent
        self.bodyKind = bodyKind
    }

    /// The response body for the request `requestID`.
    public func body(requestID: String) -> [UInt8] {
        switch bodyKind {
        case .json:
            return ErrorBody.json(message: message, requestID: requestID)
        case .jsonRPC(let id, let code, let details):
            return ErrorBody.jsonRPC(id: id, code: code, message: message, details: details, requestID: requestID)
        }
    }

    /// A 401 with the contract's message and `WWW-Authenticate` challenge for `failure`.
    /// `resourceMetadata` is the full URL of the protected-resource metadata when OAuth is configured.
    public static func unauthorized(
        _ failure: AuthFailure, realm: String = "gatehouse", resourceMetadata: String? = nil,
        securityEvent: SecurityEvent? = nil
    ) -> Rejection {
        let challenge = ErrorBody.wwwAuthenticate(
            realm: realm, resourceMetadata: resourceMetadata, tokenPresented: failure.tokenPresented)
        return Rejection(
            status: 401, message: failure.message, headers: [("WWW-Authenticate", challenge)],
            securityEvent: securityEvent)
    }

    /// A 403 `Insufficient permissions`; a JWT caller also gets the `insufficient_scope` challenge
    /// naming `required`. On an MCP path pass `jsonRPCID` (raw id text, or nil for null) for a
    /// JSON-RPC body with code -32003.
    public static func forbidden(
        principal: Principal?, required: [String], securityEvent: SecurityEvent? = nil,
        jsonRPC: Bool = false, jsonRPCID: String? = nil
    ) -> Rejection {
        var headers: [(String, String)] = []
        if principal?.kind == .jwt {
            headers.append(("WWW-Authenticate", ErrorBody.insufficientScope(scope: required)))
        }
        let kind: BodyKind =
            jsonRPC ? .jsonRPC(id: jsonRPCID, code: ErrorBody.RPCCode.insufficientPermissions, details: []) : .json
        return Rejection(
            status: 403, message: "Insufficient permissions", headers: headers, securityEvent: securityEvent,
            bodyKind: kind)
    }

    /// A plain JSON error with the contract's message for `status` (§4), e.g. 408, 413, 431, 502, 504.
    public static func standard(status: Int, securityEvent: SecurityEvent? = nil) -> Rejection {
        Rejection(
            status: status, message: ErrorBody.standardMessage(status: status) ?? "Error",
            securityEvent: securityEvent)
    }
}
