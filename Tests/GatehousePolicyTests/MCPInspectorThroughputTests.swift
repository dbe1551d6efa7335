import Foundation
import GatehouseHTTP
import GatehouseJSON
import XCTest

@testable import GatehousePolicy

/// Inspection cost per request for a 400-byte and a 100 KB `tools/call`, per sanitize mode, and the
/// `tools/list` filter. Prints figures; runs only with GATEHOUSE_BENCH=1 (use `swift test -c release`).
final class MCPInspectorThroughputTests: XCTestCase {
    private func rate(_ label: String, seconds: Double = 1, _ body: () -> Void) {
        var iterations = 0
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            for _ in 0..<100 { body() }
            iterations += 100
        }
        let perSecond = Double(iterations) / Date().timeIntervalSince(start)
        print("\(label): \(Int(perSecond)) /s, \(String(format: "%.2f", 1_000_000 / perSecond)) µs each")
    }

    func testThroughput() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["GATEHOUSE_BENCH"] == "1", "set GATEHOUSE_BENCH=1")
        let principal = Principal(name: "bench", kind: .apiKey, permissions: ["tools:call"])
        let headers: HTTPHeaders = ["Mcp-Session-Id": "session-1", "Content-Type": "application/json"]
        let filler = String(repeating: "quarterly revenue for the north-east region ", count: 6)
        let small = Array(
            #"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search_documents","arguments":{"query":"\#(filler)","limit":25,"filters":{"year":2026,"tags":["finance","q3"],"draft":false}},"_meta":{"progressToken":"tok-42"}}}"#
                .utf8)
        let text = String(repeating: "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", count: 1800)
        let big = Array(
            #"{"jsonrpc":"2.0","id":43,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\#(text)"}}}"#
                .utf8)
        print("bodies: \(small.count) and \(big.count) bytes")
        // The parse alone, for comparison: the rest of the difference is the inspection.
        rate("parse only 400 B") { _ = try? JSONReader.parse(small, maxDepth: 64) }
        rate("parse only 100 KB") { _ = try? JSONReader.parse(big, maxDepth: 64) }
        for mode in [SanitizeMode.off, .reject, .escape] {
            var settings = MCPInspectionSettings()
            settings.sanitize = mode
            let inspector = MCPInspector(settings: settings)
            inspector.sessionEstablished("session-1", principal: principal)
            for (name, body) in [("400 B", small), ("100 KB", big)] {
                rate("inspect \(name) tools/call, sanitize=\(mode.rawValue)") {
                    _ = inspector.inspect(body: body, headers: headers, principal: principal, requestID: "r")
                }
            }
        }
        let tools = (0..<200).map {
            #"{"name":"tool_\#($0)","description":"Does thing number \#($0)","inputSchema":{"type":"object","properties":{"a":{"type":"number"}}}}"#
        }
        let list = Array(#"{"jsonrpc":"2.0","id":1,"result":{"tools":[\#(tools.joined(separator: ","))]}}"#.utf8)
        let rules = AuthorizationRules(rules: [
            (match: "tools/call:tool_1*", require: []), (match: "*", require: ["x"]),
        ])
        let pins = ToolPins()
        rate("filter tools/list of 200 tools (\(list.count) bytes), pins enforce") {
            _ = MCPResponseFilter.filterToolsList(
                body: list, requestIDs: ["1"], principal: principal, rules: rules, pins: pins, pinMode: .enforce,
                requestID: "r")
        }
    }
}
