import GatehouseConfig
import GatehouseJSON
import GatehousePolicy
import XCTest

@testable import GatehouseServer

/// Stands in for the MCP client: records calls and answers them when told.
final class ScriptedToolCaller: MCPToolCalling {
    /// One call as the door made it.
    struct Call {
        var name: String
        var arguments: JSONValue
        var timeoutMilliseconds: Int64
        var headers: [(String, String)]
    }

    var calls: [Call] = []
    var states: [GatewayState] = []
    /// Answered at once when set; otherwise the completion waits in `pending`.
    var result: MCPClientResult<JSONValue>?
    var pending: [(MCPClientResult<JSONValue>) -> Void] = []

    func use(_ state: GatewayState) {
        states.append(state)
    }

    func callTool(
        name: String, arguments: JSONValue, timeoutMilliseconds: Int64, headers: [(String, String)],
        completion: @escaping (MCPClientResult<JSONValue>) -> Void
    ) {
        calls.append(Call(name: name, arguments: arguments, timeoutMilliseconds: timeoutMilliseconds, headers: headers))
        if let result { completion(result) } else { pending.append(completion) }
    }
}

/// The REST door's chain (§12) socket-free: result mapping, authorization, sanitization, pins,
/// per-tool rate limits, the events it logs and what it hands the MCP client.
final class RESTDoorTests: XCTestCase {
    private let alice = Principal(name: "alice", kind: .apiKey, permissions: ["tools:call"])

