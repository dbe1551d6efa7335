/// What the gateway learned from an MCP request body: for the access log, per-tool timeouts, the
/// response filter and the `access` events of allowed calls. Fields stay empty as far as the body could
/// not be read.
public struct MCPRequestInfo: Sendable {
    /// The method of the first request or notification (the access log's `rpc_method`).
    public var rpcMethod: String?
    /// The tool of the first `tools/call` (the access log's `tool`).
    public var tool: String?
    /// The raw JSON text of every request id (`7`, `"abc"`), in body order.
    public var ids: [String] = []
    /// The body is a JSON-RPC array.
    public var isBatch = false
    /// At least one message expects a response (else the upstream answers 202 with no body).
    public var hasRequests = false
    /// Every tool the body calls, in body order (a batch may call several).
    public var calledTools: [String] = []
    /// The raw id texts of the `tools/list` requests, whose answers `MCPResponseFilter` rewrites.
    public var toolsListIDs: [String] = []
    /// `tools/call:<tool>` or the method of the first request or notification (the `access` resource).
    public var resource: String?
    /// The `access` events (allowed = true) of the calls that passed, one per request or notification.
    public var accessEvents: [SecurityEvent] = []
    /// The `Mcp-Session-Id` the request presented.
    public var sessionID: String?

    public init() {}

    /// The tool whose `mcp.tool_timeouts` entry applies (the first one called); with several calls
    /// in a batch the caller may take the longest timeout of `calledTools`.
    public var callTimeoutTool: String? { calledTools.first }

    /// Whether the upstream's answer holds a `tools/list` result to pass through `MCPResponseFilter`.
    public var expectsToolsList: Bool { !toolsListIDs.isEmpty }
}
