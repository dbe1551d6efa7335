import GatehouseJSON
import GatehousePolicy
import XCTest

@testable import GatehouseServer

/// The seed's schema of `POST /execute` (§12): every failure it knows, with its exact 400 body.
final class RESTDoorValidationTests: XCTestCase {
    private func validate(_ body: String, pattern: MCPToolNameMatcher = .standard) -> Result<
        RESTDoor.Call, RESTDoor.ValidationFailure
    > {
        RESTDoor.validate(body: Array(body.utf8), toolNamePattern: pattern, maxDepth: 64)
    }

    /// The failure's details, or a test failure when the body was accepted.
    private func details(_ body: String, file: StaticString = #filePath, line: UInt = #line) -> RESTDoor
        .ValidationFailure?
    {
        switch validate(body) {
        case .success(let call):
            XCTFail("accepted: \(call)", file: file, line: line)
            return nil
        case .failure(let failure):
            return failure
        }
    }

    /// Asserts that `body` fails with exactly `expected` (field → messages) and the seed's 400 bytes.
    private func assertRefused(
        _ body: String, _ expected: KeyValuePairs<String, [String]>, file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let failure = details(body, file: file, line: line) else { return }
        XCTAssertEqual(failure.details.keys, expected.map(\.key), "fields", file: file, line: line)
        for (field, messages) in expected {
            XCTAssertEqual(failure.messages(for: field), messages, field, file: file, line: line)
        }
        let answer = RESTDoor.validationAnswer(failure)
        XCTAssertEqual(answer.status, 400, file: file, line: line)
        XCTAssertTrue(answer.headers.contains { $0 == ("Content-Type", "application/json") }, file: file, line: line)
        var expectedBody = #"{"error":"Validation failed","details":{"#
        for (k, (field, messages)) in expected.enumerated() {
            if k > 0 { expectedBody += "," }
            expectedBody +=
                JSONWriter.quoted(field) + ":[" + messages.map(JSONWriter.quoted).joined(separator: ",") + "]"
        }
        expectedBody += "}}"
        XCTAssertEqual(String(decoding: answer.body, as: UTF8.self), expectedBody, file: file, line: line)
    }

    // MARK: Accepted

    func testValidRequestWithTheDefaultTimeout() {
        XCTAssertEqual(
            try validate(#"{"tool":"echo","parameters":{"text":"hi"}}"#).get(),
            RESTDoor.Call(tool: "echo", parameters: ["text": "hi"], timeoutSeconds: 30))
    }

    func testTimeoutBoundsAreIncluded() {
        XCTAssertEqual(try validate(#"{"tool":"a-b_C9","parameters":{},"timeout":1}"#).get().timeoutSeconds, 1)
        XCTAssertEqual(
            try validate(#"{"timeout":300,"parameters":{"x":[1,{"y":null}]},"tool":"t"}"#).get().timeoutSeconds, 300)
    }

    func testParametersAreKeptAsSent() throws {
        let call = try validate(#"{"tool":"t","parameters":{"n":1.50,"s":"<b>","nested":{"a":[true]}}}"#).get()
        XCTAssertEqual(
            String(decoding: JSONWriter.serialize(call.parameters), as: UTF8.self),
            #"{"n":1.50,"s":"<b>","nested":{"a":[true]}}"#)
    }

    // MARK: tool

    func testMissingTool() {
        assertRefused(#"{"parameters":{}}"#, ["tool": [RESTDoor.Message.required]])
    }

    func testNullTool() {
        assertRefused(#"{"tool":null,"parameters":{}}"#, ["tool": [RESTDoor.Message.null]])
    }

    func testToolNotAString() {
        assertRefused(#"{"tool":42,"parameters":{}}"#, ["tool": ["Not a valid string."]])
        assertRefused(#"{"tool":["echo"],"parameters":{}}"#, ["tool": ["Not a valid string."]])
    }

    func testToolNameBreakingThePattern() {
        for name in ["bad name", "", "echo;rm", "../etc", "tool\\n", "ütf", "a.b"] {
            assertRefused(
                #"{"tool":\#(JSONWriter.quoted(name)),"parameters":{}}"#,
                ["tool": ["String does not match expected pattern."]])
        }
    }

    func testToolNameWithATrailingNewlineIsRefused() {
        assertRefused(#"{"tool":"echo\n","parameters":{}}"#, ["tool": [RESTDoor.Message.patternMismatch]])
    }

    func testConfiguredPatternIsUsed() throws {
        let dotted = try MCPToolNameMatcher(pattern: "^[a-z.]+$")
        XCTAssertEqual(try validate(#"{"tool":"a.b","parameters":{}}"#, pattern: dotted).get().tool, "a.b")
        guard case .failure(let failure) = validate(#"{"tool":"a_b","parameters":{}}"#, pattern: dotted) else {
            return XCTFail("a_b breaks ^[a-z.]+$")
        }
        XCTAssertEqual(failure.messages(for: "tool"), [RESTDoor.Message.patternMismatch])
    }

    // MARK: parameters

    func testMissingParameters() {
        assertRefused(#"{"tool":"echo"}"#, ["parameters": ["Missing data for required field."]])
    }

    func testParametersNotAnObject() {
        for value in [#"[]"#, #"[{"a":1}]"#, #""text""#, "1", "true"] {
            assertRefused(#"{"tool":"echo","parameters":\#(value)}"#, ["parameters": ["Not a valid mapping type."]])
        }
        assertRefused(#"{"tool":"echo","parameters":null}"#, ["parameters": ["Field may not be null."]])
    }

    // MARK: timeout

    func testTimeoutOutOfRange() {
        for value in ["0", "301", "-1", "-0", "100000000000000000000000"] {
            assertRefused(
                #"{"tool":"echo","parameters":{},"timeout":\#(value)}"#,
                ["timeout": ["Must be greater than or equal to 1 and less than or equal to 300."]])
        }
    }

    func testTimeoutNotAnInteger() {
        for value in [#""30""#, "30.0", "3e1", "29.5", "true", "[30]", #"{"s":30}"#] {
            assertRefused(
                #"{"tool":"echo","parameters":{},"timeout":\#(value)}"#, ["timeout": ["Not a valid integer."]])
        }
        assertRefused(#"{"tool":"echo","parameters":{},"timeout":null}"#, ["timeout": [RESTDoor.Message.null]])
    }

    // MARK: The body

    func testUnknownFieldsAreRefused() {
        assertRefused(#"{"tool":"echo","parameters":{},"timout":5}"#, ["timout": ["Unknown field."]])
    }

    func testEveryFailingFieldIsReported() {
        assertRefused(
            #"{"tool":"no good","parameters":[],"timeout":"30","extra":1}"#,
            [
                "tool": [RESTDoor.Message.patternMismatch], "parameters": [RESTDoor.Message.notMapping],
                "timeout": [RESTDoor.Message.notInteger], "extra": [RESTDoor.Message.unknownField],
            ])
        assertRefused("{}", ["tool": [RESTDoor.Message.required], "parameters": [RESTDoor.Message.required]])
    }

    func testBodyThatIsNotAnObject() {
        for body in ["[]", #""echo""#, "42", "null"] {
            assertRefused(body, ["_schema": ["Invalid input type."]])
        }
    }

    func testBodyThatIsNotJSON() {
        for body in ["", "tool=echo", #"{"tool":"echo","parameters":{}"#, #"{"tool":"a","tool":"b","parameters":{}}"#] {
            assertRefused(body, ["_schema": ["Invalid JSON."]])
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        assertRefused(#"{"tool":"echo","parameters":{"a":\#(deep)}}"#, ["_schema": ["Invalid JSON."]])
    }
}
