/// Response bodies and challenges of §4.
public enum ErrorBody {
    /// JSON-RPC error codes used by the gateway (§4).
    public enum RPCCode {
        public static let parseError = -32700
        public static let invalidRequest = -32600
        public static let invalidParams = -32602
        public static let insufficientPermissions = -32003
        public static let requestTimeout = -32001
        public static let headerMismatch = -32020
    }

    /// The contract's fixed message for an HTTP-level error status, nil for a status it does not list.
    public static func standardMessage(status: Int) -> String? {
        switch status {
        case 400: return "Bad request"
        case 403: return "Insufficient permissions"
        case 408: return "Request timeout"
        case 413: return "Request body too large"
        case 429: return "Rate limit exceeded"
        case 431: return "Request header fields too large"
        case 501: return "Not implemented"
        case 502: return "Upstream unavailable"
        case 504: return "Upstream timeout"
        default: return nil
        }
    }

    /// `{"error":"<message>","request_id":"<id>"}`.
    public static func json(message: String, requestID: String) -> [UInt8] {
        var json = JSONText(capacity: 64 + message.utf8.count)
        json.beginObject()
        json.field("error", message)
        json.field("request_id", requestID)
        json.endObject()
        return json.bytes
    }

    /// `{"jsonrpc":"2.0","id":<id>,"error":{"code":…,"message":"…","data":{"details":{…},"request_id":"…"}}}`.
    /// `id` is the raw JSON text of the request's id (a string or a number); nil, or text that is not a
    /// plain JSON string or number, gives `null`.
    public static func jsonRPC(
        id: String?, code: Int, message: String, details: [(String, String)], requestID: String
    ) -> [UInt8] {
        var json = JSONText(capacity: 128 + message.utf8.count)
        json.beginObject()
        json.field("jsonrpc", "2.0")
        json.key("id")
        if let id, isJSONIDText(id) { json.rawValue(id) } else { json.rawValue("null") }
        json.key("error")
        json.beginObject()
        json.field("code", code)
        json.field("message", message)
        json.key("data")
        json.beginObject()
        json.key("details")
        json.beginObject()
        for (name, value) in details { json.field(name, value) }
        json.endObject()
        json.field("request_id", requestID)
        json.endObject()
        json.endObject()
        json.endObject()
        return json.bytes
    }

    /// `Bearer realm="<realm>"`, then `resource_metadata="<url>"` when OAuth metadata is published and
    /// `error="invalid_token"` when a credential was presented.
    public static func wwwAuthenticate(realm: String, resourceMetadata: String?, tokenPresented: Bool) -> String {
        var value = "Bearer realm=" + quoted(realm)
        if let resourceMetadata { value += ", resource_metadata=" + quoted(resourceMetadata) }
        if tokenPresented { value += ", error=\"invalid_token\"" }
        return value
    }

    /// The 403 challenge for a JWT caller: `Bearer error="insufficient_scope", scope="<needed, space-separated>"`.
    public static func insufficientScope(scope: [String]) -> String {
        "Bearer error=\"insufficient_scope\", scope=" + quoted(scope.joined(separator: " "))
    }

    /// An RFC 9110 quoted-string: `"` and `\` escaped, control characters dropped (they cannot appear in a header).
    static func quoted(_ text: String) -> String {
        var out = [UInt8(ascii: "\"")]
        for c in text.utf8 {
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
                out.append(UInt8(ascii: "\\"))
                out.append(c)
            } else if c >= 0x20 && c != 0x7F || c == 0x09 {
                out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON string literal without raw control characters, or a JSON number.
    static func isJSONIDText(_ text: String) -> Bool {
        let u = Array(text.utf8)
        guard let first = u.first else { return false }
        if first == UInt8(ascii: "\"") {
            guard u.count >= 2, u.last == UInt8(ascii: "\"") else { return false }
            var escaped = false
            for c in u[1..<(u.count - 1)] {
                if c < 0x20 { return false }
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                } else if c == UInt8(ascii: "\"") {
                    return false
                }
            }
            return !escaped
        }
        return isJSONNumber(u)
    }

    private static func isJSONNumber(_ u: [UInt8]) -> Bool {
        var i = 0
        func digits() -> Int {
            let start = i
            while i < u.count, u[i] >= UInt8(ascii: "0"), u[i] <= UInt8(ascii: "9") { i += 1 }
            return i - start
        }
        if i < u.count, u[i] == UInt8(ascii: "-") { i += 1 }
        guard i < u.count else { return false }
        if u[i] == UInt8(ascii: "0") {
            i += 1
        } else if digits() == 0 {
            return false
        }
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            if digits() == 0 { return false }
        }
        if i < u.count, u[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < u.count, u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") { i += 1 }
            if digits() == 0 { return false }
        }
        return i == u.count
    }
}
