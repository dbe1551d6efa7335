import GatehouseJSON
import XCTest

/// The reader's values, refusals and their messages.
final class JSONReaderTests: XCTestCase {
    func testReadsAJSONRPCRequest() throws {
        let text = #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hé 😀"}}}"#
        let v = try XCTUnwrap(TestSupport.value(text))
        XCTAssertEqual(v["jsonrpc"], "2.0")
        XCTAssertEqual(v["id"]?.intValue, 7)
        XCTAssertEqual(v["method"]?.stringValue, "tools/call")
        XCTAssertEqual(v["params"]?["arguments"]?["text"]?.stringValue, "hé 😀")
        XCTAssertEqual(v.objectValue?.keys, ["jsonrpc", "id", "method", "params"])
        XCTAssertEqual(v.objectValue?.count, 4)
        XCTAssertNil(v["missing"])
        XCTAssertNil(v["id"]?["x"])
    }

    func testScalarsAtTopLevelAndWhitespace() {
        XCTAssertEqual(TestSupport.value(" \t\r\n null \n"), .null)
        XCTAssertEqual(TestSupport.value("true"), .bool(true))
        XCTAssertEqual(TestSupport.value("false"), .bool(false))
        XCTAssertEqual(TestSupport.value("\"x\""), .string("x"))
        XCTAssertEqual(TestSupport.value("-0.0e+00"), .number("-0.0e+00"))
        XCTAssertEqual(TestSupport.value("[ ]"), .array([]))
        XCTAssertEqual(TestSupport.value("{ }"), .object(JSONObject()))
    }

    func testNumbersKeepTheirExactText() {
        for text in ["0", "-0", "1.5", "1e400", "-1E-400", "123456789012345678901234567890", "0.1", "1.0", "2e+3"] {
            XCTAssertEqual(TestSupport.value("[\(text)]")?[0]?.numberText, text)
        }
        XCTAssertNotEqual(TestSupport.value("1.0"), TestSupport.value("1"), "numbers compare by text")
    }

