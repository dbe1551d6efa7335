import GatehouseHTTP
import GatehouseJSON

/// MCP inspection of POST bodies on `mcp.paths` (§3 step 7, §6), socket-free.
///
/// `inspect` parses the body once and applies, in the contract's order, each over every message of a
/// batch before the next (so a batch with a malformed element is a 400 even if another element would
/// be refused a permission):
/// 1. JSON (UTF-8, depth, no duplicate keys) → 400 -32700;
/// 2. JSON-RPC 2.0 shape, batches → 400 -32600;
/// 3. `tools/call` name and arguments → 400 -32602 `Validation failed`;
/// 4. sanitization of the arguments (`reject` → 400 -32602; `escape` → rewritten body);
/// 5. authorization rules → 403 -32003 `Insufficient permissions`;
/// 6. session binding (`Mcp-Session-Id` of another principal → 404), then the mirrored `Mcp-Method` /
///    `Mcp-Name` headers → 400 -32020 `Header mismatch`;
/// 7. pinned tools with `enforce`: a call to a changed tool → 403 -32003.
///
/// Every rejection carries its security event; allowed requests and notifications get `access` events
/// in `MCPRequestInfo.accessEvents`. The session bindings and pins live as long as the inspector's
/// owners keep them (pass the old ones to a new inspector on reload).
public struct MCPInspector: Sendable {
    public let settings: MCPInspectionSettings
    public let sessions: SessionBindings
    public let pins: ToolPins

    public init(
        settings: MCPInspectionSettings, sessions: SessionBindings = SessionBindings(), pins: ToolPins = ToolPins()
    ) {
        self.settings = settings
        self.sessions = sessions
        self.pins = pins
    }

    /// The JSON-RPC message for `Session not found` (404), as the Python SDK answers an unknown session.
    public static let sessionNotFoundMessage = "Session not found"
    public static let sessionNotFoundCode = ErrorBody.RPCCode.invalidRequest

    /// Inspects the whole POST body `body`. `headers` are the request's (for `Mcp-Session-Id`,
    /// `Mcp-Method`, `Mcp-Name`); `ipAddress`, `userAgent` and `requestID` go into the events.
    public func inspect(
        body: [UInt8], headers: HTTPHeaders, principal: Principal?, requestID: String, ipAddress: String? = nil,
        userAgent: String? = nil
    ) -> MCPDecision {
        var run = Run(
            inspector: self, principal: principal, requestID: requestID, ipAddress: ipAddress, userAgent: userAgent)
        // The info is moved out of the run (swapped with an empty one), not copied: a copy would retain
        // and then release each of its strings and lists once more.
        var info = MCPRequestInfo()
        do throws(Run.Stop) {
            let rewritten = try run.inspect(body: body, headers: headers)
            swap(&info, &run.info)
            return .forward(rewrittenBody: rewritten, info: info)
        } catch {
            swap(&info, &run.info)
            return .reject(error.rejection, info: info)
        }
    }

    /// The session check of §6.6 for requests that carry no body to inspect (GET streams, DELETE):
    /// a 404 rejection when an `Mcp-Session-Id` belongs to another principal.
    public func checkSession(
        headers: HTTPHeaders, principal: Principal?, requestID: String, ipAddress: String? = nil,
        userAgent: String? = nil
    ) -> Rejection? {
        let run = Run(
            inspector: self, principal: principal, requestID: requestID, ipAddress: ipAddress, userAgent: userAgent)
        do throws(Run.Stop) {
            try run.checkSession(MCPHeaderFields(headers), id: nil)
            return nil
        } catch {
            return error.rejection
        }
    }

    /// The upstream answered `principal` with `Mcp-Session-Id: session`: bind it (with `bind_sessions`).
    /// False when the session already belongs to another principal.
    @discardableResult
    public func sessionEstablished(_ session: String, principal: Principal?) -> Bool {
        guard settings.bindSessions, let principal else { return true }
        return sessions.bind(session: session, principal: principal.name)
    }

    /// The session ended (DELETE answered, or the upstream said 404 for it).
    public func sessionEnded(_ session: String) {
        sessions.remove(session: session)
    }

    /// Whether the upstream's answer to the request `info` describes must go through `filterResponse`
    /// (JSON, held whole) or `filterSSEEventData` (each `message` event): it answers a `tools/list`
    /// and `filter_tools_list` or pinning is on. Otherwise the answer streams through untouched.
    public func shouldFilterResponse(for info: MCPRequestInfo) -> Bool {
        info.expectsToolsList && (settings.filterToolsList || settings.pinTools != .off)
    }

