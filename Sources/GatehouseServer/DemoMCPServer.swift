import GatehouseCrypto
import GatehouseHTTP
import GatehouseJSON

/// One answer of the demo server: either complete, or a stream whose events are written after delays.
///
/// The headers are complete, framing included: a `.complete` answer carries `Content-Length`; a
/// `.stream` answer carries `Transfer-Encoding: chunked`, and its writer sends each event's bytes as
/// one chunk once the event's delay has passed, then the last chunk.
public enum DemoMCPResponse: Sendable {
    case complete(status: Int, headers: HTTPHeaders, body: [UInt8])
    case stream(status: Int, headers: HTTPHeaders, events: [DemoMCPStreamEvent])

    public var status: Int {
        switch self {
        case .complete(let status, _, _), .stream(let status, _, _): return status
        }
    }

    public var headers: HTTPHeaders {
        switch self {
        case .complete(_, let headers, _), .stream(_, let headers, _): return headers
        }
    }
}

/// Bytes of a streamed answer, written `delayMilliseconds` after the previous event (the first: after
/// the head).
public struct DemoMCPStreamEvent: Sendable, Equatable {
    public var delayMilliseconds: Int
    public var bytes: [UInt8]

    public init(delayMilliseconds: Int, bytes: [UInt8]) {
        self.delayMilliseconds = delayMilliseconds
        self.bytes = bytes
    }
}

/// The built-in sample MCP server (Streamable HTTP, revisions 2024-11-05 … 2025-11-25): tools echo, add, slow.
///
/// Protocol logic only: the gateway's event loop feeds it whole requests and writes its answers. It
/// keeps the sessions it issued (bounded, oldest forgotten first): a request naming a session it does
/// not know gets 404, so clients re-initialize as the specification says; a request without a session
/// is served (stateless clients and the 2.x `server/discover` probe work). `Content-Type` is not
/// checked, so a bare `curl -d` works.
public final class DemoMCPServer: @unchecked Sendable {  // used from one event-loop thread only
    public let path: String
    /// Revisions this server speaks; `initialize` echoes the client's when it is one of them.
    public static let supportedProtocolVersions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    public static let latestProtocolVersion = "2025-11-25"
    /// Sessions remembered at most; beyond it the oldest is forgotten (its client gets 404 and
    /// re-initializes).
    public static let maxSessions = 4096
    /// Bounds of the `slow` tool's arguments, so one call cannot hold a stream for long.
    public static let maxSlowSteps = 100
    public static let maxSlowIntervalMilliseconds = 10_000

    private var sessions: Set<String> = []
    private var sessionOrder: [String] = []
    private var sessionOrderStart = 0

    public init(path: String = "/mcp") {
        self.path = path
    }

    /// The answer to one request. `target` is the request target (a query string is ignored).
    public func handle(method: String, target: String, headers: HTTPHeaders, body: [UInt8]) -> DemoMCPResponse {
        let requestPath = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard requestPath == path else {
            return Self.json(status: 404, ["error": "Not found"])
        }
        switch method {
        case "POST":
            return post(headers: headers, body: body)
        case "DELETE":
            // Ends the session named; without one there is nothing to end, which is fine too.
            if let session = headers.first(name: "Mcp-Session-Id") {
                guard sessions.remove(session) != nil else { return sessionNotFound(id: nil) }
            }
            return .complete(status: 200, headers: ["Content-Length": "0"], body: [])
        default:
            // No server-initiated stream: a GET gets 405, which clients expect and accept.
            return Self.json(
                status: 405, Self.errorMessage(id: nil, code: -32000, message: "Method not allowed"),
                adding: [("Allow", "POST, DELETE")])
        }
    }

    /// The same with headers as plain pairs.
    public func handle(method: String, target: String, headers: [(String, String)], body: [UInt8]) -> DemoMCPResponse {
        handle(method: method, target: target, headers: HTTPHeaders(headers), body: body)
    }

    // MARK: - POST: one JSON-RPC message