    func testIntValueIsExactIntegersInRange() {
        let cases: [(String, Int?)] = [
            ("0", 0), ("-0", 0), ("42", 42), ("-42", -42), ("3.0", 3), ("3.50", nil), ("3e2", 300),
            ("0.5e1", 5), ("120e-1", 12), ("125e-1", nil), ("1e-400", nil), ("0e400", 0), ("0.000e-9", 0),
            ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min),
            ("9223372036854775808", nil), ("-9223372036854775809", nil), ("1e19", nil), ("1e18", 1_000_000_000_000_000_000),
            ("1e99999999999999999999", nil), ("100000000000000000000e-2", 1_000_000_000_000_000_000),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(JSONValue.number(text).intValue, expected, text)
        }
        XCTAssertNil(JSONValue.string("1").intValue)
        XCTAssertNil(JSONValue.number("1x").intValue, "not number text")
    }

    func testDoubleValue() {
        XCTAssertEqual(JSONValue.number("0.1").doubleValue, 0.1)
        XCTAssertEqual(JSONValue.number("-2.5e3").doubleValue, -2500)
        XCTAssertEqual(JSONValue.number("1e-400").doubleValue, 0)
        XCTAssertNil(JSONValue.number("1e400").doubleValue, "no faithful Double")
        XCTAssertNil(JSONValue.string("1").doubleValue)
    }

    func testAccessors() {
        let v: JSONValue = ["a": [1, "two", true, nil], "b": ["c": 1]]
        XCTAssertEqual(v["a"]?[1], "two")
        XCTAssertNil(v["a"]?[4])
        XCTAssertNil(v["a"]?[-1])
        XCTAssertEqual(v["a"]?[2]?.boolValue, true)
        XCTAssertEqual(v["a"]?[3]?.isNull, true)
        XCTAssertEqual(v["a"]?.arrayValue?.count, 4)
        XCTAssertNil(v["a"]?.objectValue)
        XCTAssertEqual(v["b"]?.objectValue, ["c": 1])
        XCTAssertEqual(v.kindName, "object")
        XCTAssertEqual(JSONValue.double(2.5), .number("2.5"))
        XCTAssertEqual(JSONValue.double(3), .number("3"))
        XCTAssertNil(JSONValue.double(.infinity))
        XCTAssertEqual(JSONValue.integer(UInt64.max), .number("18446744073709551615"))
    }

    func testEscapesAreDecoded() {
        let v = TestSupport.value(#"["\"\\\/\b\f\n\r\t", "\u00e9\u20AC\ud83d\ude00\u0000"]"#)
        XCTAssertEqual(v?[0], .string("\"\\/\u{8}\u{c}\n\r\t"))
        XCTAssertEqual(v?[1], .string("é€😀\u{0}"))
    }

    func testLongStringsWithAndWithoutEscapes() {
        let plain = String(repeating: "abcdefgh", count: 1000) + "é"
        XCTAssertEqual(TestSupport.value("\"\(plain)\"")?.stringValue, plain)
        let escaped = String(repeating: "abc\\n", count: 1000)
        XCTAssertEqual(TestSupport.value("\"\(escaped)\"")?.stringValue, String(repeating: "abc\n", count: 1000))
    }

    // MARK: Duplicate keys

    func testDuplicateKeysAreRefused() {
        XCTAssertEqual(TestSupport.error(#"{"method":"a","method":"b"}"#)?.message, #"duplicate key "method""#)
        XCTAssertEqual(TestSupport.error(#"{"method":"a","method":"b"}"#)?.offset, 14)
        XCTAssertEqual(TestSupport.error(#"{"a":1,"\u0061":2}"#)?.message, #"duplicate key "a""#, "compared after unescaping")
        XCTAssertEqual(TestSupport.error(#"{"x":{"a":1,"b":{},"a":[]}}"#)?.message, #"duplicate key "a""#, "nested")
        XCTAssertEqual(TestSupport.error(#"[{"a":1},{"a":1,"a":1}]"#)?.message, #"duplicate key "a""#)
        XCTAssertEqual(TestSupport.error(#"{"\u0000":1,"\u0000":2}"#)?.message, #"duplicate key "\u0000""#)
    }

    func testDuplicateKeysInLargeObjectsAreRefused() {
        let members = (0..<100).map { "\"k\($0)\":\($0)" }
        let unique = "{" + members.joined(separator: ",") + "}"
        XCTAssertEqual(TestSupport.value(unique)?.objectValue?.count, 100)
        XCTAssertEqual(TestSupport.value(unique)?["k99"], 99)
        let repeated = "{" + (members + [#""k\u0037":1"#]).joined(separator: ",") + "}"
        XCTAssertEqual(TestSupport.error(repeated)?.message, #"duplicate key "k7""#)
    }

    func testKeysThatAreCanonicallyEquivalentButDifferentAreDistinct() {
        // U+00E9 and e + U+0301 are equal as Swift strings but different keys for every upstream.
        let v = TestSupport.value("{\"\u{e9}\":1,\"e\u{301}\":2}")
        XCTAssertEqual(v?.objectValue?.count, 2)
        XCTAssertEqual(v?["\u{e9}"], 1)
        XCTAssertEqual(v?["e\u{301}"], 2)
        XCTAssertNotEqual(JSONValue.string("\u{e9}"), JSONValue.string("e\u{301}"))
    }

    // MARK: Depth

    func testDepthLimitIsExact() {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNil(TestSupport.error(ok))
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        XCTAssertEqual(TestSupport.error(deep), JSONError(offset: 64, message: "nesting deeper than 64"))
        let objects = String(repeating: #"{"a":"#, count: 64) + "1" + String(repeating: "}", count: 64)
        XCTAssertNil(TestSupport.error(objects))
        let deeperObjects = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        XCTAssertEqual(TestSupport.error(deeperObjects)?.message, "nesting deeper than 64")
        XCTAssertEqual(TestSupport.error("[[[]]]", maxDepth: 2)?.message, "nesting deeper than 2")
        XCTAssertNil(TestSupport.error("[[[]]]", maxDepth: 3))
        XCTAssertNil(TestSupport.error("1", maxDepth: 0))
        XCTAssertEqual(TestSupport.error("[]", maxDepth: 0)?.message, "nesting deeper than 0")
        // Siblings do not add up.
        XCTAssertNil(TestSupport.error("[" + Array(repeating: "[[]]", count: 100).joined(separator: ",") + "]", maxDepth: 3))
    }

    func testDepthLimitIsCappedAtTheCeiling() {
        let ceiling = JSONReader.depthCeiling
        let atCeiling = String(repeating: "[", count: ceiling) + String(repeating: "]", count: ceiling)
        XCTAssertNil(TestSupport.error(atCeiling, maxDepth: 1_000_000))
        let deeper = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        XCTAssertEqual(TestSupport.error(deeper, maxDepth: 1_000_000)?.message, "nesting deeper than \(ceiling)")
        XCTAssertEqual(TestSupport.error(String(repeating: "[", count: 200_000))?.message, "nesting deeper than 64")
        XCTAssertEqual(TestSupport.error("[]", maxDepth: -5)?.message, "nesting deeper than 0")
    }

    // MARK: Refusals and messages

    func testRefusalMessages() {
        let cases: [(String, String, Int)] = [
            ("", "empty document", 0),
            ("   ", "unexpected end of input", 3),
            ("[1,]", "unexpected ']'", 3),
            ("[1 2]", "expected ',' or ']' but found '2'", 3),
            (#"{"a" 1}"#, "expected ':' but found '1'", 5),
            (#"{"a":1 "b":2}"#, "expected ',' or '}' but found '\"'", 7),
            ("{1:2}", "expected a string key but found '1'", 1),
            ("{\"a\":1,}", "expected a string key but found '}'", 7),
            ("[01]", "expected ',' or ']' but found '1'", 2),
            ("[1.]", "invalid number", 3),
            ("[-]", "invalid number", 2),
            ("[1e+]", "invalid number", 4),
            ("[.5]", "unexpected '.'", 1),
            ("[+1]", "unexpected '+'", 1),
            ("[NaN]", "unexpected 'N'", 1),
            ("[tru]", "invalid literal", 4),
            ("nul", "unexpected end of input", 3),
            ("[1] x", "unexpected data after the value: 'x'", 4),
            ("1 2", "unexpected data after the value: '2'", 2),
            ("\"abc", "unterminated string", 0),
            ("\"a\tb\"", "unescaped control character 0x09 in string", 2),
            (#""\x""#, "invalid escape", 1),
            (#""\u12G4""#, #"invalid \u escape"#, 5),
            (#""\ud800""#, #"lone surrogate \uD800"#, 1),
            (#""\udc00""#, #"lone surrogate \uDC00"#, 1),
            (#""\ud800\u0041""#, #"lone surrogate \uD800"#, 1),
            (#""\ud800\n""#, #"lone surrogate \uD800"#, 1),
            ("\u{FEFF}{}", "byte order mark not allowed", 0),
            ("[\u{7}]", "unexpected byte 0x07", 1),
        ]
        for (text, message, offset) in cases {
            let error = TestSupport.error(text)
            XCTAssertEqual(error?.message, message, text)
            XCTAssertEqual(error?.offset, offset, text)
        }
        XCTAssertEqual(JSONError(offset: 3, message: "invalid number").description, "invalid number at byte 3")
    }

    func testInvalidUTF8IsRefused() {
        let cases: [[UInt8]] = [
            [0x80], [0xC0, 0xAF], [0xC1, 0xBF], [0xC2], [0xC2, 0x41], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80],
            [0xED, 0xBF, 0xBF], [0xEF, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
            [0xFF], [0xFE], [0xE1, 0x80, 0x41], [0xF1, 0x80, 0x80, 0x41],
        ]
        for bad in cases {
            let doc = Array("[\"ab".utf8) + bad + Array("cd\"]".utf8)
            guard case .failure(let e) = TestSupport.read(doc) else {
                XCTFail("accepted \(bad)")
                continue
            }
            XCTAssertEqual(e.message, "invalid UTF-8", "\(bad)")
            XCTAssertEqual(e.offset, 4, "\(bad)")
            // Also after an escape, when the string is assembled in the scratch buffer.
            let escaped = Array("[\"\\n".utf8) + bad + Array("\"]".utf8)
            if case .success = TestSupport.read(escaped) { XCTFail("accepted after escape: \(bad)") }
        }
        let good: [[UInt8]] = [
            [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],
            [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
        ]
        for ok in good {
            let doc = Array("\"".utf8) + ok + Array("\"".utf8)
            XCTAssertEqual(try? TestSupport.read(doc).get().stringValue.map { Array($0.utf8) }, ok)
        }
        XCTAssertEqual(TestSupport.read([0x22, 0xE2, 0x82, 0xAC]).failureMessage, "unterminated string")
    }

    func testNonUTF8OutsideStringsIsRefused() {
        XCTAssertEqual(TestSupport.read([0x5B, 0xC3, 0xA9, 0x5D]).failureMessage, "unexpected byte 0xC3")
    }

    func testParsesFromSlicesAndRawBuffers() throws {
        let bytes = Array(#"xx{"a":[1,2]}yy"#.utf8)
        let slice = bytes[2..<(bytes.count - 2)]
        XCTAssertEqual(try JSONReader.parse(slice), ["a": [1, 2]])
        let value = try bytes[2..<(bytes.count - 2)].withUnsafeBytes { raw in try JSONReader.parse(raw) }
        XCTAssertEqual(value, ["a": [1, 2]])
        // A collection without contiguous storage.
        XCTAssertEqual(try JSONReader.parse(#"{"b":true}"#.utf8), ["b": true])
        XCTAssertThrowsError(try JSONReader.parse(UnsafeRawBufferPointer(start: nil, count: 0)))
    }

    /// The `[UInt8]` overload and the generic entry (here through a slice) agree on values and errors.
    func testArrayOverloadMatchesGenericEntry() {
        var r = SeededRandom(seed: 7)
        var documents: [[UInt8]] = [[], Array(" ".utf8), Array("{}".utf8), Array(#"{"a":1,"a":2}"#.utf8)]
        for _ in 0..<500 { documents.append(DocumentGenerator.glitchedDocument(using: &r)) }
        for document in documents {
            let viaArray = Result { () throws(JSONError) -> JSONValue in try JSONReader.parse(document, maxDepth: 8) }
            let viaSlice = Result { () throws(JSONError) -> JSONValue in
                try JSONReader.parse(document[...], maxDepth: 8)
            }
            XCTAssertEqual(viaArray, viaSlice, String(decoding: document, as: UTF8.self))
        }
    }
}

extension Result where Failure == JSONError {
    var failureMessage: String? {
        if case .failure(let e) = self { return e.message }
        return nil
    }
}
