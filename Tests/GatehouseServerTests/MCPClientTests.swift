import GatehouseConfig
import GatehouseHTTP
import GatehouseJSON
import GatehousePolicy
import GatehousePosix
import Glibc
import XCTest

@testable import GatehouseServer

/// The gateway's MCP client against the built-in demo server (and scripted answers) on a real event
/// loop and real sockets: session opening as the SDK does it, reuse, a lost session, JSON and SSE
/// answers, errors, timeouts, pages of tools/list.
final class MCPClientTests: XCTestCase {
    private var loop: EventLoop!
    private var stub: UpstreamStub!

    override func setUpWithError() throws {
        loop = try EventLoop(index: 0)
        stub = try UpstreamStub(loop: loop)
    }

    override func tearDown() {
        stub = nil
        loop = nil
    }

    private func makeClient(
        _ stub: UpstreamStub? = nil, basePath: String = "", responseTimeout: Duration = .seconds(5)
    ) throws -> MCPClient {
        let state = try makeState(upstream: (stub ?? self.stub).url(path: basePath), responseTimeout: responseTimeout)
        return MCPClient(loop: loop, state: state, endpointPath: "/mcp")
    }

    /// Runs `script` and fails the test when it does not finish in time.
    private func run(
        _ script: LoopScript, timeoutMilliseconds: Int64 = 10_000, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertTrue(
            script.run(timeoutMilliseconds: timeoutMilliseconds), "the steps did not finish", file: file, line: line)
    }

    /// Calls `tool` as one step of `script`, storing the result through `into`.
    private func call(
        _ client: MCPClient, _ tool: String, _ arguments: JSONValue, timeout: Int64 = 5000,
        headers: [(String, String)] = [], in script: LoopScript, into: @escaping (MCPClientResult<JSONValue>) -> Void
    ) {
        script.then { next in
            client.callTool(name: tool, arguments: arguments, timeoutMilliseconds: timeout, headers: headers) {
                into($0)
                next()
            }
        }
    }

    private func text(_ result: MCPClientResult<JSONValue>?) -> String? {
        result?.value?["content"]?[0]?["text"]?.stringValue
    }

    private func requests(_ method: String) -> [StubRequest] {
        stub.requests.filter { $0.rpcMethod == method }
    }

    // MARK: Sessions