    private func post(headers: HTTPHeaders, body: [UInt8]) -> DemoMCPResponse {
        let message: JSONValue
        do {
            message = try JSONReader.parse(body)
        } catch {
            return Self.json(status: 400, Self.errorMessage(id: nil, code: -32700, message: "Parse error", data: .string(error.description)))
        }
        guard case .object(let fields) = message else {
            let text = message.arrayValue != nil ? "Batch requests are not supported" : "Invalid Request"
            return Self.json(status: 400, Self.errorMessage(id: nil, code: -32600, message: text))
        }
        let id = fields["id"]
        let validID: JSONValue?
        switch id {
        case .string?, .number?: validID = id
        default: validID = nil
        }
        guard fields["jsonrpc"] == "2.0" else {
            return Self.json(status: 400, Self.errorMessage(id: validID, code: -32600, message: "Invalid Request"))
        }
        guard let method = fields["method"]?.stringValue else {
            // A response from the client (to a server request this server never sends): accepted.
            if id != nil, fields["result"] != nil || fields["error"] != nil { return Self.accepted }
            return Self.json(status: 400, Self.errorMessage(id: validID, code: -32600, message: "Invalid Request"))
        }
        if method != "initialize" && method != "server/discover", let session = headers.first(name: "Mcp-Session-Id") {
            guard sessions.contains(session) else { return sessionNotFound(id: validID) }
            if let version = headers.first(name: "MCP-Protocol-Version"), !Self.supportedProtocolVersions.contains(version) {
                return Self.json(
                    status: 400,
                    Self.errorMessage(id: validID, code: -32600, message: "Unsupported protocol version: \(version)"))
            }
        }
        guard id != nil else { return Self.accepted }  // a notification: nothing to answer
        guard let requestID = validID else {
            return Self.json(status: 400, Self.errorMessage(id: nil, code: -32600, message: "Invalid Request"))
        }
        let params = fields["params"]
        if let params, params.objectValue == nil {
            return Self.json(status: 200, Self.errorMessage(id: requestID, code: -32602, message: "Invalid params: params must be an object"))
        }

        switch method {
        case "initialize":
            return initialize(id: requestID, params: params)
        case "ping":
            return Self.json(status: 200, Self.result(id: requestID, [:]))
        case "tools/list":
            return Self.json(status: 200, Self.result(id: requestID, ["tools": Self.toolDefinitions]))
        case "tools/call":
            return callTool(id: requestID, params: params, acceptsEventStream: Self.acceptsEventStream(headers))
        default:
            // `server/discover` included: a 2025-11-25 server does not know it, and 2.x clients in
            // automatic mode fall back to `initialize` on this error.
            return Self.json(status: 200, Self.errorMessage(id: requestID, code: -32601, message: "Method not found"))
        }
    }

    private func initialize(id: JSONValue, params: JSONValue?) -> DemoMCPResponse {
        let asked = params?["protocolVersion"]?.stringValue ?? ""
        let version = Self.supportedProtocolVersions.contains(asked) ? asked : Self.latestProtocolVersion
        let session = newSession()
        let result: JSONValue = [
            "protocolVersion": .string(version),
            "capabilities": ["tools": ["listChanged": false]],
            "serverInfo": ["name": "gatehouse-demo", "version": "1.0.0"],
            "instructions": "A sample MCP server built into Gatehouse: tools echo, add and slow.",
        ]
        return Self.json(status: 200, Self.result(id: id, result), adding: [("Mcp-Session-Id", session)])
    }

    // MARK: - Tools

