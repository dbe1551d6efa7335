import GatehouseHTTP
import GatehouseJSON
import XCTest

@testable import GatehousePolicy

/// Random mutations of valid messages never trap, and every answer is well-formed: a rejection has a
/// JSON-RPC body that parses, a rewrite parses as JSON.
final class MCPFuzzTests: MCPInspectionTestCase {
    let seeds: [String] = [
        #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"<b onclick='x'>hi</b>","n":[1,2,{"javascript:":null}]}}}"#,
        #"[{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"c"}},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":5,"result":{}}]"#,
        #"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"file:///x"}}"#,
        #"{"jsonrpc":"2.0","id":8,"error":{"code":-32601,"message":"nope"}}"#,
    ]

    func mutate(_ bytes: [UInt8], using rng: inout some RandomNumberGenerator) -> [UInt8] {
        var out = bytes
        let pieces: [[UInt8]] = [
            Array("{".utf8), Array("}".utf8), Array("[".utf8), Array("]".utf8), Array("\"".utf8), Array(",".utf8),
            Array(":".utf8), Array("null".utf8), Array("\"tools/call\"".utf8), Array("\"name\"".utf8),
            Array("\\u0000".utf8), [0xC3], [0xFF], Array("<script>".utf8), Array("</script>".utf8), Array("onx=".utf8),
            Array("\"arguments\":".utf8), Array("1e999".utf8), Array("-0".utf8),
        ]
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0 where !out.isEmpty:
                out.remove(at: Int.random(in: 0..<out.count, using: &rng))
            case 1:
                out.insert(
                    contentsOf: pieces.randomElement(using: &rng)!, at: Int.random(in: 0...out.count, using: &rng))  // pieces is not empty
            case 2 where !out.isEmpty:
                out[Int.random(in: 0..<out.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            default:
                if out.count > 2 {
                    let a = Int.random(in: 0..<out.count, using: &rng)
                    let b = Int.random(in: a...min(out.count, a + 8), using: &rng)
                    out.insert(contentsOf: Array(out[a..<b]), at: Int.random(in: 0...out.count, using: &rng))
                }
            }
        }
        return out
    }

    func testMutatedMessagesNeverTrap() throws {
        var rng = SystemRandomNumberGenerator()
        let pins = ToolPins()
        _ = pins.observe(tools: [#"{"name":"echo"}"#.json])
        _ = pins.observe(tools: [#"{"name":"echo","description":"changed"}"#.json])
        var inspectors: [MCPInspector] = []
        for sanitize in [SanitizeMode.off, .reject, .escape] {
            var settings = MCPInspectionSettings()
            settings.sanitize = sanitize
            settings.pinTools = .enforce
            settings.maxJSONDepth = 8
            settings.allowBatches = sanitize != .reject
            inspectors.append(MCPInspector(settings: settings, pins: pins))
        }
        let headers: [HTTPHeaders] = [
            [:], ["Mcp-Method": "tools/call", "Mcp-Name": "echo"], ["Mcp-Name": "=?base64?ZWNobw==?="],
        ]
        var outcomes: [Int: Int] = [:]
        for round in 0..<20_000 {
            let seed = Array(seeds[round % seeds.count].utf8)
            let body = mutate(seed, using: &rng)
            let inspector = inspectors[round % inspectors.count]
            let principal = [admin, caller, reader][round % 3]
            let decision = inspector.inspect(
                body: body, headers: headers[round % headers.count], principal: principal, requestID: "r")
            switch decision {
            case .forward(let rewritten, _):
                outcomes[200, default: 0] += 1
                if let rewritten {
                    XCTAssertNoThrow(
                        try JSONReader.parse(rewritten, maxDepth: 64), String(decoding: body, as: UTF8.self))
                }
            case .reject(let rejection, _):
                outcomes[rejection.status, default: 0] += 1
                let answer = try JSONReader.parse(rejection.body(requestID: "r"))
                XCTAssertEqual(answer["jsonrpc"], "2.0")
                XCTAssertNotNil(answer["error"]?["code"]?.intValue)
                XCTAssertNotNil(rejection.securityEvent)
            }
            // The response filter sees the same garbage without trapping.
            _ = MCPResponseFilter.filterToolsList(
                body: body, requestIDs: ["1", #""a""#, "5"], principal: principal,
                rules: MCPInspectionSettings.defaultRules,
                pins: pins, pinMode: .enforce, requestID: "r")
        }
        // The mutations reach every kind of answer.
        XCTAssertGreaterThan(outcomes[200, default: 0], 100)
        XCTAssertGreaterThan(outcomes[400, default: 0], 100)
        XCTAssertGreaterThan(outcomes[403, default: 0], 10)
    }

    func testRandomStringsThroughTheSanitizer() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("aonjvscript:=<>/&'\" \t\nifrméé\u{a0}\u{663}_X".unicodeScalars)
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...30, using: &rng) {
                text.unicodeScalars.append(alphabet.randomElement(using: &rng)!)  // the alphabet is not empty
            }
            let escaped = Sanitizer.escape(text)
            XCTAssertNil(Sanitizer.dangerousPattern(in: escaped), text)
            XCTAssertFalse(escaped.unicodeScalars.contains { "<>\"'".unicodeScalars.contains($0) }, text)
            XCTAssertEqual(Sanitizer.needsEscaping(text), escaped != text, text)
        }
    }
}
