import GatehouseHTTP
import GatehouseJSON
import XCTest

@testable import GatehousePolicy

/// Shared helpers for the MCP inspection tests.
class MCPInspectionTestCase: XCTestCase {
    let admin = Principal(name: "alice", kind: .apiKey, permissions: ["*"])
    let caller = Principal(name: "bob", kind: .apiKey, permissions: ["tools:call"])
    let reader = Principal(name: "carol", kind: .jwt, permissions: ["tools/call:read_*"])

    func inspector(_ settings: MCPInspectionSettings = MCPInspectionSettings()) -> MCPInspector {
        MCPInspector(settings: settings)
    }

    func decide(
        _ body: String, settings: MCPInspectionSettings = MCPInspectionSettings(), headers: HTTPHeaders = [:],
        principal: Principal? = nil, using given: MCPInspector? = nil
    ) -> MCPDecision {
        (given ?? inspector(settings)).inspect(
            body: Array(body.utf8), headers: headers, principal: principal ?? admin, requestID: "r1",
            ipAddress: "10.0.0.1", userAgent: "test")
    }

    /// Asserts a rejection with exactly this status and JSON-RPC body; returns it for more checks.
    @discardableResult
    func assertRejected(
        _ body: String, status: Int, expectedBody: String, settings: MCPInspectionSettings = MCPInspectionSettings(),
        headers: HTTPHeaders = [:], principal: Principal? = nil, using given: MCPInspector? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) -> Rejection? {
        let decision = decide(body, settings: settings, headers: headers, principal: principal, using: given)
        guard let rejection = decision.rejection else {
            XCTFail("forwarded: \(body)", file: file, line: line)
            return nil
        }
        XCTAssertEqual(rejection.status, status, file: file, line: line)
        XCTAssertEqual(
            String(decoding: rejection.body(requestID: "r1"), as: UTF8.self), expectedBody, file: file, line: line)
        return rejection
    }