    static let toolDefinitions: JSONValue = [
        [
            "name": "echo",
            "title": "Echo",
            "description": "Returns the given text unchanged.",
            "inputSchema": [
                "type": "object",
                "properties": ["text": ["type": "string", "description": "The text to send back."]],
                "required": ["text"],
                "additionalProperties": false,
            ],
        ],
        [
            "name": "add",
            "title": "Add",
            "description": "Adds two numbers and returns the sum.",
            "inputSchema": [
                "type": "object",
                "properties": [
                    "a": ["type": "number", "description": "The first addend."],
                    "b": ["type": "number", "description": "The second addend."],
                ],
                "required": ["a", "b"],
                "additionalProperties": false,
            ],
            "outputSchema": [
                "type": "object",
                "properties": ["sum": ["type": "number", "description": "a + b"]],
                "required": ["sum"],
            ],
        ],
        [
            "name": "slow",
            "title": "Slow",
            "description":
                "Works for steps × interval_ms milliseconds, reporting progress after each step (over SSE when the client accepts text/event-stream and sends a progressToken).",
            "inputSchema": [
                "type": "object",
                "properties": [
                    "steps": [
                        "type": "integer", "description": "How many steps (1 to 100).", "default": 5, "minimum": 1,
                        "maximum": .integer(maxSlowSteps),
                    ],
                    "interval_ms": [
                        "type": "integer", "description": "Milliseconds per step (0 to 10000).", "default": 500,
                        "minimum": 0, "maximum": .integer(maxSlowIntervalMilliseconds),
                    ],
                ],
                "additionalProperties": false,
            ],
        ],
    ]

    private func callTool(id: JSONValue, params: JSONValue?, acceptsEventStream: Bool) -> DemoMCPResponse {
        guard let name = params?["name"]?.stringValue else {
            return Self.json(status: 200, Self.errorMessage(id: id, code: -32602, message: "Invalid params: name must be a string"))
        }
        let arguments: JSONObject
        switch params?["arguments"] {
        case nil, .null?: arguments = JSONObject()
        case .object(let object)?: arguments = object
        default:
            return Self.json(status: 200, Self.errorMessage(id: id, code: -32602, message: "Invalid params: arguments must be an object"))
        }
        switch name {
        case "echo":
            guard let text = arguments["text"]?.stringValue else { return toolError(id: id, "echo: argument \"text\" must be a string") }
            return Self.json(status: 200, Self.result(id: id, ["content": [["type": "text", "text": .string(text)]]]))
        case "add":
            guard let a = arguments["a"], let b = arguments["b"], let sum = Self.sum(a, b) else {
                return toolError(id: id, "add: arguments \"a\" and \"b\" must be finite numbers")
            }
            let result: JSONValue = [
                "content": [["type": "text", "text": .string(sum.numberText ?? "")]],
                "structuredContent": ["sum": sum],
            ]
            return Self.json(status: 200, Self.result(id: id, result))
        case "slow":
            return slow(id: id, params: params, arguments: arguments, acceptsEventStream: acceptsEventStream)
        default:
            return toolError(id: id, "Unknown tool: \(name)")
        }
    }

    /// `a + b`, exact for integers (when the sum fits), else through Double.
    static func sum(_ a: JSONValue, _ b: JSONValue) -> JSONValue? {
        if let x = a.intValue, let y = b.intValue {
            let (s, overflow) = x.addingReportingOverflow(y)
            if !overflow { return .integer(s) }
        }
        guard let x = a.doubleValue, let y = b.doubleValue else { return nil }
        return JSONValue.double(x + y)
    }

