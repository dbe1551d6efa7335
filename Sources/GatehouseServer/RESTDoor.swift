import CGatehouseShims
import GatehouseJSON
import GatehousePolicy

/// The REST tool door (§12): `POST <rest.path>` with `{"tool", "parameters", "timeout"}` calls an
/// upstream tool for clients that speak no MCP (scripts, webhooks, CI jobs).
///
/// Socket-free: the connection code authenticates the caller (and applies the rate limits by address
/// or principal), reads the body whole, and hands it to `handle`, which runs the rest of an MCP call's
/// chain in the inspector's order — the seed's validation, sanitization of `parameters`,
/// authorization as `tools/call:<tool>`, pinned tools, per-tool rate limits — then calls the tool
/// through the loop's MCP client and maps its result to the answer.
///
/// Validation is the seed's schema with the seed's messages (marshmallow's): every failing field is
/// reported, each with its messages, in a 400 `{"error":"Validation failed","details":{…}}`.
public enum RESTDoor {
    /// A validated request.
    public struct Call: Equatable, Sendable {
        public var tool: String
        /// A JSON object.
        public var parameters: JSONValue
        public var timeoutSeconds: Int

        public init(tool: String, parameters: JSONValue, timeoutSeconds: Int) {
            self.tool = tool
            self.parameters = parameters
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// The messages of each failing field, in the order the fields were checked.
    public struct ValidationFailure: Error, Equatable, Sendable {
        public var details: JSONObject

        public init(details: JSONObject) {
            self.details = details
        }

        /// The messages of `field` (empty when it did not fail).
        public func messages(for field: String) -> [String] {
            details[field]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
    }

    /// An answer for the connection code to write (it adds the security headers, `X-Request-Id` and
    /// the framing).
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        /// The tool the request named, once validation accepted it (for the access record).
        public var tool: String?

        public init(
            status: Int, headers: [(String, String)] = [("Content-Type", "application/json")], body: [UInt8],
            tool: String? = nil
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.tool = tool
        }
    }

    public static let defaultTimeoutSeconds = 30
    public static let timeoutRange = 1...300

    /// The seed's messages.
    public enum Message {
        public static let required = "Missing data for required field."
        public static let null = "Field may not be null."
        public static let notString = "Not a valid string."
        public static let patternMismatch = "String does not match expected pattern."
        public static let notMapping = "Not a valid mapping type."
        public static let notInteger = "Not a valid integer."
        public static let outOfRange = "Must be greater than or equal to 1 and less than or equal to 300."
        public static let unknownField = "Unknown field."
        public static let invalidInput = "Invalid input type."
        public static let invalidJSON = "Invalid JSON."
    }

    /// The body-level key of the details (marshmallow's `_schema`).
    public static let schemaField = "_schema"

    // MARK: Validation

    /// Checks `body` against the seed's schema: `tool` a string matching `toolNamePattern`,
    /// `parameters` an object (required), `timeout` an integer 1…300 (default 30; a JSON integer
    /// literal, so `"30"` and `30.0` are refused), no other member.
    public static func validate(
        body: [UInt8], toolNamePattern: MCPToolNameMatcher, maxDepth: Int
    ) -> Result<Call, ValidationFailure> {
        let document: JSONValue
        do {
            document = try JSONReader.parse(body, maxDepth: maxDepth)
        } catch {
            return .failure(ValidationFailure(details: [schemaField: [.string(Message.invalidJSON)]]))
        }
        guard case .object(let object) = document else {
            return .failure(ValidationFailure(details: [schemaField: [.string(Message.invalidInput)]]))
        }
        var details = JSONObject()
        func refuse(_ field: String, _ message: String) {
            var messages = details[field]?.arrayValue ?? []
            messages.append(.string(message))
            details[field] = .array(messages)
        }

        var tool = ""
        switch object["tool"] {
        case nil: refuse("tool", Message.required)
        case .null?: refuse("tool", Message.null)
        case .string(let name)?:
            if toolNamePattern.matches(name) { tool = name } else { refuse("tool", Message.patternMismatch) }
        case _?: refuse("tool", Message.notString)
        }

        var parameters = JSONValue.object(JSONObject())
        switch object["parameters"] {
        case nil: refuse("parameters", Message.required)
        case .null?: refuse("parameters", Message.null)
        case .object(let p)?: parameters = .object(p)
        case _?: refuse("parameters", Message.notMapping)
        }

        var timeout = defaultTimeoutSeconds
        switch object["timeout"] {
        case nil: break
        case .null?: refuse("timeout", Message.null)
        case .number(let text)?:
            switch integerLiteral(text) {
            case nil: refuse("timeout", Message.notInteger)
            case .some(let n?) where timeoutRange.contains(n): timeout = n
            case .some: refuse("timeout", Message.outOfRange)
            }
        case _?: refuse("timeout", Message.notInteger)
        }

        for key in object.keys where key != "tool" && key != "parameters" && key != "timeout" {
            refuse(key, Message.unknownField)
        }
        guard details.isEmpty else { return .failure(ValidationFailure(details: details)) }
        return .success(Call(tool: tool, parameters: parameters, timeoutSeconds: timeout))
    }

    /// For JSON number text: nil when it is not an integer literal (a fraction or an exponent), else
    /// its value, which is nil itself when it does not fit an `Int` (out of range either way).
    static func integerLiteral(_ text: String) -> Int?? {
        let digits = text.utf8.drop { $0 == UInt8(ascii: "-") }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return .some(Int(text))
    }

    /// 400 `{"error":"Validation failed","details":{…}}`.
    public static func validationAnswer(_ failure: ValidationFailure) -> Answer {
        let body: JSONValue = ["error": "Validation failed", "details": .object(failure.details)]
        return Answer(status: 400, body: JSONWriter.serialize(body))
    }

    // MARK: Results

    /// The answer for what the upstream made of the call (§12): 200 `success` or `error` (a result
    /// with `isError`), 502 `Upstream error` with the JSON-RPC error object, 504 and 502 (§4) for a
    /// timeout and an unreachable upstream.
    public static func answer(for result: MCPClientResult<JSONValue>, requestID: String) -> Answer {
        switch result {
        case .success(let value):
            let status = value["isError"]?.boolValue == true ? "error" : "success"
            return Answer(status: 200, body: JSONWriter.serialize(["status": .string(status), "result": value]))
        case .rpcError(let error):
            return Answer(status: 502, body: JSONWriter.serialize(["error": "Upstream error", "details": error]))
        case .timeout:
            return answer(Rejection.standard(status: 504), requestID: requestID)
        case .unavailable:
            return answer(Rejection.standard(status: 502), requestID: requestID)
        }
    }

    /// A rejection's status, headers and §4 body.
    public static func answer(_ rejection: Rejection, requestID: String) -> Answer {
        Answer(
            status: rejection.status, headers: rejection.headers + [("Content-Type", "application/json")],
            body: rejection.body(requestID: requestID))
    }

    // MARK: The chain

    /// Serves one request whose body is `body`, from an authenticated `principal`. `log` receives the
    /// security events (`access`, `validation_failed`, `call_timeout`, `upstream_unavailable`, …) as they
    /// happen; `respond` is called exactly
    /// once, now (before `handle` returns) or later on the loop (after the upstream answered); its
    /// `Answer.tool` names the tool once validation accepted the body. Returns that name too.
    @discardableResult
    public static func handle(
        body: [UInt8], principal: Principal?, state: GatewayState, client: MCPToolCalling, requestID: String,
        ipAddress: String? = nil, userAgent: String? = nil, log: @escaping (SecurityEvent) -> Void,
        respond deliver: @escaping (Answer) -> Void
    ) -> String? {
        let settings = state.mcp.settings
        var named: String?
        func respond(_ answer: Answer) {
            var answer = answer
            answer.tool = named
            deliver(answer)
        }
        func event(_ payload: SecurityEvent.Payload) -> SecurityEvent {
            SecurityEvent(payload, ipAddress: ipAddress, userAgent: userAgent, requestID: requestID)
        }
        func refuse(_ failure: ValidationFailure) {
            for (field, messages) in failure.details {
                let text = messages.arrayValue?.compactMap(\.stringValue).joined(separator: " ") ?? ""
                log(
                    event(
                        .security(
                            severity: .medium, kind: "validation_failed",
                            details: [("field", .string(field)), ("error", .string(text)), ("door", "rest")])))
            }
            respond(validationAnswer(failure))
        }

        // 1. The seed's schema.
        var call: Call
        switch validate(body: body, toolNamePattern: settings.toolNamePattern, maxDepth: settings.maxJSONDepth) {
        case .failure(let failure):
            refuse(failure)
            return nil
        case .success(let valid):
            call = valid
        }
        let tool = call.tool
        named = tool

        // 2. Sanitization of the parameters (§6.4).
        switch settings.sanitize {
        case .off:
            break
        case .reject:
            if let hit = Sanitizer.firstDangerous(in: call.parameters) {
                let field = Sanitizer.describe(path: hit.path, from: "parameters")
                refuse(
                    ValidationFailure(details: [
                        field: [.string("contains a dangerous pattern (\(hit.pattern.rawValue))")]
                    ]))
                return tool
            }
        case .escape:
            do {
                call.parameters = try Sanitizer.escaped(call.parameters)
            } catch {
                let field = Sanitizer.describe(path: error.path, from: "parameters")
                refuse(ValidationFailure(details: [field: ["keys collide once escaped"]]))
                return tool
            }
        }

        // 3. Authorization as an MCP call of the tool.
        let resource = AuthorizationRules.resource(method: "tools/call", tool: tool)
        let allowed = settings.rules.allows(permissions: principal?.permissions ?? [], resource: resource)
        let access = event(.access(resource: resource, action: "tools/call", userID: principal?.name, allowed: allowed))
        guard allowed else {
            let rejection = Rejection.forbidden(
                principal: principal, required: settings.rules.requirement(for: resource) ?? [], securityEvent: access)
            log(access)
            respond(answer(rejection, requestID: requestID))
            return tool
        }
        log(access)

        // 4. A tool whose definition changed since it was pinned is refused with `enforce` (§6.7).
        if settings.pinTools == .enforce, state.mcp.pins.isBlocked(tool: tool) {
            log(
                event(
                    .security(
                        severity: .high, kind: "tool_changed",
                        details: [("tool", .string(tool)), ("action", "call_refused")])))
            respond(answer(Rejection.forbidden(principal: principal, required: []), requestID: requestID))
            return tool
        }

        // 5. Per-tool rate limits.
        if let limiter = state.rateLimiter, let principal,
            let decision = limiter.takeToolCall(principal: principal.name, tool: tool, now: gh_monotonic_ns()),
            !decision.allowed
        {
            let rejection = decision.rejection(
                subject: .tool(principal: principal.name, tool: tool), ipAddress: ipAddress, userAgent: userAgent,
                requestID: requestID)
            if let e = rejection.securityEvent { log(e) }
            respond(answer(rejection, requestID: requestID))
            return tool
        }

        // 6. The call, bounded by the request's timeout.
        var headers: [(String, String)] = [("X-Request-Id", requestID)]
        if !state.identityHeader.isEmpty, let principal { headers.append((state.identityHeader, principal.name)) }
        client.use(state)
        client.callTool(
            name: tool, arguments: call.parameters, timeoutMilliseconds: Int64(call.timeoutSeconds) * 1000,
            headers: headers
        ) { result in
            switch result {
            case .timeout:
                log(
                    event(
                        .security(
                            severity: .low, kind: "call_timeout", details: [("tool", .string(tool)), ("door", "rest")]))
                )
            case .unavailable(let reason):
                log(
                    event(
                        .security(
                            severity: .medium, kind: "upstream_unavailable",
                            details: [("tool", .string(tool)), ("reason", .string(reason)), ("door", "rest")])))
            case .success, .rpcError:
                break
            }
            respond(answer(for: result, requestID: requestID))
        }
        return tool
    }
}
