/// What the inspection of one POST body on `mcp.paths` decided (§6).
public enum MCPDecision: Sendable {
    /// Forward the request. `rewrittenBody` is nil when the body goes as received (nothing was copied);
    /// otherwise it replaces the body (`sanitize = "escape"`) and the caller sets its Content-Length.
    case forward(rewrittenBody: [UInt8]?, info: MCPRequestInfo)
    /// Answer with `rejection` (a JSON-RPC error body of §4 with its HTTP status) and log its event.
    case reject(Rejection, info: MCPRequestInfo)

    /// What was learned about the message, whatever the decision.
    public var info: MCPRequestInfo {
        switch self {
        case .forward(_, let info), .reject(_, let info): return info
        }
    }

    /// The rejection, when the request is refused.
    public var rejection: Rejection? {
        if case .reject(let rejection, _) = self { return rejection }
        return nil
    }
}