    private func slow(id: JSONValue, params: JSONValue?, arguments: JSONObject, acceptsEventStream: Bool) -> DemoMCPResponse {
        var steps = 5
        var interval = 500
        if let value = arguments["steps"] {
            guard let n = value.intValue, (1...Self.maxSlowSteps).contains(n) else {
                return toolError(id: id, "slow: \"steps\" must be an integer from 1 to \(Self.maxSlowSteps)")
            }
            steps = n
        }
        if let value = arguments["interval_ms"] {
            guard let n = value.intValue, (0...Self.maxSlowIntervalMilliseconds).contains(n) else {
                return toolError(id: id, "slow: \"interval_ms\" must be an integer from 0 to \(Self.maxSlowIntervalMilliseconds)")
            }
            interval = n
        }
        let result = Self.result(id: id, ["content": [["type": "text", "text": .string("slow: finished \(steps) steps")]]])

        guard acceptsEventStream else {
            // JSON answer: progress cannot be carried, the result comes after the whole work.
            var headers = Self.jsonHeaders
            headers.add(name: "Transfer-Encoding", value: "chunked")
            let event = DemoMCPStreamEvent(delayMilliseconds: steps * interval, bytes: JSONWriter.serialize(result))
            return .stream(status: 200, headers: headers, events: [event])
        }
        var events: [DemoMCPStreamEvent] = []
        switch params?["_meta"]?["progressToken"] {
        case let token? where token.stringValue != nil || token.numberText != nil:
            for step in 1...steps {
                let progress: JSONValue = [
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": [
                        "progressToken": token, "progress": .integer(step), "total": .integer(steps),
                        "message": .string("step \(step) of \(steps)"),
                    ],
                ]
                events.append(DemoMCPStreamEvent(delayMilliseconds: interval, bytes: Self.sseEvent(progress)))
            }
            events.append(DemoMCPStreamEvent(delayMilliseconds: 0, bytes: Self.sseEvent(result)))
        default:
            // Progress goes only to a client that asked for it with a token.
            events.append(DemoMCPStreamEvent(delayMilliseconds: steps * interval, bytes: Self.sseEvent(result)))
        }
        let headers: HTTPHeaders = [
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
            "Transfer-Encoding": "chunked",
        ]
        return .stream(status: 200, headers: headers, events: events)
    }

    /// A tool failure is a result the model can read, not a protocol error.
    private func toolError(id: JSONValue, _ text: String) -> DemoMCPResponse {
        Self.json(status: 200, Self.result(id: id, ["content": [["type": "text", "text": .string(text)]], "isError": true]))
    }

    // MARK: - Sessions

    private func newSession() -> String {
        let session = Encoding.hex(SecureRandom.bytes(16))
        sessions.insert(session)
        sessionOrder.append(session)
        while sessions.count > Self.maxSessions, sessionOrderStart < sessionOrder.count {
            sessions.remove(sessionOrder[sessionOrderStart])
            sessionOrderStart += 1
        }
        // Compact the order list once its dead prefix dominates (ended sessions stay in it until then).
        if sessionOrderStart > Self.maxSessions || sessionOrder.count > 4 * Self.maxSessions {
            sessionOrder = sessionOrder[sessionOrderStart...].filter { sessions.contains($0) }
            sessionOrderStart = 0
        }
        return session
    }

    private func sessionNotFound(id: JSONValue?) -> DemoMCPResponse {
        Self.json(status: 404, Self.errorMessage(id: id, code: -32600, message: "Session not found"))
    }

    /// The number of sessions currently known (for tests and diagnostics).
    public var sessionCount: Int { sessions.count }

    // MARK: - Encoding answers

    private static let jsonHeaders: HTTPHeaders = ["Content-Type": "application/json"]

    private static let accepted = DemoMCPResponse.complete(status: 202, headers: ["Content-Length": "0"], body: [])

    static func json(status: Int, _ value: JSONValue, adding extra: [(String, String)] = []) -> DemoMCPResponse {
        let body = JSONWriter.serialize(value)
        var headers = jsonHeaders
        headers.add(name: "Content-Length", value: String(body.count))
        for (name, value) in extra { headers.add(name: name, value: value) }
        return .complete(status: status, headers: headers, body: body)
    }

    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    static func errorMessage(id: JSONValue?, code: Int, message: String, data: JSONValue? = nil) -> JSONValue {
        var error: JSONObject = ["code": .integer(code), "message": .string(message)]
        if let data { error["data"] = data }
        return ["jsonrpc": "2.0", "id": id ?? .null, "error": .object(error)]
    }

    /// `event: message` with the compact JSON on one `data:` line (compact JSON has no line breaks).
    static func sseEvent(_ value: JSONValue) -> [UInt8] {
        var out = Array("event: message\r\ndata: ".utf8)
        JSONWriter.write(value, into: &out)
        out += Array("\r\n\r\n".utf8)
        return out
    }

    /// Whether `Accept` lists `text/event-stream` (parameters and case ignored).
    static func acceptsEventStream(_ headers: HTTPHeaders) -> Bool {
        for element in headers.listElements(name: "Accept") {
            let mediaType = element.split(separator: ";", maxSplits: 1).first ?? ""
            var trimmed = Substring(mediaType)
            while trimmed.last == " " || trimmed.last == "\t" { trimmed.removeLast() }
            if trimmed.lowercased() == "text/event-stream" { return true }
        }
        return false
    }
}