    /// Rewrites an upstream JSON answer to the request `info` describes (filter_tools_list and pins).
    public func filterResponse(
        body: [UInt8], info: MCPRequestInfo, principal: Principal?, requestID: String
    ) -> MCPResponseRewrite {
        guard shouldFilterResponse(for: info) else { return MCPResponseRewrite() }
        return MCPResponseFilter.filterToolsList(
            body: body, requestIDs: info.toolsListIDs, principal: principal,
            rules: settings.filterToolsList ? settings.rules : nil, pins: pins, pinMode: settings.pinTools,
            requestID: requestID)
    }

    /// The same as `filterResponse` for the data of one SSE `message` event.
    public func filterSSEEventData(
        _ data: String, info: MCPRequestInfo, principal: Principal?, requestID: String
    ) -> MCPResponseRewrite {
        guard shouldFilterResponse(for: info) else { return MCPResponseRewrite() }
        return MCPResponseFilter.filterSSEEventData(
            data, requestIDs: info.toolsListIDs, principal: principal,
            rules: settings.filterToolsList ? settings.rules : nil, pins: pins, pinMode: settings.pinTools,
            requestID: requestID)
    }
}

// MARK: - One inspection

extension MCPInspector {
    /// The state of one `inspect` call.
    fileprivate struct Run {
        /// Inspection ends early with this rejection.
        struct Stop: Error {
            var rejection: Rejection
        }

        /// One message of the body, once its shape is known to be valid.
        struct Message {
            enum Kind { case request, notification, response }

            var index: Int?
            var object: JSONObject
            var kind: Kind
            var method: String?
            /// Raw JSON text of a string or number id.
            var idText: String?
            var params: JSONValue? = nil
            /// The validated tool name of a `tools/call`.
            var tool: String? = nil
            /// `tools/call:<tool>` or the method, for authorization.
            var resource: String? = nil
            var arguments: JSONValue? = nil
        }

        let inspector: MCPInspector
        let principal: Principal?
        let requestID: String
        let ipAddress: String?
        let userAgent: String?
        var info = MCPRequestInfo()

        var settings: MCPInspectionSettings { inspector.settings }

        init(inspector: MCPInspector, principal: Principal?, requestID: String, ipAddress: String?, userAgent: String?)
        {
            self.inspector = inspector
            self.principal = principal
            self.requestID = requestID
            self.ipAddress = ipAddress
            self.userAgent = userAgent
        }

        mutating func inspect(body: [UInt8], headers: HTTPHeaders) throws(Stop) -> [UInt8]? {
            let fields = MCPHeaderFields(headers)
            info.sessionID = fields.sessionIDs.first
            // 1. JSON.
            let document: JSONValue
            do {
                document = try JSONReader.parse(body, maxDepth: settings.maxJSONDepth)
            } catch {
                throw invalid(
                    code: ErrorBody.RPCCode.parseError, message: "Parse error", field: nil, error: error.description,
                    id: nil, index: nil)
            }

            // 2. JSON-RPC shape. A single message (the usual body) is held in a `CollectionOfOne`, so only
            // a batch pays for an array of messages.
            switch document {
            case .object(let object):
                var message = CollectionOfOne(try classify(object, index: nil))
                return try check(&message, document: document, fields: fields)
            case .array(let elements):
                info.isBatch = true
                guard settings.allowBatches else {
                    throw invalidRequest(field: "batch", error: "batches are not allowed", id: nil, index: nil)
                }
                guard !elements.isEmpty else {
                    throw invalidRequest(field: "batch", error: "an empty batch", id: nil, index: nil)
                }
                var messages: [Message] = []
                messages.reserveCapacity(elements.count)
                for (index, element) in elements.enumerated() {
                    guard case .object(let object) = element else {
                        throw invalidRequest(
                            field: "message", error: "expected a JSON-RPC object", id: nil, index: index)
                    }
                    messages.append(try classify(object, index: index))
                }
                return try check(&messages, document: document, fields: fields)
            default:
                throw invalidRequest(
                    field: "message", error: "expected a JSON-RPC object or array", id: nil, index: nil)
            }
        }

        /// Steps 3 to 7 over the classified `messages`, each step over all of them before the next.
        ///
        /// Messages are read in place through their indices (`messages[k].field`), never copied out whole
        /// by a `for message in messages` loop, which would retain and release every field of each.
        mutating func check<Messages: MutableCollection & RandomAccessCollection>(
            _ messages: inout Messages, document: JSONValue, fields: MCPHeaderFields
        ) throws(Stop) -> [UInt8]? where Messages.Element == Message, Messages.Index == Int {
            record(messages)

            // 3. tools/call parameters.
            for k in messages.indices where messages[k].method == "tools/call" {
                try validateToolCall(&messages[k])
            }
            for k in messages.indices {
                guard let method = messages[k].method else { continue }
                messages[k].resource = AuthorizationRules.resource(method: method, tool: messages[k].tool)
                if info.resource == nil { info.resource = messages[k].resource }
                if let tool = messages[k].tool { info.calledTools.append(tool) }
            }
            info.tool = info.calledTools.first

            // 4. Sanitization.
            let rewritten = try sanitize(messages, document: document)

            // 5. Authorization.
            var accessEvents: [SecurityEvent] = []
            accessEvents.reserveCapacity(messages.count)
            for k in messages.indices {
                guard let method = messages[k].method, let resource = messages[k].resource else { continue }
                try authorize(resource: resource, method: method, id: messages[k].idText)
                accessEvents.append(access(resource: resource, method: method, allowed: true))
            }

            // 6. Session binding, then the mirrored headers.
            try checkSession(fields, id: info.ids.first)
            try checkMirroredHeaders(fields, messages: messages)

            // 7. Pinned tools.
            if settings.pinTools == .enforce {
                for k in messages.indices {
                    guard let tool = messages[k].tool, inspector.pins.isBlocked(tool: tool) else { continue }
                    throw changedToolRefused(tool, id: messages[k].idText)
                }
            }

            info.accessEvents = accessEvents
            return rewritten
        }

        // MARK: Step 2

        func classify(_ object: JSONObject, index: Int?) throws(Stop) -> Message {
            let members = MessageMembers(object)
            let idValue = members.id
            var idText: String? = nil
            if let idValue, Self.isStringOrNumber(idValue) {
                // Written straight into a String: a number id is its own text and a short string id
                // quotes into a small string, so no byte buffer is built and usually nothing allocated.
                idText = JSONWriter.text(idValue)
            }
            guard case .string(let version)? = members.jsonrpc, version == "2.0" else {
                throw invalidRequest(field: "jsonrpc", error: "must be \"2.0\"", id: idText, index: index)
            }
            if let methodValue = members.method {
                guard case .string(let method) = methodValue else {
                    throw invalidRequest(field: "method", error: "must be a string", id: idText, index: index)
                }
                if idValue != nil, idText == nil {
                    throw invalidRequest(field: "id", error: "must be a string or a number", id: nil, index: index)
                }
                if let params = members.params {
                    switch params {
                    case .object, .array: break
                    default:
                        throw invalidRequest(
                            field: "params", error: "must be an object or an array", id: idText, index: index)
                    }
                }
                return Message(
                    index: index, object: object, kind: idValue == nil ? .notification : .request, method: method,
                    idText: idText, params: members.params)
            }
            // No method: only a response (to a request of the server) may pass.
            let hasResult = members.result != nil
            let hasError = members.error != nil
            guard hasResult || hasError else {
                throw invalidRequest(field: "method", error: "required", id: idText, index: index)
            }
            guard !(hasResult && hasError) else {
                throw invalidRequest(
                    field: "result", error: "a response has a result or an error, not both", id: idText, index: index)
            }
            guard let idValue else {
                throw invalidRequest(field: "id", error: "required in a response", id: nil, index: index)
            }
            guard idText != nil || idValue.isNull else {
                throw invalidRequest(field: "id", error: "must be a string, a number or null", id: nil, index: index)
            }
            if hasError, members.error?.objectValue == nil {
                throw invalidRequest(field: "error", error: "must be an object", id: idText, index: index)
            }
            return Message(index: index, object: object, kind: .response, method: nil, idText: idText)
        }

        static func isStringOrNumber(_ value: JSONValue) -> Bool {
            switch value {
            case .string, .number: return true
            default: return false
            }
        }

        mutating func record<Messages: RandomAccessCollection>(_ messages: Messages)
        where Messages.Element == Message, Messages.Index == Int {
            for k in messages.indices {
                if info.rpcMethod == nil, let method = messages[k].method { info.rpcMethod = method }
                guard messages[k].kind == .request, let id = messages[k].idText else { continue }
                info.hasRequests = true
                info.ids.append(id)
                if messages[k].method == "tools/list" { info.toolsListIDs.append(id) }
            }
        }

        // MARK: Step 3

        func validateToolCall(_ message: inout Message) throws(Stop) {
            let id = message.idText
            let index = message.index
            guard let params = message.params else {
                throw invalidParams(field: "params.name", error: "required", id: id, index: index)
            }
            guard case .object(let object) = params else {
                throw invalidParams(field: "params", error: "must be an object", id: id, index: index)
            }
            var nameValue: JSONValue? = nil
            var argumentsValue: JSONValue? = nil
            // By index: only the two values wanted are copied out, not every member.
            let members = object.members
            for k in members.indices {
                if MessageMembers.isKey(members[k].key, "name") {
                    nameValue = members[k].value
                } else if MessageMembers.isKey(members[k].key, "arguments") {
                    argumentsValue = members[k].value
                }
            }
            guard let nameValue else {
                throw invalidParams(field: "params.name", error: "required", id: id, index: index)
            }
            guard case .string(let name) = nameValue else {
                throw invalidParams(field: "params.name", error: "must be a string", id: id, index: index)
            }
            guard settings.toolNamePattern.matches(name) else {
                throw invalidParams(
                    field: "params.name", error: "must match the pattern \(settings.toolNamePattern.pattern)", id: id,
                    index: index)
            }
            if let arguments = argumentsValue {
                guard case .object = arguments else {
                    throw invalidParams(field: "params.arguments", error: "must be an object", id: id, index: index)
                }
                message.arguments = arguments
            } else if settings.requireArguments {
                throw invalidParams(field: "params.arguments", error: "required", id: id, index: index)
            }
            message.tool = name
        }

        // MARK: Step 4

        func sanitize<Messages: RandomAccessCollection>(_ messages: Messages, document: JSONValue) throws(Stop)
            -> [UInt8]? where Messages.Element == Message, Messages.Index == Int
        {
            switch settings.sanitize {
            case .off:
                return nil
            case .reject:
                for k in messages.indices {
                    guard let arguments = messages[k].arguments, let hit = Sanitizer.firstDangerous(in: arguments)
                    else { continue }
                    throw invalidParams(
                        field: Sanitizer.describe(path: hit.path, from: "params.arguments"),
                        error: "contains a dangerous pattern (\(hit.pattern.rawValue))", id: messages[k].idText,
                        index: messages[k].index)
                }
                return nil
            case .escape:
                guard case .array(let elements) = document else {
                    // One message: no per-message table to build.
                    guard let arguments = messages[0].arguments, Sanitizer.needsEscaping(arguments) else { return nil }
                    var out: [UInt8] = []
                    try writeEscaped(messages[0], into: &out)
                    return out
                }
                let needing = messages.map { $0.arguments.map(Sanitizer.needsEscaping) ?? false }
                guard needing.contains(true) else { return nil }
                var out: [UInt8] = []
                out.append(UInt8(ascii: "["))
                for (k, element) in elements.enumerated() {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    if needing[k] {
                        try writeEscaped(messages[k], into: &out)
                    } else {
                        JSONWriter.write(element, into: &out)
                    }
                }
                out.append(UInt8(ascii: "]"))
                return out
            }
        }

        /// The message with `params.arguments` escaped, everything else as parsed.
        func writeEscaped(_ message: Message, into out: inout [UInt8]) throws(Stop) {
            out.append(UInt8(ascii: "{"))
            for (k, member) in message.object.members.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                guard member.key == "params", case .object(let params) = member.value else {
                    JSONWriter.write(member.value, into: &out)
                    continue
                }
                out.append(UInt8(ascii: "{"))
                for (j, parameter) in params.members.enumerated() {
                    if j > 0 { out.append(UInt8(ascii: ",")) }
                    JSONWriter.writeString(parameter.key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    guard parameter.key == "arguments" else {
                        JSONWriter.write(parameter.value, into: &out)
                        continue
                    }
                    do {
                        try Sanitizer.writeEscaped(parameter.value, into: &out)
                    } catch {
                        throw invalidParams(
                            field: Sanitizer.describe(path: error.path, from: "params.arguments"),
                            error: "keys collide once escaped", id: message.idText, index: message.index)
                    }
                }
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "}"))
        }

