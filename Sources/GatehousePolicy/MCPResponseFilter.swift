import GatehouseHTTP
import GatehouseJSON

/// What `MCPResponseFilter` made of an upstream answer.
public struct MCPResponseRewrite: Sendable {
    /// The new body (or SSE data), nil when the answer goes through unchanged.
    public var body: [UInt8]?
    /// `tool_changed` security events for definitions that changed since they were pinned.
    public var events: [SecurityEvent]

    public init(body: [UInt8]? = nil, events: [SecurityEvent] = []) {
        self.body = body
        self.events = events
    }
}

/// Rewrites upstream answers to `tools/list` (§6.5 `filter_tools_list`, §6.7 pins): a JSON-RPC response
/// whose id is one of the `tools/list` request ids and whose `result.tools` is an array keeps only the
/// tools the principal may call (`tools/call:<name>` under the rules) and, with `enforce`, not changed
/// since pinned. Every tool shown is checked against the pins first (`warn` and `enforce`), whether or
/// not the caller may see it. Other responses, error responses, and answers that are not JSON pass
/// unchanged; a body is only re-serialized when a tool was removed.
public enum MCPResponseFilter {
    /// Nesting allowed in an upstream answer (input schemas nest deeper than requests).
    public static let maxResponseDepth = 256

    /// Filters a JSON body (one response or a batch of responses). `requestIDs` are the raw id texts
    /// of the `tools/list` requests; `rules` nil means no filtering by permission; `requestID` goes
    /// into the events.
    public static func filterToolsList(
        body: [UInt8], requestIDs: [String], principal: Principal?, rules: AuthorizationRules?, pins: ToolPins?,
        pinMode: PinMode, requestID: String
    ) -> MCPResponseRewrite {
        guard !requestIDs.isEmpty, let document = try? JSONReader.parse(body, maxDepth: maxResponseDepth) else {
            return MCPResponseRewrite()
        }
        var filter = Filter(
            requestIDs: requestIDs, permissions: principal?.permissions ?? [], rules: rules,
            pins: pinMode == .off ? nil : pins, enforce: pinMode == .enforce, requestID: requestID)
        let rewritten = filter.rewrite(document)
        return MCPResponseRewrite(body: rewritten.map(JSONWriter.serialize), events: filter.events)
    }

    /// The same for the data of one SSE `message` event; the new data (compact JSON, one line) is in
    /// `body`. Frame it again with `frameSSEEvent`.
    public static func filterSSEEventData(
        _ data: String, requestIDs: [String], principal: Principal?, rules: AuthorizationRules?, pins: ToolPins?,
        pinMode: PinMode, requestID: String
    ) -> MCPResponseRewrite {
        filterToolsList(
            body: Array(data.utf8), requestIDs: requestIDs, principal: principal, rules: rules, pins: pins,
            pinMode: pinMode, requestID: requestID)
    }

    /// `event`'s block with its data replaced by `data` (one `data:` line per line of it), the `event`,
    /// `id` and `retry` fields kept, lines ended with CRLF as MCP servers write them.
    public static func frameSSEEvent(_ event: SSEEvent, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 64)
        if let name = event.event { out.append(contentsOf: "event: \(name)\r\n".utf8) }
        if let id = event.id { out.append(contentsOf: "id: \(id)\r\n".utf8) }
        if let retry = event.retry { out.append(contentsOf: "retry: \(retry)\r\n".utf8) }
        var lineStart = 0
        var k = 0
        while k <= data.count {
            if k == data.count || data[k] == 0x0A || data[k] == 0x0D {
                out.append(contentsOf: "data: ".utf8)
                out.append(contentsOf: data[lineStart..<k])
                out.append(contentsOf: [0x0D, 0x0A])
                if k + 1 < data.count, data[k] == 0x0D, data[k + 1] == 0x0A { k += 1 }
                lineStart = k + 1
            }
            k += 1
        }
        out.append(contentsOf: [0x0D, 0x0A])
        return out
    }

    /// One filtering pass.
    private struct Filter {
        let requestIDs: [String]
        let permissions: [String]
        let rules: AuthorizationRules?
        let pins: ToolPins?
        let enforce: Bool
        let requestID: String
        var events: [SecurityEvent] = []

        init(
            requestIDs: [String], permissions: [String], rules: AuthorizationRules?, pins: ToolPins?, enforce: Bool,
            requestID: String
        ) {
            self.requestIDs = requestIDs
            self.permissions = permissions
            self.rules = rules
            self.pins = pins
            self.enforce = enforce
            self.requestID = requestID
        }

        /// The rewritten document, nil when nothing changed.
        mutating func rewrite(_ document: JSONValue) -> JSONValue? {
            switch document {
            case .object(let message):
                return rewrite(message).map(JSONValue.object)
            case .array(var elements):
                var changed = false
                for k in elements.indices {
                    guard case .object(let message) = elements[k], let rewritten = rewrite(message) else { continue }
                    elements[k] = .object(rewritten)
                    changed = true
                }
                return changed ? .array(elements) : nil
            default:
                return nil
            }
        }

        mutating func rewrite(_ message: JSONObject) -> JSONObject? {
            guard let id = message["id"], isToolsListID(id), case .object(var result)? = message["result"],
                case .array(let tools)? = result["tools"]
            else { return nil }
            if let pins {
                for tool in pins.observe(tools: tools) { events.append(changeEvent(tool)) }
            }
            guard rules != nil || enforce else { return nil }
            let kept = tools.filter(isShown)
            guard kept.count != tools.count else { return nil }
            result["tools"] = .array(kept)
            var rewritten = message
            rewritten["result"] = .object(result)
            return rewritten
        }

        func isToolsListID(_ id: JSONValue) -> Bool {
            switch id {
            case .string, .number:
                let text = String(decoding: JSONWriter.serialize(id), as: UTF8.self)
                return requestIDs.contains { $0.utf8.elementsEqual(text.utf8) }
            default:
                return false
            }
        }

        func isShown(_ tool: JSONValue) -> Bool {
            // A tool without a name cannot be authorized or pinned: it is not shown.
            guard case .string(let name)? = tool["name"] else { return false }
            if enforce, let pins, pins.isBlocked(tool: name) { return false }
            guard let rules else { return true }
            return rules.allows(
                permissions: permissions, resource: AuthorizationRules.resource(method: "tools/call", tool: name))
        }

        func changeEvent(_ tool: String) -> SecurityEvent {
            SecurityEvent(
                .security(
                    severity: enforce ? .high : .medium, kind: "tool_changed",
                    details: [("tool", .string(tool)), ("action", .string(enforce ? "hidden" : "logged"))]),
                ipAddress: nil, userAgent: nil, requestID: requestID)
        }
    }
}
