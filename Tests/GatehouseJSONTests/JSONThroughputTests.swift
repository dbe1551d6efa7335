import Foundation
import GatehouseJSON
import XCTest

/// Reader and writer speed on MCP-shaped messages. Prints figures; runs only with GATEHOUSE_BENCH=1
/// (use `swift test -c release`);
/// GATEHOUSE_BENCH_CASE=<label prefix> runs one case (for profiling).
final class JSONThroughputTests: XCTestCase {
    private func measureRate(_ label: String, _ doc: [UInt8], seconds: Double = 1) throws {
        if let only = ProcessInfo.processInfo.environment["GATEHOUSE_BENCH_CASE"], !label.hasPrefix(only) { return }
        var iterations = 0
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            for _ in 0..<100 { _ = try JSONReader.parse(doc) }
            iterations += 100
        }
        let elapsed = Date().timeIntervalSince(start)
        let value = try JSONReader.parse(doc)
        var writes = 0
        let writeStart = Date()
        while Date().timeIntervalSince(writeStart) < seconds {
            for _ in 0..<100 { _ = JSONWriter.serialize(value) }
            writes += 100
        }
        let writeElapsed = Date().timeIntervalSince(writeStart)
        let mb = Double(doc.count) / 1_000_000
        print(
            "\(label) (\(doc.count) bytes): parse \(Int(Double(iterations) / elapsed)) docs/s, "
                + "\(Int(mb * Double(iterations) / elapsed)) MB/s; serialize \(Int(Double(writes) / writeElapsed)) docs/s")
    }

    func testThroughput() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["GATEHOUSE_BENCH"] == "1", "set GATEHOUSE_BENCH=1")
        let small = #"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search_documents","arguments":{"query":"quarterly revenue report for the north-east region","limit":25,"filters":{"year":2026,"tags":["finance","q3"],"draft":false}},"_meta":{"progressToken":"tok-42"}}}"#
        try measureRate("tools/call small", Array(small.utf8))
        let text = String(repeating: "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", count: 1800)
        let big = #"{"jsonrpc":"2.0","id":43,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\#(text)"}}}"#
        try measureRate("tools/call 100 KB string", Array(big.utf8))
        let escaped = String(repeating: #"line with \"quotes\" and \u00e9\n"#, count: 3000)
        try measureRate("string with escapes", Array("\"\(escaped)\"".utf8))
        let tools = (0..<200).map { #"{"name":"tool_\#($0)","description":"Does thing number \#($0) with care","inputSchema":{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"string"}},"required":["a"]}}"# }
        let list = #"{"jsonrpc":"2.0","id":1,"result":{"tools":[\#(tools.joined(separator: ","))]}}"#
        try measureRate("tools/list 200 tools", Array(list.utf8))
    }
}