    /// The JSON-RPC error body of §4 for request `r1`.
    func errorBody(id: String, code: Int, message: String, details: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"error":{"code":\#(code),"message":"\#(message)","data":{"details":\#(details),"request_id":"r1"}}}"#
    }

    func validationFailed(id: String, field: String, error: String, index: Int? = nil) -> String {
        let indexPart = index.map { #""index":"\#($0)","# } ?? ""
        return errorBody(
            id: id, code: -32602, message: "Validation failed",
            details: #"{\#(indexPart)"field":"\#(field)","error":"\#(error)"}"#)
    }

    func invalidRequest(id: String, field: String, error: String, index: Int? = nil) -> String {
        let indexPart = index.map { #""index":"\#($0)","# } ?? ""
        return errorBody(
            id: id, code: -32600, message: "Invalid Request",
            details: #"{\#(indexPart)"field":"\#(field)","error":"\#(error)"}"#)
    }

    func assertValidationEvent(
        _ rejection: Rejection?, code: Int, field: String?, file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let event = rejection?.securityEvent, case .security(let severity, let kind, let details) = event.payload
        else { return XCTFail("no security event", file: file, line: line) }
        XCTAssertEqual(severity, .medium, file: file, line: line)
        XCTAssertEqual(kind, "validation_failed", file: file, line: line)
        XCTAssertEqual(details.first { $0.0 == "code" }?.1, .int(Int64(code)), file: file, line: line)
        if let field { XCTAssertEqual(details.first { $0.0 == "field" }?.1, .string(field), file: file, line: line) }
        XCTAssertEqual(event.requestID, "r1", file: file, line: line)
        XCTAssertEqual(event.ipAddress, "10.0.0.1", file: file, line: line)
        XCTAssertEqual(event.userAgent, "test", file: file, line: line)
    }

    func call(_ tool: String, arguments: String = "{}", id: String = "1") -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":\#(arguments)}}"#
    }
}

/// §6.1–6.3: parsing, JSON-RPC shape and `tools/call` validation, with the exact answers.
final class MCPInspectorTests: MCPInspectionTestCase {
    // MARK: Passing messages

    func testValidCallForwardsOriginalBytes() {
        let decision = decide(call("echo", arguments: #"{"text":"hi"}"#, id: "7"))
        guard case .forward(let rewritten, let info) = decision else { return XCTFail("rejected") }
        XCTAssertNil(rewritten)
        XCTAssertEqual(info.rpcMethod, "tools/call")
        XCTAssertEqual(info.tool, "echo")
        XCTAssertEqual(info.callTimeoutTool, "echo")
        XCTAssertEqual(info.calledTools, ["echo"])
        XCTAssertEqual(info.ids, ["7"])
        XCTAssertEqual(info.resource, "tools/call:echo")
        XCTAssertTrue(info.hasRequests)
        XCTAssertFalse(info.isBatch)
        XCTAssertFalse(info.expectsToolsList)
        XCTAssertEqual(info.accessEvents.count, 1)
        guard case .access(let resource, let action, let user, let allowed)? = info.accessEvents.first?.payload else {
            return XCTFail("no access event")
        }
        XCTAssertEqual(resource, "tools/call:echo")
        XCTAssertEqual(action, "tools/call")
        XCTAssertEqual(user, "alice")
        XCTAssertTrue(allowed)
        XCTAssertEqual(info.accessEvents.first?.requestID, "r1")
    }

    func testStringIDIsKeptAsJSONText() {
        let info = decide(#"{"jsonrpc":"2.0","id":"a\"b","method":"tools/list"}"#).info
        XCTAssertEqual(info.ids, [#""a\"b""#])
        XCTAssertEqual(info.toolsListIDs, [#""a\"b""#])
        XCTAssertTrue(info.expectsToolsList)
        XCTAssertNil(decide(#"{"jsonrpc":"2.0","id":1.50,"method":"ping"}"#).rejection)
        XCTAssertEqual(decide(#"{"jsonrpc":"2.0","id":1.50,"method":"ping"}"#).info.ids, ["1.50"])
    }

    func testNotificationPasses() {
        let decision = decide(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        guard case .forward(nil, let info) = decision else { return XCTFail("rejected") }
        XCTAssertFalse(info.hasRequests)
        XCTAssertEqual(info.ids, [])
        XCTAssertEqual(info.rpcMethod, "notifications/initialized")
        XCTAssertEqual(info.accessEvents.count, 1)
    }

    func testClientResponsesPass() {
        for body in [
            #"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            #"{"jsonrpc":"2.0","id":"s-1","result":{"action":"accept"}}"#,
            #"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no"}}"#,
            #"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}}"#,
        ] {
            let decision = decide(body)
            guard case .forward(nil, let info) = decision else {
                XCTFail("rejected: \(body)")
                continue
            }
            XCTAssertFalse(info.hasRequests)
            XCTAssertNil(info.rpcMethod)
            XCTAssertTrue(info.accessEvents.isEmpty)
        }
    }

    func testParamsMayBeAnArrayOutsideToolsCall() {
        XCTAssertNil(decide(#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1,2]}"#).rejection)
    }

    func testArgumentsMayBeMissingUnlessRequired() {
        XCTAssertNil(decide(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#).rejection)
    }

    // MARK: -32700

    func testNotJSON() {
        let rejection = assertRejected(
            "hello", status: 400,
            expectedBody: errorBody(
                id: "null", code: -32700, message: "Parse error", details: #"{"error":"unexpected 'h' at byte 0"}"#))
        assertValidationEvent(rejection, code: -32700, field: nil)
    }

    func testEmptyBody() {
        assertRejected(
            "", status: 400,
            expectedBody: errorBody(
                id: "null", code: -32700, message: "Parse error", details: #"{"error":"empty document at byte 0"}"#))
    }

    func testTooDeep() {
        var settings = MCPInspectionSettings()
        settings.maxJSONDepth = 2
        let body = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":1}}}"#
        assertRejected(
            body, status: 400,
            expectedBody: errorBody(
                id: "null", code: -32700, message: "Parse error",
                details: #"{"error":"nesting deeper than 2 at byte 79"}"#),
            settings: settings)
        settings.maxJSONDepth = 3
        XCTAssertNil(decide(body, settings: settings).rejection)
    }

    func testBadUTF8() {
        var bytes = Array(call("echo", arguments: #"{"t":"ab"}"#).utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "b"))!  // the body holds a "b" in "ab"
        bytes[at] = 0xC0
        let rejection = inspector().inspect(body: bytes, headers: [:], principal: admin, requestID: "r1").rejection
        XCTAssertEqual(rejection?.status, 400)
        guard case .jsonRPC(let id, let code, _)? = rejection?.bodyKind else { return XCTFail("not JSON-RPC") }
        XCTAssertNil(id)
        XCTAssertEqual(code, -32700)
    }

    func testDuplicateKeys() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#, status: 400,
            expectedBody: errorBody(
                id: "null", code: -32700, message: "Parse error",
                details: #"{"error":"duplicate key \"method\" at byte 40"}"#))
    }

    // MARK: -32600

    func testJSONRPCMissing() {
        let rejection = assertRejected(
            #"{"id":5,"method":"ping"}"#, status: 400,
            expectedBody: invalidRequest(id: "5", field: "jsonrpc", error: #"must be \"2.0\""#))
        assertValidationEvent(rejection, code: -32600, field: "jsonrpc")
    }

    func testJSONRPCWrongVersion() {
        assertRejected(
            #"{"jsonrpc":"1.0","id":"x","method":"ping"}"#, status: 400,
            expectedBody: invalidRequest(id: #""x""#, field: "jsonrpc", error: #"must be \"2.0\""#))
        assertRejected(
            #"{"jsonrpc":2.0,"id":1,"method":"ping"}"#, status: 400,
            expectedBody: invalidRequest(id: "1", field: "jsonrpc", error: #"must be \"2.0\""#))
    }

    func testMethodNotAString() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":1,"method":7}"#, status: 400,
            expectedBody: invalidRequest(id: "1", field: "method", error: "must be a string"))
    }

    func testRequestIDNull() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, status: 400,
            expectedBody: invalidRequest(id: "null", field: "id", error: "must be a string or a number"))
    }

    func testRequestIDBool() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, status: 400,
            expectedBody: invalidRequest(id: "null", field: "id", error: "must be a string or a number"))
    }

    func testRequestIDObject() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, status: 400,
            expectedBody: invalidRequest(id: "null", field: "id", error: "must be a string or a number"))
    }

    func testRequestIDArray() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#, status: 400,
            expectedBody: invalidRequest(id: "null", field: "id", error: "must be a string or a number"))
    }

    func testParamsScalar() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#, status: 400,
            expectedBody: invalidRequest(id: "1", field: "params", error: "must be an object or an array"))
    }

    func testNeitherMethodNorResult() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":1}"#, status: 400,
            expectedBody: invalidRequest(id: "1", field: "method", error: "required"))
    }

    func testResponseWithResultAndError() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}"#, status: 400,
            expectedBody: invalidRequest(
                id: "1", field: "result", error: "a response has a result or an error, not both"))
    }

    func testResponseWithoutID() {
        assertRejected(
            #"{"jsonrpc":"2.0","result":{}}"#, status: 400,
            expectedBody: invalidRequest(id: "null", field: "id", error: "required in a response"))
    }

    func testResponseErrorNotAnObject() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":2,"error":"boom"}"#, status: 400,
            expectedBody: invalidRequest(id: "2", field: "error", error: "must be an object"))
    }

    func testTopLevelScalar() {
        assertRejected(
            "42", status: 400,
            expectedBody: invalidRequest(id: "null", field: "message", error: "expected a JSON-RPC object or array"))
        assertRejected(
            #""tools/call""#, status: 400,
            expectedBody: invalidRequest(id: "null", field: "message", error: "expected a JSON-RPC object or array"))
    }

    func testEmptyBatch() {
        let rejection = assertRejected(
            "[]", status: 400, expectedBody: invalidRequest(id: "null", field: "batch", error: "an empty batch"))
        XCTAssertEqual(decide("[]").info.isBatch, true)
        assertValidationEvent(rejection, code: -32600, field: "batch")
    }

    func testBatchWhenNotAllowed() {
        var settings = MCPInspectionSettings()
        settings.allowBatches = false
        assertRejected(
            "[" + call("echo") + "]", status: 400,
            expectedBody: invalidRequest(id: "null", field: "batch", error: "batches are not allowed"),
            settings: settings)
    }

    func testBatchElementInvalid() {
        let body = "[" + call("echo") + #",{"jsonrpc":"2.0","id":"b","method":false}]"#
        assertRejected(
            body, status: 400,
            expectedBody: invalidRequest(id: #""b""#, field: "method", error: "must be a string", index: 1))
    }

    func testBatchElementNotAnObject() {
        assertRejected(
            "[" + call("echo") + ",[]]", status: 400,
            expectedBody: invalidRequest(id: "null", field: "message", error: "expected a JSON-RPC object", index: 1))
    }

    // MARK: -32602 (tools/call)

    func testToolCallWithoutParams() {
        let rejection = assertRejected(
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#, status: 400,
            expectedBody: validationFailed(id: "1", field: "params.name", error: "required"))
        assertValidationEvent(rejection, code: -32602, field: "params.name")
    }

    func testToolCallParamsNotAnObject() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["echo"]}"#, status: 400,
            expectedBody: validationFailed(id: "1", field: "params", error: "must be an object"))
    }

    func testToolNameMissing() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#, status: 400,
            expectedBody: validationFailed(id: "1", field: "params.name", error: "required"))
    }

    func testToolNameNotAString() {
        assertRejected(
            #"{"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"name":["echo"]}}"#, status: 400,
            expectedBody: validationFailed(id: #""q""#, field: "params.name", error: "must be a string"))
    }

    func testToolNameBreaksPattern() {
        for name in ["rm -rf", "../etc", "", "caf\u{e9}", "echo.v2"] {
            assertRejected(
                call(name), status: 400,
                expectedBody: validationFailed(
                    id: "1", field: "params.name", error: "must match the pattern ^[a-zA-Z0-9_-]+$"))
        }
    }

    func testToolNameWithTrailingNewline() {
        // A regex `$` would accept "echo\n"; the gateway does not.
        assertRejected(
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo\n"}}"#, status: 400,
            expectedBody: validationFailed(
                id: "1", field: "params.name", error: "must match the pattern ^[a-zA-Z0-9_-]+$"))
    }

    func testCustomToolNamePattern() throws {
        var settings = MCPInspectionSettings()
        settings.toolNamePattern = try MCPToolNameMatcher(pattern: #"^[a-z]+(\.[a-z]+)*$"#)
        XCTAssertNil(decide(call("fs.read"), settings: settings).rejection)
        assertRejected(
            call("FS"), status: 400,
            expectedBody: validationFailed(
                id: "1", field: "params.name", error: #"must match the pattern ^[a-z]+(\\.[a-z]+)*$"#),
            settings: settings)
        settings.toolNamePattern = MCPToolNameMatcher(predicate: { $0.hasPrefix("ok_") })
        XCTAssertNil(decide(call("ok_x"), settings: settings).rejection)
        XCTAssertNotNil(decide(call("no_x"), settings: settings).rejection)
        XCTAssertThrowsError(try MCPToolNameMatcher(pattern: "(unclosed"))
    }

    func testArgumentsNotAnObject() {
        for arguments in [#""text""#, "[1]", "null", "3"] {
            assertRejected(
                call("echo", arguments: arguments), status: 400,
                expectedBody: validationFailed(id: "1", field: "params.arguments", error: "must be an object"))
        }
    }

    func testArgumentsRequired() {
        var settings = MCPInspectionSettings()
        settings.requireArguments = true
        assertRejected(
            #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo"}}"#, status: 400,
            expectedBody: validationFailed(id: "9", field: "params.arguments", error: "required"), settings: settings)
        XCTAssertNil(decide(call("echo"), settings: settings).rejection)
    }

    func testToolCallNotificationIsValidatedToo() {
        assertRejected(
            #"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a b"}}"#, status: 400,
            expectedBody: validationFailed(
                id: "null", field: "params.name", error: "must match the pattern ^[a-zA-Z0-9_-]+$"))
    }

    // MARK: Batches

    func testBatchOfValidMessages() {
        let body =
            "[" + call("echo", id: "1") + "," + #"{"jsonrpc":"2.0","method":"notifications/x"}"# + ","
            + #"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"# + "," + call("add", id: "3") + ","
            + #"{"jsonrpc":"2.0","id":77,"result":{}}"# + "]"
        guard case .forward(nil, let info) = decide(body) else { return XCTFail("rejected") }
        XCTAssertTrue(info.isBatch)
        XCTAssertTrue(info.hasRequests)
        XCTAssertEqual(info.ids, ["1", #""l""#, "3"])
        XCTAssertEqual(info.toolsListIDs, [#""l""#])
        XCTAssertEqual(info.calledTools, ["echo", "add"])
        XCTAssertEqual(info.rpcMethod, "tools/call")
        XCTAssertEqual(info.accessEvents.count, 4)
    }

    func testBatchOfOnlyNotificationsAndResponses() {
        let body = #"[{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":1,"result":{}}]"#
        guard case .forward(nil, let info) = decide(body) else { return XCTFail("rejected") }
        XCTAssertFalse(info.hasRequests)
    }

    func testBatchFirstFailingElementDecides() {
        let body = "[" + call("echo", id: "1") + "," + call("bad name", id: "2") + "," + call("x y", id: "3") + "]"
        assertRejected(
            body, status: 400,
            expectedBody: validationFailed(
                id: "2", field: "params.name", error: "must match the pattern ^[a-zA-Z0-9_-]+$", index: 1))
    }

    func testBatchShapeIsCheckedBeforePermissions() {
        // Element 0 would be refused a permission, element 1 is malformed: the malformed one decides.
        let body = "[" + call("delete_all", id: "1") + #",{"jsonrpc":"2.0","id":2}]"#
        assertRejected(
            body, status: 400, expectedBody: invalidRequest(id: "2", field: "method", error: "required", index: 1),
            principal: caller)
    }

    func testInfoIsFilledOnRejection() {
        let decision = decide("[" + call("echo", id: "4") + "," + call("a b", id: "5") + "]")
        XCTAssertNotNil(decision.rejection)
        XCTAssertEqual(decision.info.ids, ["4", "5"])
        XCTAssertTrue(decision.info.isBatch)
        XCTAssertEqual(decision.info.rpcMethod, "tools/call")
    }

    /// The header gathering keeps every value of a repeated header, in order, with the first inline.
    func testHeaderFieldsKeepEveryValueInOrder() {
        let none = MCPHeaderFields(["Content-Type": "application/json"])
        XCTAssertTrue(none.sessionIDs.isEmpty)
        XCTAssertNil(none.sessionIDs.first)
        XCTAssertEqual(Array(none.sessionIDs), [])
        let headers = HTTPHeaders([
            ("MCP-SESSION-ID", "s1"), ("Mcp-Method", "tools/call"), ("mcp-session-id", "s2"), ("Mcp-Name", "echo"),
            ("Mcp-Session-Id", "s3"), ("Mcp-Session-Idx", "no"), ("Mcp-Names", "no"),
        ])
        let fields = MCPHeaderFields(headers)
        XCTAssertEqual(fields.sessionIDs.first, "s1")
        XCTAssertEqual(Array(fields.sessionIDs), ["s1", "s2", "s3"])
        XCTAssertEqual(Array(fields.methods), ["tools/call"])
        XCTAssertEqual(Array(fields.names), ["echo"])
        var iterator = fields.methods.makeIterator()
        XCTAssertEqual(iterator.next(), "tools/call")
        XCTAssertNil(iterator.next())
        XCTAssertNil(iterator.next())
    }

    func testSmallListReadsLikeAnArray() {
        var list = SmallList<String>()
        XCTAssertTrue(list.isEmpty)
        XCTAssertNil(list.first)
        XCTAssertEqual(list, [])
        XCTAssertEqual(list.description, "[]")
        for (k, text) in ["a", "b", "c"].enumerated() {
            list.append(text)
            XCTAssertEqual(list.count, k + 1)
            XCTAssertEqual(list.last, text)
        }
        XCTAssertEqual(Array(list), ["a", "b", "c"])
        XCTAssertEqual(list, ["a", "b", "c"])
        XCTAssertNotEqual(list, ["a", "b"])
        XCTAssertEqual(list[1], "b")
        XCTAssertEqual(list.description, #"["a", "b", "c"]"#)
        XCTAssertEqual(Array(list.reversed()), ["c", "b", "a"])
    }

    /// A batch of one takes the array path, a lone message the single-message path: same verdicts.
    func testLoneMessageAndBatchOfOneAgree() {
        let bodies = [
            call("echo"), call("a b"), call("delete_all"), #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","id":"x","method":"tools/list"}"#, #"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            #"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, call("echo", arguments: #"{"t":"<script>x</script>"}"#),
        ]
        for mode in [SanitizeMode.off, .reject, .escape] {
            var settings = MCPInspectionSettings()
            settings.sanitize = mode
            for body in bodies {
                let lone = decide(body, settings: settings, principal: caller)
                let batch = decide("[" + body + "]", settings: settings, principal: caller)
                XCTAssertEqual(lone.rejection?.status, batch.rejection?.status, body)
                XCTAssertEqual(lone.info.ids, batch.info.ids, body)
                XCTAssertEqual(lone.info.rpcMethod, batch.info.rpcMethod, body)
                XCTAssertEqual(lone.info.calledTools, batch.info.calledTools, body)
                XCTAssertEqual(lone.info.resource, batch.info.resource, body)
                XCTAssertEqual(lone.info.accessEvents.count, batch.info.accessEvents.count, body)
                if case .forward(let loneBody, _) = lone, case .forward(let batchBody, _) = batch {
                    XCTAssertEqual(batchBody, loneBody.map { [UInt8(ascii: "[")] + $0 + [UInt8(ascii: "]")] }, body)
                }
            }
        }
    }
}
