/// What the gateway learned from an MCP request body: for the access log, per-tool timeouts, the
/// response filter and the `access` events of allowed calls. Fields stay empty as far as the body could
/// not be read.
public struct MCPRequestInfo: Sendable {
    /// The method of the first request or notification (the access log's `rpc_method`).
    public var rpcMethod: String?
    /// The tool of the first `tools/call` (the access log's `tool`).
    public var tool: String?
    /// The raw JSON text of every request id (`7`, `"abc"`), in body order.
    public var ids: SmallList<String> = []
    /// The body is a JSON-RPC array.
    public var isBatch = false
    /// At least one message expects a response (else the upstream answers 202 with no body).
    public var hasRequests = false
    /// Every tool the body calls, in body order (a batch may call several).
    public var calledTools: SmallList<String> = []
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

/// A list whose first element is stored inline and only the others in an array. The request ids and
/// called tools of one inspection nearly always number one, which then costs no heap allocation; it
/// reads like an array (`for x in`, `first`, `count`, `==`, literals). Meant for small elements: a large
/// inline element would make every copy of the holder dearer (the access events stay an array).
public struct SmallList<Element> {
    private var head: Element?
    private var tail: [Element] = []

    public init() { head = nil }

    public mutating func append(_ element: Element) {
        if head == nil { head = element } else { tail.append(element) }
    }
}

extension SmallList: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { head == nil ? 0 : 1 + tail.count }

    public subscript(position: Int) -> Element {
        if position == 0, let head { return head }
        return tail[position - 1]  // traps like an array for a position out of range
    }
}

extension SmallList: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) {
        self.init()
        for element in elements { append(element) }
    }
}

extension SmallList: Equatable where Element: Equatable {
    public static func == (lhs: SmallList, rhs: SmallList) -> Bool { lhs.elementsEqual(rhs) }
}

extension SmallList: Sendable where Element: Sendable {}

extension SmallList: CustomStringConvertible {
    /// As an array prints: `["7", "8"]`.
    public var description: String { Array(self).description }
}