    func testOpensASessionAsTheSDKDoesAndReusesItAndItsConnection() throws {
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var first: MCPClientResult<JSONValue>?
        var second: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "hi"], in: script) { first = $0 }
        call(client, "add", ["a": 2, "b": 40], in: script) { second = $0 }
        run(script)

        XCTAssertEqual(text(first), "hi")
        XCTAssertEqual(second?.value?["structuredContent"]?["sum"], .number("42"))
        XCTAssertEqual(
            stub.rpcMethods, ["server/discover", "initialize", "notifications/initialized", "tools/call", "tools/call"])
        XCTAssertEqual(stub.acceptedDescriptors.count, 1, "every request on one pooled connection")

        let discover = try XCTUnwrap(requests("server/discover").first)
        XCTAssertEqual(discover.headers.first(name: "MCP-Protocol-Version"), "2026-07-28")
        XCTAssertEqual(discover.headers.first(name: "Mcp-Method"), "server/discover")
        XCTAssertEqual(
            discover.json?["params"]?["_meta"]?["io.modelcontextprotocol/protocolVersion"], .string("2026-07-28"))
        let initialize = try XCTUnwrap(requests("initialize").first)
        XCTAssertNil(initialize.headers.first(name: "MCP-Protocol-Version"))
        XCTAssertNil(initialize.headers.first(name: "Mcp-Session-Id"))
        XCTAssertEqual(initialize.json?["params"]?["protocolVersion"], "2025-11-25")
        XCTAssertEqual(initialize.json?["params"]?["clientInfo"]?["name"], "gatehouse")

        let calls = requests("tools/call")
        let session = try XCTUnwrap(calls[0].headers.first(name: "Mcp-Session-Id"))
        for request in calls + requests("notifications/initialized") {
            XCTAssertEqual(request.method, "POST")
            XCTAssertEqual(request.target, "/mcp")
            XCTAssertEqual(request.headers.first(name: "Host"), "127.0.0.1:\(stub.port)")
            XCTAssertEqual(request.headers.first(name: "Mcp-Session-Id"), session)
            XCTAssertEqual(request.headers.first(name: "MCP-Protocol-Version"), "2025-11-25")
            XCTAssertEqual(request.headers.first(name: "Accept"), "application/json, text/event-stream")
            XCTAssertEqual(request.headers.first(name: "Content-Type"), "application/json")
            XCTAssertNil(request.headers.first(name: "Mcp-Method"), "no 2026 headers on a handshake session")
        }
        XCTAssertEqual(calls[0].json?["params"]?["name"], "echo")
        XCTAssertEqual(calls[0].json?["params"]?["arguments"]?["text"], "hi")
        XCTAssertNil(calls[0].json?["params"]?["_meta"])
        XCTAssertNotEqual(calls[0].json?["id"], calls[1].json?["id"], "request ids differ")
    }

    func testLostSessionIsReopenedWithInitializeAndTheCallSentAgain() throws {
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var first: MCPClientResult<JSONValue>?
        var second: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "one"], in: script) { first = $0 }
        script.then { [stub] next in
            stub!.restart()  // the upstream forgot every session
            next()
        }
        call(client, "echo", ["text": "two"], in: script) { second = $0 }
        run(script)

        XCTAssertEqual(text(first), "one")
        XCTAssertEqual(text(second), "two")
        XCTAssertEqual(
            stub.rpcMethods,
            [
                "server/discover", "initialize", "notifications/initialized", "tools/call",
                "tools/call", "initialize", "notifications/initialized", "tools/call",
            ], "known to be a handshake server: no second discover")
        let calls = requests("tools/call")
        XCTAssertEqual(calls[0].headers.first(name: "Mcp-Session-Id"), calls[1].headers.first(name: "Mcp-Session-Id"))
        XCTAssertNotEqual(
            calls[1].headers.first(name: "Mcp-Session-Id"), calls[2].headers.first(name: "Mcp-Session-Id"))
    }

    func testA404TwiceInARowIsNotRetriedForever() throws {
        let client = try makeClient()
        stub.override = { request in
            request.rpcMethod == "tools/call"
                ? UpstreamStub.json(404, UpstreamStub.error(for: request, code: -32600, message: "Session not found"))
                : nil
        }
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], in: script) { result = $0 }
        run(script)
        guard case .rpcError(let error)? = result else {
            return XCTFail("expected the upstream's error, got \(String(describing: result))")
        }
        XCTAssertEqual(error["message"], "Session not found")
        XCTAssertEqual(requests("tools/call").count, 2, "sent once more after re-opening, then given up")
        XCTAssertEqual(requests("initialize").count, 2)
    }

    func testIdleConnectionsTheUpstreamClosedAreReplaced() throws {
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var second: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "one"], in: script) { _ in }
        script.then { [stub] next in
            for fd in stub!.acceptedDescriptors { shutdown(fd, Int32(SHUT_RDWR)) }
            next()
        }
        call(client, "echo", ["text": "two"], in: script) { second = $0 }
        run(script)
        XCTAssertEqual(text(second), "two")
        XCTAssertEqual(stub.acceptedDescriptors.count, 2)
    }

    func testModernServerIsSpokenToWithoutASession() throws {
        stub.override = { request in
            switch request.rpcMethod {
            case "server/discover":
                return UpstreamStub.json(
                    200,
                    UpstreamStub.result(
                        for: request, ["supportedVersions": ["2026-07-28"], "capabilities": ["tools": [:]]]))
            case "tools/call":
                return UpstreamStub.json(
                    200, UpstreamStub.result(for: request, ["content": [["type": "text", "text": "modern"]]]))
            default:
                return UpstreamStub.json(400, ["error": "unexpected"])
            }
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], in: script) { result = $0 }
        call(client, "echo", ["text": "y"], in: script) { _ in }
        run(script)

        XCTAssertEqual(text(result), "modern")
        XCTAssertEqual(stub.rpcMethods, ["server/discover", "tools/call", "tools/call"])
        let call = try XCTUnwrap(requests("tools/call").first)
        XCTAssertEqual(call.headers.first(name: "MCP-Protocol-Version"), "2026-07-28")
        XCTAssertEqual(call.headers.first(name: "Mcp-Method"), "tools/call")
        XCTAssertEqual(call.headers.first(name: "Mcp-Name"), "echo")
        XCTAssertNil(call.headers.first(name: "Mcp-Session-Id"))
        let meta = call.json?["params"]?["_meta"]
        XCTAssertEqual(meta?["io.modelcontextprotocol/protocolVersion"], "2026-07-28")
        XCTAssertEqual(meta?["io.modelcontextprotocol/clientCapabilities"], .object(JSONObject()))
        XCTAssertEqual(meta?["io.modelcontextprotocol/clientInfo"]?["name"], "gatehouse")
        XCTAssertEqual(call.json?["params"]?["arguments"]?["text"], "x")
    }

    func testDiscoverRefusedAsSDK1DoesFallsBackToInitialize() throws {
        stub.override = { request in
            guard request.rpcMethod == "server/discover" else { return nil }
            return UpstreamStub.json(
                400,
                [
                    "jsonrpc": "2.0", "id": "server-error",
                    "error": ["code": -32600, "message": "Bad Request: Missing session ID"],
                ])
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "fallback"], in: script) { result = $0 }
        run(script)
        XCTAssertEqual(text(result), "fallback")
        XCTAssertEqual(stub.rpcMethods, ["server/discover", "initialize", "notifications/initialized", "tools/call"])
    }

    func testDiscoverVerdicts() {
        typealias C = MCPClient
        XCTAssertEqual(
            C.discoverVerdict(status: 200, message: ["result": ["supportedVersions": ["2026-07-28"]]]), .modern)
        XCTAssertEqual(
            C.discoverVerdict(status: 200, message: ["result": ["supportedVersions": ["2025-11-25"]]]), .handshake,
            "a discover answer naming only handshake versions is a legacy advertisement")
        XCTAssertEqual(
            C.discoverVerdict(status: 200, message: ["error": ["code": -32601, "message": "Method not found"]]),
            .handshake)
        XCTAssertEqual(C.discoverVerdict(status: 400, message: nil), .handshake)
        XCTAssertEqual(
            C.discoverVerdict(status: 404, message: ["error": ["code": -32600, "message": "x"]]), .handshake)
        XCTAssertEqual(
            C.discoverVerdict(
                status: 200,
                message: [
                    "error": ["code": -32022, "message": "u", "data": ["supported": ["2025-06-18", "2099-01-01"]]]
                ]),
            .handshake, "-32022 naming a handshake version: initialize")
        guard
            case .incompatible(let reason) = C.discoverVerdict(
                status: 200,
                message: ["error": ["code": -32022, "message": "u", "data": ["supported": ["2099-01-01"]]]])
        else { return XCTFail("a server speaking only unknown versions is incompatible") }
        XCTAssertTrue(reason.contains("2099-01-01"), reason)
    }

    func testModernOnlyServerOfAnotherVersionIsUnavailable() throws {
        stub.override = { request in
            guard request.rpcMethod == "server/discover" else { return nil }
            return UpstreamStub.json(
                200,
                UpstreamStub.error(
                    for: request, code: -32022, message: "Unsupported protocol version",
                    data: ["supported": ["2099-01-01"], "requested": "2026-07-28"]))
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], in: script) { result = $0 }
        run(script)
        guard case .unavailable(let reason)? = result else { return XCTFail("got \(String(describing: result))") }
        XCTAssertTrue(reason.contains("2099-01-01"), reason)
        XCTAssertEqual(stub.rpcMethods, ["server/discover"])
    }

    func testInitializeRefusedIsUnavailable() throws {
        stub.override = { request in
            guard request.rpcMethod == "initialize" else { return nil }
            return UpstreamStub.json(
                400, UpstreamStub.error(for: request, code: -32602, message: "Unsupported protocol"))
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], in: script) { result = $0 }
        run(script)
        guard case .unavailable(let reason)? = result else { return XCTFail("got \(String(describing: result))") }
        XCTAssertTrue(reason.contains("initialize") && reason.contains("Unsupported protocol"), reason)
    }

    func testInitializedNotificationRefusedIsUnavailable() throws {
        stub.override = { request in
            request.rpcMethod == "notifications/initialized" ? UpstreamStub.json(500, ["error": "boom"]) : nil
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], in: script) { result = $0 }
        run(script)
        guard case .unavailable(let reason)? = result else { return XCTFail("got \(String(describing: result))") }
        XCTAssertTrue(reason.contains("notifications/initialized") && reason.contains("500"), reason)
    }

    // MARK: Answers

    func testSSEAnswerSkipsNotificationsAndServerRequests() throws {
        stub.override = { request in
            guard request.rpcMethod == "tools/call" else { return nil }
            return UpstreamStub.sse([
                ["jsonrpc": "2.0", "method": "notifications/progress", "params": ["progressToken": 1, "progress": 1]],
                ["jsonrpc": "2.0", "id": "srv-1", "method": "ping"],
                UpstreamStub.result(for: request, ["content": [["type": "text", "text": "from sse"]]]),
            ])
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        var again: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], in: script) { result = $0 }
        script.pause(100)  // the stream's last chunk may come a moment after the response event
        call(client, "echo", ["text": "y"], in: script) { again = $0 }
        run(script)
        XCTAssertEqual(text(result), "from sse", "\(String(describing: result))")
        XCTAssertEqual(text(again), "from sse")
        XCTAssertEqual(stub.acceptedDescriptors.count, 1, "an SSE stream that ended keeps its connection")
    }

    func testOnlyAJSONRPCResponseAnswersARequest() {
        func response(_ text: String) -> JSONValue? { MCPExchange.response(in: Array(text.utf8)) }
        XCTAssertNil(response(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#))
        XCTAssertNil(response(#"{"jsonrpc":"2.0","id":"s1","method":"ping"}"#), "a server request")
        XCTAssertNil(response(#"{"jsonrpc":"2.0","id":1}"#))
        XCTAssertNil(response("null"))
        XCTAssertNil(response("<h1>oops</h1>"))
        XCTAssertNil(response(""))
        XCTAssertEqual(response(#"{"jsonrpc":"2.0","id":1,"result":{}}"#)?["result"], .object(JSONObject()))
        XCTAssertEqual(
            response(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"m"}}"#)?["error"]?["code"], -32600)
        XCTAssertEqual(
            response(#"[{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":2,"result":{"x":1}}]"#)?["result"]?["x"], 1
        )
    }

    func testSSEStreamStillOpenAfterTheResponseDoesNotDelayTheAnswer() throws {
        stub.override = { request in
            guard request.rpcMethod == "tools/call" else { return nil }
            var answer = UpstreamStub.sse([
                UpstreamStub.result(for: request, ["content": [["type": "text", "text": "early"]]])
            ])
            if case .stream(let status, let headers, var events) = answer {
                events.append(DemoMCPStreamEvent(delayMilliseconds: 3000, bytes: Array(": keep-alive\r\n\r\n".utf8)))
                answer = .stream(status: status, headers: headers, events: events)
            }
            return answer
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        var elapsed: Int64 = 0
        script.then { next in
            let start = monotonicMilliseconds()
            client.callTool(name: "echo", arguments: ["text": "x"], timeoutMilliseconds: 5000, headers: []) {
                result = $0
                elapsed = monotonicMilliseconds() - start
                next()
            }
        }
        var openAfterDrain = -1
        script.pause(MCPExchange.drainMilliseconds + 300)
        script.then { next in
            openAfterDrain = client.pool.openCount
            next()
        }
        run(script)
        XCTAssertEqual(text(result), "early")
        XCTAssertLessThan(elapsed, 2000, "answered when the response event arrived, not at the stream's end")
        XCTAssertEqual(openAfterDrain, 0, "a stream that does not end after its response is closed")
    }

    func testToolErrorIsAResultWithIsError() throws {
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", [:], in: script) { result = $0 }  // the demo's echo needs "text"
        run(script)
        XCTAssertEqual(result?.value?["isError"], true)
    }

    func testJSONRPCErrorIsReportedWhole() throws {
        stub.override = { request in
            guard request.rpcMethod == "tools/call" else { return nil }
            return UpstreamStub.json(
                200,
                UpstreamStub.error(for: request, code: -32602, message: "Unknown tool: nope", data: ["tool": "nope"]))
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "nope", [:], in: script) { result = $0 }
        run(script)
        XCTAssertEqual(
            result.flatMap { if case .rpcError(let e) = $0 { return e } else { return nil } },
            ["code": -32602, "message": "Unknown tool: nope", "data": ["tool": "nope"]] as JSONValue)
    }

    func testHTTPErrorWithoutAJSONRPCBodyIsUnavailable() throws {
        stub.override = { request in
            guard request.rpcMethod == "tools/call" else { return nil }
            return .complete(
                status: 500, headers: HTTPHeaders([("Content-Type", "text/html")]), body: Array("<h1>oops</h1>".utf8))
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], in: script) { result = $0 }
        run(script)
        guard case .unavailable(let reason)? = result else { return XCTFail("got \(String(describing: result))") }
        XCTAssertTrue(reason.contains("HTTP 500"), reason)
    }

    func testSlowToolTimesOutAndTheClientGoesOn() throws {
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        var elapsed: Int64 = 0
        var after: MCPClientResult<JSONValue>?
        script.then { next in
            let start = monotonicMilliseconds()
            client.callTool(
                name: "slow", arguments: ["steps": 4, "interval_ms": 500], timeoutMilliseconds: 300, headers: []
            ) {
                result = $0
                elapsed = monotonicMilliseconds() - start
                next()
            }
        }
        call(client, "echo", ["text": "after"], in: script) { after = $0 }
        run(script)
        guard case .timeout? = result else { return XCTFail("got \(String(describing: result))") }
        XCTAssertGreaterThanOrEqual(elapsed, 290)
        XCTAssertLessThan(elapsed, 1500)
        XCTAssertEqual(text(after), "after")
    }

    func testTimeoutWhileTheSessionOpens() throws {
        stub.override = { request in
            // initialize answered only after 2 s.
            guard request.rpcMethod == "initialize" else { return nil }
            return .stream(
                status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]),
                events: [DemoMCPStreamEvent(delayMilliseconds: 2000, bytes: Array("{}".utf8))])
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], timeout: 200, in: script) { result = $0 }
        run(script)
        guard case .timeout? = result else { return XCTFail("got \(String(describing: result))") }
    }

    func testUpstreamDownIsUnavailable() throws {
        let probe = try Socket.listen(on: try SocketAddress.resolve(host: "127.0.0.1", port: 0), reusePort: false)
        let port = try Socket.localAddress(of: probe).port
        closeDescriptor(probe)  // nothing listens there now
        let state = try makeState(
            upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: port, authority: "127.0.0.1:\(port)"))
        let client = MCPClient(loop: loop, state: state, endpointPath: "/mcp")
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "x"], in: script) { result = $0 }
        run(script)
        guard case .unavailable(let reason)? = result else { return XCTFail("got \(String(describing: result))") }
        XCTAssertTrue(reason.lowercased().contains("refused"), reason)
    }

    func testTheUpstreamURLsBasePathIsPrependedToTheEndpoint() throws {
        let client = try makeClient(basePath: "/base")
        stub.override = { request in
            // The demo serves /mcp only: answer the prefixed path from it.
            guard request.target == "/base/mcp" else { return UpstreamStub.json(404, ["error": "Not found"]) }
            return nil
        }
        let script = LoopScript(loop: loop)
        call(client, "echo", ["text": "x"], in: script) { _ in }
        run(script)
        XCTAssertFalse(stub.requests.isEmpty)
        XCTAssertTrue(stub.requests.allSatisfy { $0.target == "/base/mcp" }, "\(stub.requests.map(\.target))")
    }

    func testCallerHeadersAreSent() throws {
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(
            client, "echo", ["text": "x"], headers: [("X-Gatehouse-Principal", "alice"), ("X-Request-Id", "r-1")],
            in: script
        ) { result = $0 }
        run(script)
        XCTAssertEqual(text(result), "x")
        let call = try XCTUnwrap(requests("tools/call").first)
        XCTAssertEqual(call.headers.first(name: "X-Gatehouse-Principal"), "alice")
        XCTAssertEqual(call.headers.first(name: "X-Request-Id"), "r-1")
    }

    func testAnotherUpstreamAfterAReloadGetsItsOwnSession() throws {
        let other = try UpstreamStub(loop: loop)
        let client = try makeClient()
        let next = try makeState(upstream: other.url())
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<JSONValue>?
        call(client, "echo", ["text": "a"], in: script) { _ in }
        script.then { done in
            client.use(next)
            done()
        }
        call(client, "echo", ["text": "b"], in: script) { result = $0 }
        run(script)
        XCTAssertEqual(text(result), "b")
        XCTAssertEqual(stub.rpcMethods.filter { $0 == "tools/call" }.count, 1)
        XCTAssertEqual(other.rpcMethods, ["server/discover", "initialize", "notifications/initialized", "tools/call"])
    }

    func testAReloadThatKeepsTheUpstreamKeepsTheSession() throws {
        let client = try makeClient()
        let same = try makeState(upstream: stub.url())
        let script = LoopScript(loop: loop)
        call(client, "echo", ["text": "a"], in: script) { _ in }
        script.then { done in
            client.use(same)
            done()
        }
        call(client, "echo", ["text": "b"], in: script) { _ in }
        run(script)
        XCTAssertEqual(stub.rpcMethods.filter { $0 == "initialize" }.count, 1)
    }

    // MARK: Through the REST door

    func testRESTDoorCallsTheDemoServerThroughTheClient() throws {
        let client = try makeClient()
        let principal = Principal(name: "ci", kind: .apiKey, permissions: ["*"])
        let script = LoopScript(loop: loop)
        var answers: [RESTDoor.Answer] = []
        for body in [
            #"{"tool":"add","parameters":{"a":2,"b":3}}"#, #"{"tool":"echo","parameters":{}}"#,
            #"{"tool":"slow","parameters":{"steps":3,"interval_ms":500},"timeout":1}"#,
        ] {
            script.then { next in
                RESTDoor.handle(
                    body: Array(body.utf8), principal: principal, state: client.state, client: client, requestID: "r",
                    log: { _ in },
                    respond: {
                        answers.append($0)
                        next()
                    })
            }
        }
        run(script)
        XCTAssertEqual(answers.map(\.status), [200, 200, 504])
        let sum = try JSONReader.parse(answers[0].body)
        XCTAssertEqual(sum["status"], "success")
        XCTAssertEqual(sum["result"]?["structuredContent"]?["sum"], 5)
        XCTAssertEqual(try JSONReader.parse(answers[1].body)["status"], "error")
        XCTAssertEqual(requests("tools/call").first?.headers.first(name: "X-Gatehouse-Principal"), "ci")
    }

    // MARK: tools/list

    func testListToolsFollowsEveryPage() throws {
        stub.override = { request in
            guard request.rpcMethod == "tools/list" else { return nil }
            let tools = DemoMCPServer.toolDefinitions.arrayValue ?? []
            switch request.json?["params"]?["cursor"]?.stringValue {
            case nil:
                return UpstreamStub.json(
                    200, UpstreamStub.result(for: request, ["tools": [tools[0]], "nextCursor": "p2"]))
            case "p2"?:
                return UpstreamStub.json(
                    200, UpstreamStub.result(for: request, ["tools": [tools[1]], "nextCursor": "p3"]))
            default: return UpstreamStub.sse([UpstreamStub.result(for: request, ["tools": [tools[2]]])])
            }
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<[JSONValue]>?
        script.then { next in
            client.listTools(timeoutMilliseconds: 5000) {
                result = $0
                next()
            }
        }
        run(script)
        XCTAssertEqual(result?.value?.compactMap { $0["name"]?.stringValue }, ["echo", "add", "slow"])
        XCTAssertEqual(requests("tools/list").map { $0.json?["params"]?["cursor"]?.stringValue }, [nil, "p2", "p3"])
    }

    func testListToolsWithAStuckCursorIsRefused() throws {
        stub.override = { request in
            guard request.rpcMethod == "tools/list" else { return nil }
            return UpstreamStub.json(200, UpstreamStub.result(for: request, ["tools": [], "nextCursor": "again"]))
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<[JSONValue]>?
        script.then { next in
            client.listTools(timeoutMilliseconds: 5000) {
                result = $0
                next()
            }
        }
        run(script)
        guard case .unavailable(let reason)? = result else { return XCTFail("got \(String(describing: result))") }
        XCTAssertTrue(reason.contains("again"), reason)
        XCTAssertEqual(requests("tools/list").count, 2)
    }

    func testListToolsWithoutAToolsArrayIsRefused() throws {
        stub.override = { request in
            guard request.rpcMethod == "tools/list" else { return nil }
            return UpstreamStub.json(200, UpstreamStub.result(for: request, ["items": []]))
        }
        let client = try makeClient()
        let script = LoopScript(loop: loop)
        var result: MCPClientResult<[JSONValue]>?
        script.then { next in
            client.listTools(timeoutMilliseconds: 5000) {
                result = $0
                next()
            }
        }
        run(script)
        guard case .unavailable? = result else { return XCTFail("got \(String(describing: result))") }
    }

    func testFetchToolsRunsItsOwnLoopOnTheCallersThread() throws {
        loop.start()  // the stub serves from its loop's thread
        defer {
            loop.stop()
            loop.join()
        }
        let state = try makeState(upstream: stub.url())
        let result = MCPClient.fetchTools(state: state, endpointPath: "/mcp", timeoutMilliseconds: 5000)
        XCTAssertEqual(result.value?.compactMap { $0["name"]?.stringValue }, ["echo", "add", "slow"])

        let down = try makeState(
            upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: 1, authority: "127.0.0.1:1"))
        guard case .unavailable = MCPClient.fetchTools(state: down, endpointPath: "/mcp", timeoutMilliseconds: 2000)
        else { return XCTFail("port 1 answers MCP?") }
    }
}
