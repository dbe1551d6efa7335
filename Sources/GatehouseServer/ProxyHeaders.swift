import GatehouseHTTP
import GatehousePolicy
import GatehousePosix

/// The header rewriting of forwarding (contract §3 steps 8 and 9).
///
/// It runs for every forwarded request and every answer, so a field name is never lower-cased or hashed:
/// `FieldKind` classifies it by length and an ASCII case-insensitive byte comparison, and the names that
/// come from configuration or from the message's Connection fields are compared the same way
/// (`HTTPHeaders.namesEqual`). Field names from the parser are tokens (ASCII), so ASCII folding is all the
/// case-insensitivity there is.
enum ProxyHeaders {
    /// Hop-by-hop fields (RFC 9110 §7.6.1) plus the framing fields the gateway sets itself. The list that
    /// `FieldKind` recognizes as `.hopByHop` (tests hold the two together).
    static let hopByHop: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate", "content-length", "expect",
    ]

    /// Fields the gateway sets on the forwarded request; a client's own values are never passed on
    /// (a client must not be able to claim an identity or an address). `FieldKind` recognizes them as
    /// `.host`, `.forwardedFor`, `.setByGateway` and `.requestID`.
    static let setByGateway: [String] = [
        "host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id",
    ]

    /// What the rewriting does with a field, decided from its name against the fixed lists above and the
    /// prefixes of answer fields the gateway may replace.
    enum FieldKind: Equatable {
        case hopByHop
        case host
        /// X-Forwarded-For: set by the gateway; a trusted proxy's value starts the chain.
        case forwardedFor
        /// X-Forwarded-Proto, X-Forwarded-Host.
        case setByGateway
        /// X-Request-Id: set by the gateway in both directions.
        case requestID
        case authorization
        case origin
        /// Access-Control-*: replaced when the gateway answers CORS itself.
        case accessControl
        /// RateLimit-*: replaced when the gateway's rate limiter speaks.
        case rateLimit
        case other

        /// Classifies `name` without allocating: native strings (all the parser makes) expose their UTF-8
        /// in place; only a bridged string would be copied.
        init(name: String) {
            self = name.utf8.withContiguousStorageIfAvailable { FieldKind(bytes: $0) }
                ?? Array(name.utf8).withUnsafeBufferPointer { FieldKind(bytes: $0) }
        }

        /// The length picks the few names worth comparing; each comparison folds only the field's bytes.
        init(bytes b: UnsafeBufferPointer<UInt8>) {
            func isName(_ lowercase: StaticString) -> Bool { HTTPHeaders.bytes(b, equalLowercase: lowercase) }
            let exact: FieldKind? =
                switch b.count {
                case 2: isName("te") ? .hopByHop : nil
                case 4: isName("host") ? .host : nil
                case 6: isName("expect") ? .hopByHop : isName("origin") ? .origin : nil
                case 7: isName("trailer") || isName("upgrade") ? .hopByHop : nil
                case 10: isName("connection") || isName("keep-alive") ? .hopByHop : nil
                case 12: isName("x-request-id") ? .requestID : nil
                case 13: isName("authorization") ? .authorization : nil
                case 14: isName("content-length") ? .hopByHop : nil
                case 15: isName("x-forwarded-for") ? .forwardedFor : nil
                case 16: isName("proxy-connection") ? .hopByHop : isName("x-forwarded-host") ? .setByGateway : nil
                case 17: isName("transfer-encoding") ? .hopByHop : isName("x-forwarded-proto") ? .setByGateway : nil
                case 18: isName("proxy-authenticate") ? .hopByHop : nil
                case 19: isName("proxy-authorization") ? .hopByHop : nil
                default: nil
                }
            if let exact {
                self = exact
            } else if HTTPHeaders.bytes(b, haveLowercasePrefix: "access-control-") {
                self = .accessControl
            } else if HTTPHeaders.bytes(b, haveLowercasePrefix: "ratelimit-") {
                self = .rateLimit
            } else {
                self = .other
            }
        }
    }

    /// The field names a message's Connection fields list: hop-by-hop for that message too (RFC 9110
    /// §7.6.1). Nothing is copied out of the head: only the span of the Connection fields is kept, and a
    /// name is looked up by walking their elements in place.
    struct ConnectionOptions {
        /// The options named by the Connection fields, read once; `keep-alive` is left out (a field of that
        /// name is hop-by-hop anyway), so for nearly every message this stays empty and allocates nothing.
        private var names: [Substring] = []

        init(_ headers: HTTPHeaders) {
            for i in 0..<headers.count where HTTPHeaders.namesEqual(headers[i].name, "connection") {
                HTTPHeaders.forEachListElement(headers[i].value) { option in
                    if !HTTPHeaders.namesEqual(option, "keep-alive") { names.append(option) }
                }
            }
        }

        /// True when a Connection field lists `name` (ASCII case-insensitive).
        func lists(_ name: String) -> Bool {
            if names.isEmpty { return false }
            return names.contains { HTTPHeaders.namesEqual($0, name) }
        }
    }

    static func upstreamRequestHeaders(
        _ head: HTTPRequestHead, state: GatewayState, peer: SocketAddress, peerHost: String, requestID: String,
        principal: Principal?
    ) -> HTTPHeaders {
        let connection = ConnectionOptions(head.headers)
        let identity = state.identityHeaderLowercased
        let clientHost = head.headers.first(name: "Host")
        var out = HTTPHeaders()
        // The gateway's own fields (Host, X-Forwarded-*, X-Request-Id, identity) and the framing field the
        // caller adds afterwards: one allocation for the whole list.
        out.reserveCapacity(head.headers.count + 7)
        out.add(
            name: "Host",
            value: state.hostHeader == .upstream ? state.upstreamAuthority : (clientHost ?? state.upstreamAuthority))
        var clientForwardedFor: String?
        // Whether the peer is a trusted proxy: asked only when the client sent X-Forwarded-For, since the
        // peer's address bytes are an array.
        var isPeerTrusted: Bool?
        for i in 0..<head.headers.count {
            let name = head.headers[i].name
            let kind = FieldKind(name: name)
            if kind == .hopByHop || connection.lists(name) { continue }
            switch kind {
            case .forwardedFor:
                if isPeerTrusted == nil {
                    if state.trustedProxies.isEmpty {
                        isPeerTrusted = false
                    } else {
                        let bytes = peer.addressBytes
                        isPeerTrusted = state.trustedProxies.contains { $0.contains(bytes) }
                    }
                }
                // The chain is only used when the peer is trusted: no concatenation otherwise.
                if isPeerTrusted == true {
                    let value = head.headers[i].value
                    clientForwardedFor = clientForwardedFor.map { $0 + ", " + value } ?? value
                }
                continue
            case .host, .setByGateway, .requestID:
                continue
            case .authorization:
                if !state.forwardAuthorization { continue }
            case .origin:
                if !state.forwardOrigin { continue }
            case .hopByHop, .accessControl, .rateLimit, .other:
                break
            }
            if !identity.isEmpty && HTTPHeaders.namesEqual(name, identity) { continue }
            out.add(name: name, value: head.headers[i].value)
        }
        if let chain = clientForwardedFor {
            out.add(name: "X-Forwarded-For", value: chain + ", " + peerHost)
        } else {
            out.add(name: "X-Forwarded-For", value: peerHost)
        }
        out.add(name: "X-Forwarded-Proto", value: state.isTLS ? "https" : "http")
        if let clientHost { out.add(name: "X-Forwarded-Host", value: clientHost) }
        out.add(name: "X-Request-Id", value: requestID)
        if let principal, !state.identityHeader.isEmpty {
            out.add(name: state.identityHeader, value: principal.name)
        }
        return out
    }

    /// The upstream's response fields without hop-by-hop ones; the security headers replace the
    /// upstream's values of the same names (added here, or by the caller from `state.securityHeaderBlock`
    /// when `includingSecurityHeaders` is false); the request id is echoed.
    static func clientResponseHeaders(
        _ head: HTTPResponseHead, state: GatewayState, requestID: String, added: [(String, String)],
        includingSecurityHeaders: Bool = true
    ) -> HTTPHeaders {
        // When the gateway answers CORS itself, the upstream's own Access-Control-* fields must not mix in.
        let replacesCORS = added.contains { $0.0 == "Access-Control-Allow-Origin" }
        let connection = ConnectionOptions(head.headers)
        var out = HTTPHeaders()
        // Plus X-Request-Id and the framing and Connection fields the caller adds afterwards.
        out.reserveCapacity(head.headers.count + added.count + state.securityHeaders.count + 3)
        for i in 0..<head.headers.count {
            let name = head.headers[i].name
            let kind = FieldKind(name: name)
            if kind == .hopByHop || kind == .requestID || connection.lists(name) { continue }
            if state.securityHeaderNameList.contains(where: { HTTPHeaders.namesEqual(name, $0) }) { continue }
            if replacesCORS && kind == .accessControl { continue }
            if kind == .rateLimit && !added.isEmpty { continue }
            out.add(name: name, value: head.headers[i].value)
        }
        for (n, v) in added { out.add(name: n, value: v) }
        if includingSecurityHeaders {
            for (n, v) in state.securityHeaders { out.add(name: n, value: v) }
        }
        out.add(name: "X-Request-Id", value: requestID)
        return out
    }
}