        // MARK: Step 5

        func authorize(resource: String, method: String, id: String?) throws(Stop) {
            let permissions = principal?.permissions ?? []
            guard !settings.rules.allows(permissions: permissions, resource: resource) else { return }
            let required = settings.rules.requirement(for: resource) ?? []
            throw Stop(
                rejection: .forbidden(
                    principal: principal, required: required,
                    securityEvent: access(resource: resource, method: method, allowed: false), jsonRPC: true,
                    jsonRPCID: id))
        }

        func access(resource: String, method: String, allowed: Bool) -> SecurityEvent {
            SecurityEvent(
                .access(resource: resource, action: method, userID: principal?.name, allowed: allowed),
                ipAddress: ipAddress, userAgent: userAgent, requestID: requestID)
        }

        // MARK: Step 6

        func checkSession(_ fields: MCPHeaderFields, id: String?) throws(Stop) {
            guard settings.bindSessions, let principal else { return }
            for session in fields.sessionIDs
            where !inspector.sessions.check(session: session, principal: principal.name) {
                let event = SecurityEvent(
                    .security(
                        severity: .high, kind: "session_mismatch", details: [("user_id", .string(principal.name))]),
                    ipAddress: ipAddress, userAgent: userAgent, requestID: requestID)
                throw Stop(
                    rejection: Rejection(
                        status: 404, message: MCPInspector.sessionNotFoundMessage, securityEvent: event,
                        bodyKind: .jsonRPC(id: id, code: MCPInspector.sessionNotFoundCode, details: [])))
            }
        }

