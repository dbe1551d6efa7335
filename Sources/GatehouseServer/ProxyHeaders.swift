import GatehouseHTTP
import GatehousePolicy
import GatehousePosix

/// The header rewriting of forwarding (contract §3 steps 8 and 9).
enum ProxyHeaders {
    /// Hop-by-hop fields (RFC 9110 §7.6.1) plus the framing fields the gateway sets itself.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate", "content-length", "expect",
    ]

    /// Fields the gateway sets on the forwarded request; a client's own values are never passed on
    /// (a client must not be able to claim an identity or an address).
    static let setByGateway: Set<String> = [
        "host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id",
    ]

    static func upstreamRequestHeaders(
        _ head: HTTPRequestHead, state: GatewayState, peer: SocketAddress, peerHost: String, requestID: String,
        principal: Principal?
    ) -> HTTPHeaders {
        let named = head.headers.contains(name: "Connection")
            ? Set(head.headers.listElements(name: "Connection").map { $0.lowercased() }) : []
        let identity = state.identityHeaderLowercased
        var out = HTTPHeaders()
        out.reserveCapacity(head.headers.count + 6)
        out.add(name: "Host", value: state.hostHeader == .upstream
            ? state.upstreamAuthority : (head.headers.first(name: "Host") ?? state.upstreamAuthority))
        var clientForwardedFor: String?
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || named.contains(lower) { continue }
            if setByGateway.contains(lower) {
                if lower == "x-forwarded-for" {
                    clientForwardedFor = clientForwardedFor.map { $0 + ", " + value } ?? value
                }
                continue
            }
            if lower == identity && !identity.isEmpty { continue }
            if lower == "authorization" && !state.forwardAuthorization { continue }
            if lower == "origin" && !state.forwardOrigin { continue }
            out.add(name: name, value: value)
        }
        let bytes = peer.addressBytes
        let trusted = state.trustedProxies.contains { $0.contains(bytes) }
        if trusted, let chain = clientForwardedFor {
            out.add(name: "X-Forwarded-For", value: chain + ", " + peerHost)
        } else {
            out.add(name: "X-Forwarded-For", value: peerHost)
        }
        out.add(name: "X-Forwarded-Proto", value: state.isTLS ? "https" : "http")
        if let host = head.headers.first(name: "Host") { out.add(name: "X-Forwarded-Host", value: host) }
        out.add(name: "X-Request-Id", value: requestID)
        if let principal, !state.identityHeader.isEmpty {
            out.add(name: state.identityHeader, value: principal.name)
        }
        return out
    }

    /// The upstream's response fields without hop-by-hop ones; the security headers replace the
    /// upstream's values of the same names; the request id is echoed.
    static func clientResponseHeaders(
        _ head: HTTPResponseHead, state: GatewayState, requestID: String, added: [(String, String)]
    ) -> HTTPHeaders {
        // When the gateway answers CORS itself, the upstream's own Access-Control-* fields must not mix in.
        let replacesCORS = added.contains { $0.0 == "Access-Control-Allow-Origin" }
        let named = head.headers.contains(name: "Connection")
            ? Set(head.headers.listElements(name: "Connection").map { $0.lowercased() }) : []
        var out = HTTPHeaders()
        out.reserveCapacity(head.headers.count + state.securityHeaders.count + 2)
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || named.contains(lower) || lower == "x-request-id" { continue }
            if state.securityHeaderNames.contains(lower) { continue }
            if replacesCORS && lower.hasPrefix("access-control-") { continue }
            if lower.hasPrefix("ratelimit-") && !added.isEmpty { continue }
            out.add(name: name, value: value)
        }
        for (n, v) in added { out.add(name: n, value: v) }
        for (n, v) in state.securityHeaders { out.add(name: n, value: v) }
        out.add(name: "X-Request-Id", value: requestID)
        return out
    }
}
