import GatehouseHTTP
import GatehouseJSON
import GatehouseServer
import XCTest

/// The demo MCP server's protocol logic, socket-free: each method, each tool, SSE framing, errors.
final class DemoMCPServerTests: XCTestCase {
    private let jsonAccept: [(String, String)] = [("Accept", "application/json"), ("Content-Type", "application/json")]
    private let bothAccept: [(String, String)] = [
        ("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json"),
    ]

    // MARK: Helpers

    private func post(
        _ server: DemoMCPServer, _ body: String, headers: [(String, String)]? = nil, target: String = "/mcp"
    ) -> DemoMCPResponse {
        server.handle(method: "POST", target: target, headers: headers ?? bothAccept, body: Array(body.utf8))
    }

    /// The status, headers and parsed JSON body of a complete answer.
    private func complete(
        _ response: DemoMCPResponse, file: StaticString = #filePath, line: UInt = #line
    ) -> (status: Int, headers: HTTPHeaders, json: JSONValue?, body: [UInt8]) {
        guard case .complete(let status, let headers, let body) = response else {
            XCTFail("expected a complete answer, got \(response)", file: file, line: line)
            return (0, HTTPHeaders(), nil, [])
        }
        XCTAssertEqual(headers.first(name: "Content-Length"), String(body.count), "framing", file: file, line: line)
        return (status, headers, body.isEmpty ? nil : try? JSONReader.parse(body), body)
    }