        func checkMirroredHeaders<Messages: RandomAccessCollection>(_ fields: MCPHeaderFields, messages: Messages)
            throws(Stop) where Messages.Element == Message, Messages.Index == Int
        {
            let methodHeaders = fields.methods
            let nameHeaders = fields.names
            guard !methodHeaders.isEmpty || !nameHeaders.isEmpty else { return }
            for k in messages.indices {
                for raw in methodHeaders {
                    guard let method = messages[k].method, MCPHeaderValue.matches(raw, expected: method) else {
                        throw headerMismatch(
                            header: "Mcp-Method", error: "does not match the body's method", message: messages[k])
                    }
                }
                guard !nameHeaders.isEmpty else { continue }
                let expected = Self.mirroredName(messages[k])
                for raw in nameHeaders {
                    guard let expected, MCPHeaderValue.matches(raw, expected: expected) else {
                        throw headerMismatch(
                            header: "Mcp-Name", error: "does not match the body's params.name or params.uri",
                            message: messages[k])
                    }
                }
            }
        }

        /// What `Mcp-Name` mirrors: `params.uri` for `resources/read`, else `params.name` (or `params.uri`
        /// when a method has no name).
        static func mirroredName(_ message: Message) -> String? {
            guard case .object(let params)? = message.params else { return nil }
            let name = params["name"]?.stringValue
            let uri = params["uri"]?.stringValue
            if message.method == "resources/read" { return uri ?? name }
            return name ?? uri
        }

