import GatehouseHTTP
import GatehouseJSON
import XCTest

@testable import GatehousePolicy

/// §6.5 filter_tools_list and §6.7 pins on upstream answers, JSON and SSE.
final class MCPResponseFilterTests: MCPInspectionTestCase {
    let list =
        #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","inputSchema":{}},{"name":"delete_user","inputSchema":{}},{"name":"read_file","inputSchema":{}}],"nextCursor":"p2"}}"#

    func text(_ bytes: [UInt8]?) -> String? {
        bytes.map { String(decoding: $0, as: UTF8.self) }
    }

    func filter(
        _ body: String, ids: [String] = ["2"], principal: Principal?,
        rules: AuthorizationRules? = MCPInspectionSettings.defaultRules,
        pins: ToolPins? = nil, mode: PinMode = .off
    ) -> MCPResponseRewrite {
        MCPResponseFilter.filterToolsList(
            body: Array(body.utf8), requestIDs: ids, principal: principal, rules: rules, pins: pins, pinMode: mode,
            requestID: "r1")
    }

    func testToolsTheCallerMayNotCallAreRemoved() {
        XCTAssertEqual(
            text(filter(list, principal: caller).body),
            #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","inputSchema":{}},{"name":"read_file","inputSchema":{}}],"nextCursor":"p2"}}"#
        )
        XCTAssertEqual(
            text(filter(list, principal: reader).body),
            #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"read_file","inputSchema":{}}],"nextCursor":"p2"}}"#)
        XCTAssertEqual(
            text(filter(list, principal: Principal(name: "n", kind: .apiKey, permissions: [])).body),
            #"{"jsonrpc":"2.0","id":2,"result":{"tools":[],"nextCursor":"p2"}}"#)
    }

    func testNothingRemovedMeansUnchanged() {
        XCTAssertNil(filter(list, principal: admin).body)
        XCTAssertNil(filter(list, principal: caller, rules: nil).body)
    }

    func testOnlyMatchingIDsAreRewritten() {
        XCTAssertNil(filter(list, ids: ["3"], principal: caller).body)
        XCTAssertNil(filter(list, ids: [#""2""#], principal: caller).body)
        XCTAssertNil(filter(list, ids: [], principal: caller).body)
        let stringID = list.replacingOccurrences(of: #""id":2"#, with: #""id":"a\u0062""#)
        XCTAssertNotNil(filter(stringID, ids: [#""ab""#], principal: caller).body)
    }

    func testOtherAnswersPass() {
        for body in [
            "not json", #"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"x"}}"#,
            #"{"jsonrpc":"2.0","id":2,"result":{"tools":"none"}}"#, #"{"jsonrpc":"2.0","id":2,"result":{}}"#,
            #"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#, "[1,2]", "7",
        ] {
            XCTAssertNil(filter(body, principal: reader).body, body)
        }
    }

    func testBatchAnswer() {
        let body = "[" + #"{"jsonrpc":"2.0","id":1,"result":{}}"# + "," + list + "]"
        XCTAssertEqual(
            text(filter(body, principal: reader).body),
            #"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"read_file","inputSchema":{}}],"nextCursor":"p2"}}]"#
        )
    }

    func testNamelessToolsAreDroppedWhenFiltering() {
        let body = #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"description":"?"},{"name":"echo"}]}}"#
        XCTAssertEqual(
            text(filter(body, principal: admin).body), #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"}]}}"#
        )
    }

    func testSSEEventData() {
        let rewrite = MCPResponseFilter.filterSSEEventData(
            list, requestIDs: ["2"], principal: caller, rules: MCPInspectionSettings.defaultRules, pins: nil,
            pinMode: .off, requestID: "r1")
        XCTAssertEqual(
            text(rewrite.body),
            #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","inputSchema":{}},{"name":"read_file","inputSchema":{}}],"nextCursor":"p2"}}"#
        )
        // Through the real SSE parser and back.
        var parser = SSEParser()
        let events = parser.feed(Array("event: message\r\nid: 9\r\ndata: \(list)\r\n\r\n".utf8))
        XCTAssertEqual(events.count, 1)
        let inspector = inspector()
        let info = decide(#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, using: inspector).info
        let filtered = inspector.filterSSEEventData(
            events[0].event.data, info: info, principal: reader, requestID: "r1")
        let framed = MCPResponseFilter.frameSSEEvent(events[0].event, data: filtered.body ?? [])
        XCTAssertEqual(
            text(framed),
            "event: message\r\nid: 9\r\ndata: "
                + #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"read_file","inputSchema":{}}],"nextCursor":"p2"}}"#
                + "\r\n\r\n")
        var again = SSEParser()
        XCTAssertEqual(again.feed(framed).first?.event.data, text(filtered.body))
        XCTAssertEqual(
            text(MCPResponseFilter.frameSSEEvent(SSEEvent(event: "message"), data: Array("a\nb".utf8))),
            "event: message\r\ndata: a\r\ndata: b\r\n\r\n")
    }

    func testInspectorFilterFollowsSettings() {
        let inspector = inspector()
        let info = decide(#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, using: inspector).info
        XCTAssertNotNil(
            inspector.filterResponse(body: Array(list.utf8), info: info, principal: caller, requestID: "r1").body)
        // A call's answer is never filtered.
        let callInfo = decide(call("echo", id: "2"), using: inspector).info
        XCTAssertNil(
            inspector.filterResponse(body: Array(list.utf8), info: callInfo, principal: caller, requestID: "r1").body)
        var settings = MCPInspectionSettings()
        settings.filterToolsList = false
        let unfiltered = MCPInspector(settings: settings)
        XCTAssertNil(
            unfiltered.filterResponse(body: Array(list.utf8), info: info, principal: caller, requestID: "r1").body)
        XCTAssertFalse(unfiltered.shouldFilterResponse(for: info))
        settings.pinTools = .warn
        XCTAssertTrue(MCPInspector(settings: settings).shouldFilterResponse(for: info))
        XCTAssertTrue(inspector.shouldFilterResponse(for: info))
        XCTAssertFalse(inspector.shouldFilterResponse(for: callInfo))
    }

    func testPinsWarnLogsAndKeeps() {
        let pins = ToolPins()
        XCTAssertTrue(filter(list, principal: admin, pins: pins, mode: .warn).events.isEmpty)
        let changed = list.replacingOccurrences(
            of: #"{"name":"echo","inputSchema":{}}"#, with: #"{"name":"echo","description":"new","inputSchema":{}}"#)
        let rewrite = filter(changed, principal: admin, pins: pins, mode: .warn)
        XCTAssertNil(rewrite.body)
        XCTAssertEqual(rewrite.events.count, 1)
        guard case .security(let severity, let kind, let details)? = rewrite.events.first?.payload else {
            return XCTFail("no event")
        }
        XCTAssertEqual(severity, .medium)
        XCTAssertEqual(kind, "tool_changed")
        XCTAssertEqual(details.first { $0.0 == "tool" }?.1, .string("echo"))
        XCTAssertEqual(details.first { $0.0 == "action" }?.1, .string("logged"))
        XCTAssertEqual(rewrite.events.first?.requestID, "r1")
        // Logged once.
        XCTAssertTrue(filter(changed, principal: admin, pins: pins, mode: .warn).events.isEmpty)
    }

    func testPinsEnforceHidesChangedTools() {
        let pins = ToolPins()
        _ = filter(list, principal: admin, pins: pins, mode: .enforce)
        let changed = list.replacingOccurrences(
            of: #"{"name":"read_file","inputSchema":{}}"#,
            with: #"{"name":"read_file","inputSchema":{"type":"object"}}"#)
        let rewrite = filter(changed, principal: admin, rules: nil, pins: pins, mode: .enforce)
        XCTAssertEqual(
            text(rewrite.body),
            #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","inputSchema":{}},{"name":"delete_user","inputSchema":{}}],"nextCursor":"p2"}}"#
        )
        guard case .security(let severity, _, let details)? = rewrite.events.first?.payload else {
            return XCTFail("no event")
        }
        XCTAssertEqual(severity, .high)
        XCTAssertEqual(details.first { $0.0 == "action" }?.1, .string("hidden"))
        // Pins are observed even for tools this caller may not see.
        let hidden = list.replacingOccurrences(
            of: #"{"name":"delete_user","inputSchema":{}}"#,
            with: #"{"name":"delete_user","description":"x","inputSchema":{}}"#)
        XCTAssertEqual(filter(hidden, principal: reader, pins: pins, mode: .enforce).events.count, 1)
        XCTAssertTrue(pins.isBlocked(tool: "delete_user"))
        // Off: pins are not consulted.
        let fresh = ToolPins()
        _ = filter(list, principal: admin, pins: fresh, mode: .off)
        XCTAssertTrue(fresh.pinned.isEmpty)
    }
}