    private func initialize(_ server: DemoMCPServer, version: String = "2025-11-25") -> String {
        let r = complete(post(server, #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"\#(version)","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#))
        return r.headers.first(name: "Mcp-Session-Id") ?? ""
    }

    private func call(_ server: DemoMCPServer, _ tool: String, _ arguments: String, id: Int = 5, meta: String? = nil, headers: [(String, String)]? = nil) -> DemoMCPResponse {
        let metaPart = meta.map { #","_meta":\#($0)"# } ?? ""
        return post(server, #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":\#(arguments)\#(metaPart)}}"#, headers: headers)
    }

    /// The JSON of each event's `data:` line, checking the framing byte for byte (CRLF line ends).
    private func sseMessages(_ events: [DemoMCPStreamEvent], file: StaticString = #filePath, line: UInt = #line) -> [JSONValue] {
        let prefix = Array("event: message\r\ndata: ".utf8)
        let suffix = Array("\r\n\r\n".utf8)
        return events.compactMap { event in
            let bytes = event.bytes
            guard bytes.starts(with: prefix), bytes.count >= prefix.count + suffix.count,
                Array(bytes.suffix(suffix.count)) == suffix
            else {
                XCTFail("bad SSE framing: \(String(decoding: bytes, as: UTF8.self).debugDescription)", file: file, line: line)
                return nil
            }
            let data = bytes[prefix.count..<(bytes.count - suffix.count)]
            XCTAssertFalse(data.contains(0x0A) || data.contains(0x0D), "one data line", file: file, line: line)
            return try? JSONReader.parse(data)
        }
    }

    // MARK: initialize, ping, notifications

    func testInitializeEchoesASupportedVersionAndIssuesASession() {
        for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
            let server = DemoMCPServer()
            let r = complete(post(server, #"{"jsonrpc":"2.0","id":"init-1","method":"initialize","params":{"protocolVersion":"\#(version)","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#))
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers.first(name: "Content-Type"), "application/json")
            XCTAssertEqual(r.json?["jsonrpc"], "2.0")
            XCTAssertEqual(r.json?["id"], "init-1")
            XCTAssertEqual(r.json?["result"]?["protocolVersion"]?.stringValue, version)
            XCTAssertEqual(r.json?["result"]?["serverInfo"]?["name"], "gatehouse-demo")
            XCTAssertNotNil(r.json?["result"]?["capabilities"]?["tools"]?.objectValue)
            let session = r.headers.first(name: "Mcp-Session-Id") ?? ""
            XCTAssertEqual(session.count, 32)
            XCTAssertTrue(session.allSatisfy { $0.isHexDigit }, session)
            XCTAssertEqual(server.sessionCount, 1)
        }
    }

    func testInitializeWithAnUnknownVersionAnswersTheLatest() {
        let server = DemoMCPServer()
        for version in ["2026-07-28", "1999-01-01"] {
            let r = complete(post(server, #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"\#(version)"}}"#))
            XCTAssertEqual(r.json?["result"]?["protocolVersion"], "2025-11-25")
        }
        let noParams = complete(post(server, #"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#))
        XCTAssertEqual(noParams.json?["result"]?["protocolVersion"], "2025-11-25")
    }

    func testEverySessionIsNew() {
        let server = DemoMCPServer()
        let sessions = Set((0..<20).map { _ in initialize(server) })
        XCTAssertEqual(sessions.count, 20)
    }

    func testPingAnswersAnEmptyResultWithTheRequestID() {
        let server = DemoMCPServer()
        let r = complete(post(server, #"{"jsonrpc":"2.0","id":1e400,"method":"ping"}"#))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), #"{"jsonrpc":"2.0","id":1e400,"result":{}}"#, "the id exactly as sent")
    }

    func testNotificationsAndClientResponsesGet202WithoutBody() {
        let server = DemoMCPServer()
        let session = initialize(server)
        for body in [
            #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#,
            #"{"jsonrpc":"2.0","id":9,"result":{}}"#,
            #"{"jsonrpc":"2.0","id":9,"error":{"code":-1,"message":"no"}}"#,
        ] {
            let r = complete(post(server, body, headers: bothAccept + [("Mcp-Session-Id", session)]))
            XCTAssertEqual(r.status, 202, body)
            XCTAssertTrue(r.body.isEmpty, body)
        }
    }

    // MARK: tools/list

    func testToolsListDescribesTheThreeTools() throws {
        let server = DemoMCPServer()
        let r = complete(post(server, #"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#))
        XCTAssertEqual(r.status, 200)
        let tools = try XCTUnwrap(r.json?["result"]?["tools"]?.arrayValue)
        XCTAssertEqual(tools.map { $0["name"]?.stringValue }, ["echo", "add", "slow"])
        for tool in tools {
            XCTAssertFalse(tool["description"]?.stringValue?.isEmpty ?? true)
            XCTAssertEqual(tool["inputSchema"]?["type"], "object")
        }
        XCTAssertEqual(tools[0]["inputSchema"]?["properties"]?["text"]?["type"], "string")
        XCTAssertEqual(tools[0]["inputSchema"]?["required"], ["text"])
        XCTAssertEqual(tools[1]["inputSchema"]?["properties"]?["a"]?["type"], "number")
        XCTAssertEqual(tools[1]["inputSchema"]?["properties"]?["b"]?["type"], "number")
        XCTAssertEqual(tools[1]["inputSchema"]?["required"], ["a", "b"])
        XCTAssertEqual(tools[2]["inputSchema"]?["properties"]?["steps"]?["type"], "integer")
        XCTAssertEqual(tools[2]["inputSchema"]?["properties"]?["steps"]?["default"], 5)
        XCTAssertEqual(tools[2]["inputSchema"]?["properties"]?["interval_ms"]?["type"], "integer")
        XCTAssertEqual(tools[2]["inputSchema"]?["properties"]?["interval_ms"]?["default"], 500)
        // Without params too.
        XCTAssertEqual(complete(post(server, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#)).json?["result"]?["tools"]?.arrayValue?.count, 3)
    }

    // MARK: tools/call echo and add

    func testEchoReturnsTheText() {
        let server = DemoMCPServer()
        let text = "héllo 😀 \"quoted\" <b>\n" + String(repeating: "x", count: 200_000)
        let r = complete(call(server, "echo", #"{"text":\#(JSONWriter.quoted(text))}"#))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json?["id"], 5)
        XCTAssertEqual(r.json?["result"], ["content": [["type": "text", "text": .string(text)]]])
    }

    func testAddReturnsTheSumAsTextAndStructuredContent() {
        let server = DemoMCPServer()
        let cases: [(String, String)] = [
            (#"{"a":2,"b":3}"#, "5"), (#"{"a":-7,"b":7}"#, "0"), (#"{"a":1.5,"b":2.25}"#, "3.75"),
            (#"{"a":0.1,"b":0.2}"#, "0.30000000000000004"), (#"{"a":9223372036854775807,"b":1}"#, "9.223372036854776e+18"),
            (#"{"a":1e2,"b":2.0}"#, "102"),
        ]
        for (arguments, sum) in cases {
            let r = complete(call(server, "add", arguments))
            XCTAssertEqual(r.json?["result"]?["content"]?[0]?["text"]?.stringValue, sum, arguments)
            XCTAssertEqual(r.json?["result"]?["structuredContent"]?["sum"]?.numberText, sum, arguments)
            XCTAssertNil(r.json?["result"]?["isError"])
        }
    }

    func testToolArgumentErrorsAreToolResultsWithIsError() {
        let server = DemoMCPServer()
        let cases: [(String, String, String)] = [
            ("echo", "{}", "echo: argument \"text\" must be a string"),
            ("echo", #"{"text":1}"#, "echo: argument \"text\" must be a string"),
            ("add", #"{"a":1}"#, "add: arguments \"a\" and \"b\" must be finite numbers"),
            ("add", #"{"a":"1","b":2}"#, "add: arguments \"a\" and \"b\" must be finite numbers"),
            ("add", #"{"a":1e400,"b":2}"#, "add: arguments \"a\" and \"b\" must be finite numbers"),
            ("add", #"{"a":1e308,"b":1e308}"#, "add: arguments \"a\" and \"b\" must be finite numbers"),
            ("slow", #"{"steps":0}"#, "slow: \"steps\" must be an integer from 1 to 100"),
            ("slow", #"{"steps":1.5}"#, "slow: \"steps\" must be an integer from 1 to 100"),
            ("slow", #"{"steps":101}"#, "slow: \"steps\" must be an integer from 1 to 100"),
            ("slow", #"{"interval_ms":-1}"#, "slow: \"interval_ms\" must be an integer from 0 to 10000"),
            ("slow", #"{"interval_ms":"5"}"#, "slow: \"interval_ms\" must be an integer from 0 to 10000"),
            ("nope", "{}", "Unknown tool: nope"),
        ]
        for (tool, arguments, message) in cases {
            let r = complete(call(server, tool, arguments))
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.json?["id"], 5)
            XCTAssertEqual(r.json?["result"]?["isError"], true, "\(tool) \(arguments)")
            XCTAssertEqual(r.json?["result"]?["content"]?[0]?["text"]?.stringValue, message)
        }
    }

    func testToolsCallWithBadParamsIsInvalidParams() {
        let server = DemoMCPServer()
        let cases: [(String, String)] = [
            (#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#, "Invalid params: name must be a string"),
            (#"{"jsonrpc":"2.0","id":4,"method":"tools/call"}"#, "Invalid params: name must be a string"),
            (#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":[1]}}"#, "Invalid params: arguments must be an object"),
            (#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":[1]}"#, "Invalid params: params must be an object"),
        ]
        for (body, message) in cases {
            let r = complete(post(server, body))
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.json?["id"], 4)
            XCTAssertEqual(r.json?["error"]?["code"], -32602)
            XCTAssertEqual(r.json?["error"]?["message"]?.stringValue, message)
        }
        // Missing arguments is fine: echo then reports its own error.
        let noArguments = complete(post(server, #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo"}}"#))
        XCTAssertEqual(noArguments.json?["result"]?["isError"], true)
    }

    // MARK: slow

    func testSlowOverSSESendsProgressEveryIntervalThenTheResult() throws {
        let server = DemoMCPServer()
        let response = call(server, "slow", #"{"steps":3,"interval_ms":200}"#, id: 11, meta: #"{"progressToken":"tok-1"}"#)
        guard case .stream(let status, let headers, let events) = response else { return XCTFail("\(response)") }
        XCTAssertEqual(status, 200)
        XCTAssertEqual(headers.first(name: "Content-Type"), "text/event-stream")
        XCTAssertEqual(headers.first(name: "Cache-Control"), "no-cache")
        XCTAssertEqual(headers.first(name: "Transfer-Encoding"), "chunked")
        XCTAssertNil(headers.first(name: "Content-Length"))
        XCTAssertEqual(events.map(\.delayMilliseconds), [200, 200, 200, 0])
        let messages = sseMessages(events)
        XCTAssertEqual(messages.count, 4)
        for (k, message) in messages.prefix(3).enumerated() {
            XCTAssertEqual(message["method"], "notifications/progress")
            XCTAssertNil(message["id"])
            XCTAssertEqual(message["params"]?["progressToken"], "tok-1")
            XCTAssertEqual(message["params"]?["progress"]?.intValue, k + 1)
            XCTAssertEqual(message["params"]?["total"], 3)
            XCTAssertEqual(message["params"]?["message"]?.stringValue, "step \(k + 1) of 3")
        }
        XCTAssertEqual(messages.last?["id"], 11)
        XCTAssertEqual(messages.last?["result"]?["content"]?[0]?["text"], "slow: finished 3 steps")
    }

    func testSlowDefaultsAndNumericProgressToken() {
        let server = DemoMCPServer()
        guard case .stream(_, _, let events) = call(server, "slow", "{}", meta: #"{"progressToken":42}"#) else { return XCTFail() }
        XCTAssertEqual(events.map(\.delayMilliseconds), [500, 500, 500, 500, 500, 0])
        let messages = sseMessages(events)
        XCTAssertEqual(messages.first?["params"]?["progressToken"], 42, "the token as sent, a number")
        XCTAssertEqual(messages.first?["params"]?["total"], 5)
    }

    func testSlowOverSSEWithoutATokenSendsOnlyTheResultAfterTheWholeDelay() {
        let server = DemoMCPServer()
        for meta in [nil, "{}", #"{"progressToken":null}"#, #"{"progressToken":{"x":1}}"#] {
            guard case .stream(_, _, let events) = call(server, "slow", #"{"steps":2,"interval_ms":10}"#, meta: meta) else { return XCTFail() }
            XCTAssertEqual(events.map(\.delayMilliseconds), [20], meta ?? "no _meta")
            XCTAssertEqual(sseMessages(events).first?["id"], 5)
        }
    }

    func testSlowWithoutEventStreamAnswersOneJSONBodyAfterTheTotalDelay() {
        let server = DemoMCPServer()
        for headers in [jsonAccept, [], [("Accept", "*/*")], [("Accept", "text/event-streamx")]] {
            let response = call(server, "slow", #"{"steps":4,"interval_ms":25}"#, meta: #"{"progressToken":"t"}"#, headers: headers)
            guard case .stream(let status, let fields, let events) = response else { return XCTFail("\(response)") }
            XCTAssertEqual(status, 200)
            XCTAssertEqual(fields.first(name: "Content-Type"), "application/json")
            XCTAssertEqual(fields.first(name: "Transfer-Encoding"), "chunked")
            XCTAssertEqual(events.count, 1)
            XCTAssertEqual(events.first?.delayMilliseconds, 100)
            let json = try? JSONReader.parse(events.first?.bytes ?? [])
            XCTAssertEqual(json?["id"], 5)
            XCTAssertEqual(json?["result"]?["content"]?[0]?["text"], "slow: finished 4 steps")
        }
    }

    func testAcceptHeaderParsing() {
        let server = DemoMCPServer()
        for accept in ["text/event-stream", "application/json;q=0.9, TEXT/Event-Stream ;q=1", "application/json,text/event-stream"] {
            guard case .stream(_, let headers, _) = call(server, "slow", #"{"steps":1,"interval_ms":0}"#, headers: [("accept", accept)]) else { return XCTFail() }
            XCTAssertEqual(headers.first(name: "Content-Type"), "text/event-stream", accept)
        }
        // Other methods answer JSON even to an SSE-capable client.
        XCTAssertEqual(complete(call(server, "echo", #"{"text":"a"}"#)).headers.first(name: "Content-Type"), "application/json")
    }

    // MARK: Errors

    func testUnknownMethodAndServerDiscoverAreMethodNotFound() {
        let server = DemoMCPServer()
        for method in ["resources/list", "server/discover", "prompts/get"] {
            let headers = bothAccept + [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", method)]
            let r = complete(post(server, #"{"jsonrpc":"2.0","id":"x","method":"\#(method)","params":{}}"#, headers: headers))
            XCTAssertEqual(r.status, 200, method)
            XCTAssertEqual(String(decoding: r.body, as: UTF8.self), #"{"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"Method not found"}}"#)
        }
    }

    func testBadJSONIs400ParseError() {
        let server = DemoMCPServer()
        for body in ["{", "", #"{"jsonrpc":"2.0","id":1,"method":"ping","method":"x"}"#, "[1,]", "\u{FEFF}{}"] {
            let r = complete(post(server, body))
            XCTAssertEqual(r.status, 400, body)
            XCTAssertEqual(r.headers.first(name: "Content-Type"), "application/json")
            XCTAssertEqual(r.json?["id"], .null)
            XCTAssertEqual(r.json?["error"]?["code"], -32700)
            XCTAssertEqual(r.json?["error"]?["message"], "Parse error")
        }
        let invalidUTF8 = server.handle(method: "POST", target: "/mcp", headers: bothAccept, body: [0x22, 0xFF, 0x22])
        XCTAssertEqual(complete(invalidUTF8).json?["error"]?["code"], -32700)
    }

    func testInvalidRequestsAre400() {
        let server = DemoMCPServer()
        let cases: [(String, JSONValue, String)] = [
            (#"{"id":1,"method":"ping"}"#, 1, "Invalid Request"),
            (#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, 1, "Invalid Request"),
            (#"{"jsonrpc":"2.0","id":1,"method":7}"#, 1, "Invalid Request"),
            (#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, nil, "Invalid Request"),
            (#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, nil, "Invalid Request"),
            (#"{"jsonrpc":"2.0","id":1}"#, 1, "Invalid Request"),
            (#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, nil, "Batch requests are not supported"),
            (#""ping""#, nil, "Invalid Request"),
        ]
        for (body, id, message) in cases {
            let r = complete(post(server, body))
            XCTAssertEqual(r.status, 400, body)
            XCTAssertEqual(r.json?["id"], id, body)
            XCTAssertEqual(r.json?["error"]?["code"], -32600, body)
            XCTAssertEqual(r.json?["error"]?["message"]?.stringValue, message, body)
        }
    }

    // MARK: Sessions, methods, paths

    func testSessionLifecycle() {
        let server = DemoMCPServer()
        let session = initialize(server)
        let withSession = bothAccept + [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25")]
        XCTAssertEqual(complete(post(server, #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, headers: withSession)).status, 200)
        // Unsupported protocol version header after initialization.
        let badVersion = complete(post(server, #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, headers: bothAccept + [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2099-01-01")]))
        XCTAssertEqual(badVersion.status, 400)
        XCTAssertEqual(badVersion.json?["error"]?["message"], "Unsupported protocol version: 2099-01-01")
        // DELETE ends it; the session is then unknown.
        let deleted = complete(server.handle(method: "DELETE", target: "/mcp", headers: [("Mcp-Session-Id", session)], body: []))
        XCTAssertEqual(deleted.status, 200)
        XCTAssertEqual(server.sessionCount, 0)
        let after = complete(post(server, #"{"jsonrpc":"2.0","id":7,"method":"ping"}"#, headers: withSession))
        XCTAssertEqual(after.status, 404)
        XCTAssertEqual(after.json?["id"], 7)
        XCTAssertEqual(after.json?["error"]?["message"], "Session not found")
        XCTAssertEqual(complete(post(server, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, headers: withSession)).status, 404)
        XCTAssertEqual(complete(server.handle(method: "DELETE", target: "/mcp", headers: [("mcp-session-id", session)], body: [])).status, 404)
        // A session this server never issued.
        XCTAssertEqual(complete(post(server, #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, headers: [("Mcp-Session-Id", "forged")])).status, 404)
        // initialize ignores a stale session header and issues a new one.
        let fresh = complete(post(server, #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#, headers: withSession))
        XCTAssertEqual(fresh.status, 200)
        XCTAssertNotEqual(fresh.headers.first(name: "Mcp-Session-Id"), session)
        // DELETE without a session header: nothing to end.
        XCTAssertEqual(complete(server.handle(method: "DELETE", target: "/mcp", headers: [], body: [])).status, 200)
    }

    func testSessionsAreBounded() {
        let server = DemoMCPServer()
        let first = initialize(server)
        for _ in 0..<DemoMCPServer.maxSessions { _ = initialize(server) }
        XCTAssertEqual(server.sessionCount, DemoMCPServer.maxSessions)
        XCTAssertEqual(complete(post(server, #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, headers: [("Mcp-Session-Id", first)])).status, 404, "the oldest was forgotten")
    }

    func testGetAndOtherMethodsAre405WithAllow() {
        let server = DemoMCPServer()
        for method in ["GET", "PUT", "PATCH", "HEAD", "OPTIONS"] {
            let r = complete(server.handle(method: method, target: "/mcp", headers: [("Accept", "text/event-stream")], body: []))
            XCTAssertEqual(r.status, 405, method)
            XCTAssertEqual(r.headers.first(name: "Allow"), "POST, DELETE")
        }
    }

    func testOtherPathsAre404() {
        let server = DemoMCPServer()
        for target in ["/", "/mcp/", "/mcpx", "/sse", "/MCP"] {
            let r = complete(server.handle(method: "POST", target: target, headers: [], body: Array(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.utf8)))
            XCTAssertEqual(r.status, 404, target)
            XCTAssertEqual(r.json?["error"], "Not found")
        }
        // A query string does not change the path; a custom path works.
        XCTAssertEqual(complete(post(server, #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, target: "/mcp?x=1")).status, 200)
        let custom = DemoMCPServer(path: "/rpc")
        XCTAssertEqual(complete(post(custom, #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, target: "/rpc")).status, 200)
        XCTAssertEqual(complete(post(custom, #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)).status, 404)
    }

    func testHTTPHeadersOverloadAndResponseAccessors() {
        let server = DemoMCPServer()
        let response = server.handle(method: "POST", target: "/mcp", headers: HTTPHeaders([("Accept", "application/json")]), body: Array(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.utf8))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers.first(name: "Content-Type"), "application/json")
    }
}