        // MARK: Step 7

        func changedToolRefused(_ tool: String, id: String?) -> Stop {
            let event = SecurityEvent(
                .security(
                    severity: .high, kind: "tool_changed",
                    details: [("tool", .string(tool)), ("action", "call_refused")]),
                ipAddress: ipAddress, userAgent: userAgent, requestID: requestID)
            return Stop(
                rejection: Rejection(
                    status: 403, message: "Insufficient permissions", securityEvent: event,
                    bodyKind: .jsonRPC(
                        id: id, code: ErrorBody.RPCCode.insufficientPermissions,
                        details: [
                            ("field", "params.name"), ("error", "the tool's definition changed since it was pinned"),
                        ])))
        }

        // MARK: Rejections

        func invalidRequest(field: String, error: String, id: String?, index: Int?) -> Stop {
            invalid(
                code: ErrorBody.RPCCode.invalidRequest, message: "Invalid Request", field: field, error: error, id: id,
                index: index)
        }

        func invalidParams(field: String, error: String, id: String?, index: Int?) -> Stop {
            invalid(
                code: ErrorBody.RPCCode.invalidParams, message: "Validation failed", field: field, error: error, id: id,
                index: index)
        }

        func headerMismatch(header: String, error: String, message: Message) -> Stop {
            invalid(
                code: ErrorBody.RPCCode.headerMismatch, message: "Header mismatch", field: header, error: error,
                id: message.idText, index: message.index)
        }