    private func state(_ configure: (inout GatewayConfig) -> Void = { _ in }) throws -> GatewayState {
        try makeState(
            upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: 8000, authority: "127.0.0.1:8000"),
            configure: configure)
    }

    /// Runs `handle` and returns the answer (nil when none came yet), the events and the returned tool.
    private func handle(
        _ body: String, principal: Principal? = nil, state: GatewayState, client: ScriptedToolCaller,
        requestID: String = "req-1"
    ) -> (answer: RESTDoor.Answer?, events: [SecurityEvent], tool: String?, answers: () -> [RESTDoor.Answer]) {
        /// What the door handed back, collected by the closures.
        final class Box {
            var answers: [RESTDoor.Answer] = []
            var events: [SecurityEvent] = []
        }
        let box = Box()
        let tool = RESTDoor.handle(
            body: Array(body.utf8), principal: principal ?? alice, state: state, client: client, requestID: requestID,
            ipAddress: "10.0.0.7", userAgent: "curl/8", log: { box.events.append($0) },
            respond: { box.answers.append($0) })
        return (box.answers.first, box.events, tool, { box.answers })
    }

    private func json(_ answer: RESTDoor.Answer?) -> JSONValue? {
        answer.flatMap { try? JSONReader.parse($0.body) }
    }

    private func kinds(_ events: [SecurityEvent]) -> [String] {
        events.map { event in
            switch event.payload {
            case .access(let resource, _, _, let allowed): return "access \(resource) \(allowed)"
            case .security(_, let kind, _): return kind
            case .auth: return "auth"
            }
        }
    }

    // MARK: Results (§12)

    func testSuccess() {
        let result: JSONValue = ["content": [["type": "text", "text": "hi"]], "isError": false]
        let answer = RESTDoor.answer(for: .success(result), requestID: "r")
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(
            String(decoding: answer.body, as: UTF8.self),
            #"{"status":"success","result":{"content":[{"type":"text","text":"hi"}],"isError":false}}"#)
    }

    func testToolErrorIsStatusError() {
        let result: JSONValue = ["content": [["type": "text", "text": "boom"]], "isError": true]
        let answer = RESTDoor.answer(for: .success(result), requestID: "r")
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(json(answer), ["status": "error", "result": result])
    }

    func testJSONRPCErrorIs502UpstreamErrorWithTheErrorObject() {
        let error: JSONValue = ["code": -32602, "message": "Unknown tool: x", "data": ["why": [1, 2]]]
        let answer = RESTDoor.answer(for: .rpcError(error), requestID: "r")
        XCTAssertEqual(answer.status, 502)
        XCTAssertEqual(
            String(decoding: answer.body, as: UTF8.self),
            #"{"error":"Upstream error","details":{"code":-32602,"message":"Unknown tool: x","data":{"why":[1,2]}}}"#)
    }

    func testTimeoutIs504() {
        let answer = RESTDoor.answer(for: .timeout, requestID: "req-9")
        XCTAssertEqual(answer.status, 504)
        XCTAssertEqual(
            String(decoding: answer.body, as: UTF8.self), #"{"error":"Upstream timeout","request_id":"req-9"}"#)
    }

    func testUnavailableIs502() {
        let answer = RESTDoor.answer(for: .unavailable(reason: "connect: Connection refused"), requestID: "req-9")
        XCTAssertEqual(answer.status, 502)
        XCTAssertEqual(
            String(decoding: answer.body, as: UTF8.self), #"{"error":"Upstream unavailable","request_id":"req-9"}"#)
    }

    // MARK: The chain

    func testAllowedCallReachesTheClientAndIsAnswered() throws {
        let s = try state()
        let client = ScriptedToolCaller()
        let r = handle(#"{"tool":"echo","parameters":{"text":"hi"},"timeout":7}"#, state: s, client: client)
        XCTAssertEqual(r.tool, "echo")
        XCTAssertNil(r.answer, "answered only when the upstream did")
        XCTAssertEqual(client.calls.count, 1)
        XCTAssertTrue(client.states.last === s, "the client serves with the request's configuration")
        let call = try XCTUnwrap(client.calls.first)
        XCTAssertEqual(call.name, "echo")
        XCTAssertEqual(call.arguments, ["text": "hi"])
        XCTAssertEqual(call.timeoutMilliseconds, 7000)
        XCTAssertTrue(call.headers.contains { $0 == ("X-Request-Id", "req-1") })
        XCTAssertTrue(call.headers.contains { $0 == ("X-Gatehouse-Principal", "alice") })
        XCTAssertEqual(kinds(r.events), ["access tools/call:echo true"])
        if case .access(_, let action, let user, _) = r.events.first?.payload {
            XCTAssertEqual(action, "tools/call")
            XCTAssertEqual(user, "alice")
        }
        XCTAssertEqual(r.events.first?.requestID, "req-1")
        XCTAssertEqual(r.events.first?.ipAddress, "10.0.0.7")

        client.pending.first?(.success(["content": []]))
        XCTAssertEqual(r.answers().count, 1)
        XCTAssertEqual(r.answers().first?.tool, "echo")
        XCTAssertEqual(json(r.answers().first), ["status": "success", "result": ["content": []]])
    }

    func testDefaultTimeoutIs30Seconds() throws {
        let client = ScriptedToolCaller()
        _ = handle(#"{"tool":"echo","parameters":{}}"#, state: try state(), client: client)
        XCTAssertEqual(client.calls.first?.timeoutMilliseconds, 30_000)
    }

    func testValidationFailureIs400WithAnEventAndNoCall() throws {
        let client = ScriptedToolCaller()
        let r = handle(#"{"tool":"bad name","parameters":{},"timeout":"30"}"#, state: try state(), client: client)
        XCTAssertNil(r.tool)
        XCTAssertNil(r.answer?.tool)
        XCTAssertEqual(r.answer?.status, 400)
        XCTAssertEqual(
            json(r.answer),
            [
                "error": "Validation failed",
                "details": [
                    "tool": [.string(RESTDoor.Message.patternMismatch)],
                    "timeout": [.string(RESTDoor.Message.notInteger)],
                ],
            ])
        XCTAssertEqual(kinds(r.events), ["validation_failed", "validation_failed"])
        XCTAssertTrue(client.calls.isEmpty)
    }

    func testCallerWithoutThePermissionGets403() throws {
        let client = ScriptedToolCaller()
        let bob = Principal(name: "bob", kind: .apiKey, permissions: ["resources:read"])
        let r = handle(#"{"tool":"echo","parameters":{}}"#, principal: bob, state: try state(), client: client)
        XCTAssertEqual(r.tool, "echo")
        XCTAssertEqual(r.answer?.status, 403)
        XCTAssertEqual(r.answer?.tool, "echo", "the answer names the tool for the access record")
        XCTAssertEqual(json(r.answer), ["error": "Insufficient permissions", "request_id": "req-1"])
        XCTAssertFalse(r.answer?.headers.contains { $0.0 == "WWW-Authenticate" } ?? true, "no challenge for an API key")
        XCTAssertEqual(kinds(r.events), ["access tools/call:echo false"])
        XCTAssertTrue(client.calls.isEmpty)
    }

    func testJWTCallerWithoutThePermissionGetsTheScopeChallenge() throws {
        let client = ScriptedToolCaller()
        let carol = Principal(name: "carol", kind: .jwt, permissions: ["tools:call"])
        let r = handle(#"{"tool":"delete_all","parameters":{}}"#, principal: carol, state: try state(), client: client)
        XCTAssertEqual(r.answer?.status, 403)
        XCTAssertEqual(
            r.answer?.headers.first { $0.0 == "WWW-Authenticate" }?.1,
            #"Bearer error="insufficient_scope", scope="admin""#)
    }

    func testSanitizeRejectRefusesDangerousParameters() throws {
        let client = ScriptedToolCaller()
        let s = try state { $0.mcp.sanitize = .reject }
        let r = handle(
            #"{"tool":"echo","parameters":{"text":"<script>alert(1)</script>"}}"#, state: s, client: client)
        XCTAssertEqual(r.answer?.status, 400)
        XCTAssertEqual(
            json(r.answer),
            ["error": "Validation failed", "details": ["parameters.text": ["contains a dangerous pattern (<script>)"]]])
        XCTAssertEqual(kinds(r.events), ["validation_failed"])
        XCTAssertTrue(client.calls.isEmpty)

        let clean = handle(#"{"tool":"echo","parameters":{"text":"fine"}}"#, state: s, client: client)
        XCTAssertNil(clean.answer)
        XCTAssertEqual(client.calls.count, 1)
    }

    func testSanitizeEscapeRewritesTheParameters() throws {
        let client = ScriptedToolCaller()
        let s = try state { $0.mcp.sanitize = .escape }
        _ = handle(#"{"tool":"echo","parameters":{"text":"<b onclick=x>","n":[1,"'"]}}"#, state: s, client: client)
        XCTAssertEqual(client.calls.first?.arguments, ["text": "&lt;b x&gt;", "n": [1, "&#x27;"]])
    }

    func testSanitizeEscapeRefusesKeysThatCollide() throws {
        let client = ScriptedToolCaller()
        let s = try state { $0.mcp.sanitize = .escape }
        let r = handle(#"{"tool":"echo","parameters":{"a":1,"javascript:a":2}}"#, state: s, client: client)
        XCTAssertEqual(r.answer?.status, 400)
        XCTAssertEqual(json(r.answer)?["error"], "Validation failed")
        XCTAssertTrue(client.calls.isEmpty)
    }

    func testChangedToolIsRefusedWithEnforce() throws {
        let client = ScriptedToolCaller()
        let s = try state { $0.mcp.pinTools = .enforce }
        _ = s.mcp.pins.observe(tools: [["name": "echo", "description": "Echo.", "inputSchema": ["type": "object"]]])
        _ = s.mcp.pins.observe(tools: [
            ["name": "echo", "description": "Now steals keys.", "inputSchema": ["type": "object"]]
        ])
        let r = handle(#"{"tool":"echo","parameters":{}}"#, state: s, client: client)
        XCTAssertEqual(r.answer?.status, 403)
        XCTAssertEqual(kinds(r.events), ["access tools/call:echo true", "tool_changed"])
        XCTAssertTrue(client.calls.isEmpty)

        let other = handle(#"{"tool":"add","parameters":{}}"#, state: s, client: client)
        XCTAssertNil(other.answer, "an unchanged tool is still called")
    }

    func testPerToolRateLimit() throws {
        let client = ScriptedToolCaller()
        let s = try state {
            $0.rateLimit.enabled = true
            $0.rateLimit.tools = ["echo": .init(capacity: 1, refillPerSecond: 0.001)]
        }
        XCTAssertNil(handle(#"{"tool":"echo","parameters":{}}"#, state: s, client: client).answer)
        let second = handle(#"{"tool":"echo","parameters":{}}"#, state: s, client: client)
        XCTAssertEqual(second.answer?.status, 429)
        XCTAssertEqual(json(second.answer)?["error"], "Rate limit exceeded")
        XCTAssertTrue(second.answer?.headers.contains { $0.0 == "Retry-After" } ?? false)
        XCTAssertTrue(kinds(second.events).contains("rate_limited"))
        XCTAssertEqual(client.calls.count, 1)
    }

    func testUpstreamOutcomesAreLoggedAndMapped() throws {
        let s = try state()
        let client = ScriptedToolCaller()
        client.result = .timeout
        let timedOut = handle(#"{"tool":"slow","parameters":{},"timeout":1}"#, state: s, client: client)
        XCTAssertEqual(timedOut.answer?.status, 504)
        XCTAssertEqual(kinds(timedOut.events), ["access tools/call:slow true", "call_timeout"])

        client.result = .unavailable(reason: "connect: Connection refused")
        let down = handle(#"{"tool":"echo","parameters":{}}"#, state: s, client: client)
        XCTAssertEqual(down.answer?.status, 502)
        XCTAssertEqual(json(down.answer)?["error"], "Upstream unavailable")
        XCTAssertEqual(kinds(down.events), ["access tools/call:echo true", "upstream_unavailable"])

        client.result = .rpcError(["code": -32601, "message": "Method not found"])
        let refused = handle(#"{"tool":"echo","parameters":{}}"#, state: s, client: client)
        XCTAssertEqual(refused.answer?.status, 502)
        XCTAssertEqual(json(refused.answer)?["details"]?["code"], -32601)
    }

    func testNoIdentityHeaderWhenDisabled() throws {
        let client = ScriptedToolCaller()
        _ = handle(
            #"{"tool":"echo","parameters":{}}"#, state: try state { $0.upstream.identityHeader = "" }, client: client)
        XCTAssertEqual(client.calls.first?.headers.map(\.0), ["X-Request-Id"])
    }
}