        /// A 400 with a JSON-RPC error body and a `validation_failed` event.
        func invalid(code: Int, message: String, field: String?, error: String, id: String?, index: Int?) -> Stop {
            var details: [(String, String)] = []
            var logged: [(String, LogValue)] = [("code", .int(Int64(code)))]
            if let index {
                details.append(("index", String(index)))
                logged.append(("index", .int(Int64(index))))
            }
            if let field {
                details.append(("field", field))
                logged.append(("field", .string(field)))
            }
            details.append(("error", error))
            logged.append(("error", .string(error)))
            let event = SecurityEvent(
                .security(severity: .medium, kind: "validation_failed", details: logged), ipAddress: ipAddress,
                userAgent: userAgent, requestID: requestID)
            return Stop(
                rejection: Rejection(
                    status: 400, message: message, securityEvent: event,
                    bodyKind: .jsonRPC(id: id, code: code, details: details)))
        }
    }
}

/// The request headers inspection reads, gathered in one pass (names compared ASCII case-insensitively).
struct MCPHeaderFields {
    var sessionIDs = HeaderValues()
    var methods = HeaderValues()
    var names = HeaderValues()

    init(_ headers: HTTPHeaders) {
        for field in headers {
            let name = field.name.utf8
            switch name.count {
            case 14 where Self.equalsLowercased(name, "mcp-session-id"): sessionIDs.append(field.value)
            case 10 where Self.equalsLowercased(name, "mcp-method"): methods.append(field.value)
            case 8 where Self.equalsLowercased(name, "mcp-name"): names.append(field.value)
            default: continue
            }
        }
    }

    private static func equalsLowercased(_ name: String.UTF8View, _ lowercase: StaticString) -> Bool {
        let p = lowercase.utf8Start
        var k = 0
        for c in name {
            if Sanitizer.lowercased(c) != p[k] { return false }
            k += 1
        }
        return true
    }
}

/// The values of one request header, in arrival order. The first is held inline, so the usual single
/// `Mcp-Session-Id` (or `Mcp-Method`, `Mcp-Name`) costs no array; only repeats go to `rest`.
struct HeaderValues: Sequence {
    private(set) var first: String? = nil
    private var rest: [String] = []

    var isEmpty: Bool { first == nil }

    mutating func append(_ value: String) {
        if first == nil { first = value } else { rest.append(value) }
    }

    func makeIterator() -> Iterator { Iterator(values: self) }

    /// `first`, then `rest` in order.
    struct Iterator: IteratorProtocol {
        let values: HeaderValues
        /// -1 before `first`, else the position in `rest` of the next value.
        var position = -1

        mutating func next() -> String? {
            if position < 0 {
                position = 0
                return values.first
            }
            guard position < values.rest.count else { return nil }
            position += 1
            return values.rest[position - 1]
        }
    }
}

/// The members of a JSON-RPC message the inspection reads, found in one pass over the object.
private struct MessageMembers {
    var id: JSONValue? = nil
    var jsonrpc: JSONValue? = nil
    var method: JSONValue? = nil
    var params: JSONValue? = nil
    var result: JSONValue? = nil
    var error: JSONValue? = nil

    init(_ object: JSONObject) {
        // By index: a member is only copied out when it is one of these.
        let members = object.members
        for k in members.indices {
            switch members[k].key.utf8.count {
            case 2 where Self.isKey(members[k].key, "id"): id = members[k].value
            case 5 where Self.isKey(members[k].key, "error"): error = members[k].value
            case 6 where Self.isKey(members[k].key, "method"): method = members[k].value
            case 6 where Self.isKey(members[k].key, "params"): params = members[k].value
            case 6 where Self.isKey(members[k].key, "result"): result = members[k].value
            case 7 where Self.isKey(members[k].key, "jsonrpc"): jsonrpc = members[k].value
            default: continue
            }
        }
    }

    /// Whether `key` is exactly the bytes of `literal` (not merely canonically equivalent).
    @inline(__always)
    static func isKey(_ key: String, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        let utf8 = key.utf8
        guard utf8.count == n else { return false }
        let p = literal.utf8Start
        if let equal = utf8.withContiguousStorageIfAvailable({ bytes -> Bool in
            for k in 0..<n where bytes[k] != p[k] { return false }
            return true
        }) {
            return equal
        }
        return utf8.elementsEqual(UnsafeBufferPointer(start: p, count: n))
    }
}
