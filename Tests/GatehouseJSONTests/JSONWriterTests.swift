import GatehouseJSON
import XCTest

/// The writer's output and the object's editing API.
final class JSONWriterTests: XCTestCase {
    private func text(_ v: JSONValue) -> String { String(decoding: JSONWriter.serialize(v), as: UTF8.self) }

    func testCompactOutputInMemberOrder() {
        let v: JSONValue = ["jsonrpc": "2.0", "id": 1, "result": ["z": [true, false, nil], "a": .number("1e400")]]
        XCTAssertEqual(text(v), #"{"jsonrpc":"2.0","id":1,"result":{"z":[true,false,null],"a":1e400}}"#)
        XCTAssertEqual(text([]), "[]")
        XCTAssertEqual(text(.object(JSONObject())), "{}")
        XCTAssertEqual(v.description, text(v))
    }

    func testStringEscaping() {
        XCTAssertEqual(JSONWriter.quoted("a\"b\\c/d"), #""a\"b\\c/d""#)
        XCTAssertEqual(JSONWriter.quoted("\n\r\t\u{0}\u{1f}"), #""\u000a\u000d\u0009\u0000\u001f""#)
        XCTAssertEqual(JSONWriter.quoted("é😀\u{7f}\u{2028}"), "\"é😀\u{7f}\u{2028}\"", "non-ASCII stays raw UTF-8")
        XCTAssertEqual(JSONWriter.quoted(""), #""""#)
        var out = Array("x".utf8)
        JSONWriter.writeString("y\"", into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"x"y\"""#)
    }

    /// `text` and the in-place path of `quoted` give exactly the bytes of `serialize`, whatever needs
    /// escaping, on both sides of the 15-byte inline-string limit.
    func testTextMatchesSerialize() {
        var values: [JSONValue] = [
            nil, true, false, 0, -7, .number("1e400"), .number("-0.0"), .number("01"), .number(""), .number("1."),
            "", "a", "0123456789abc", "0123456789abcd", "0123456789abcdef", "tok-42", "a\"b", "back\\slash",
            "\u{0}", "\u{1f}x", "\u{7f}", "é", "😀 and more than fifteen bytes", "/", [1, "x"], ["k": "v"],
        ]
        var r = SeededRandom(seed: 42)
        let alphabet: [Unicode.Scalar] = ["a", "\"", "\\", "\u{0}", "\n", "\u{1f}", " ", "\u{7f}", "é", "😀", "\u{2028}"]
        for _ in 0..<2_000 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<r.int(0..<24) { scalars.append(r.pick(alphabet)) }
            values.append(.string(String(scalars)))
        }
        for _ in 0..<200 {
            if let document = try? TestSupport.read(DocumentGenerator.validDocument(using: &r)).get() {
                values.append(document)
            }
        }
        for value in values {
            let expected = String(decoding: JSONWriter.serialize(value), as: UTF8.self)
            XCTAssertEqual(Array(JSONWriter.text(value).utf8), Array(expected.utf8), "\(expected)")
            XCTAssertEqual(Array(value.description.utf8), Array(expected.utf8))
            if case .string(let s) = value {
                XCTAssertEqual(Array(JSONWriter.quoted(s).utf8), Array(expected.utf8))
            }
        }
    }

    func testEveryASCIICharacterRoundTrips() {
        let all = String(String.UnicodeScalarView((0..<0x80).compactMap(Unicode.Scalar.init)))
        let written = JSONWriter.serialize(.string(all))
        XCTAssertEqual(try? TestSupport.read(written).get(), .string(all))
    }

    func testInvalidNumberTextIsWrittenAsNull() {
        XCTAssertEqual(text([.number("1x"), .number(""), .number("01"), .number("-0.5E-3")]), "[null,null,null,-0.5E-3]")
    }

    func testWriteAppends() {
        var out = Array("data: ".utf8)
        JSONWriter.write(["a": 1], into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"data: {"a":1}"#)
    }

    func testObjectEditing() {
        var o = JSONObject([("a", 1), ("b", 2), ("a", 3)])
        XCTAssertEqual(o.keys, ["a", "b"], "a repeated key keeps its first position")
        XCTAssertEqual(o["a"], 3, "and its last value")
        o["c"] = "new"
        o["a"] = nil
        o["b"] = [1]
        o["missing"] = nil
        XCTAssertEqual(o.keys, ["b", "c"])
        XCTAssertEqual(o.index(of: "c"), 1)
        XCTAssertEqual(o.members.map(\.value), [[1], "new"])
        XCTAssertEqual(Array(o).map(\.key), ["b", "c"])
        XCTAssertFalse(o.isEmpty)
        XCTAssertEqual(text(.object(o)), #"{"b":[1],"c":"new"}"#)
    }

    func testObjectEqualityIgnoresOrder() {
        XCTAssertEqual(TestSupport.value(#"{"a":1,"b":[2]}"#), TestSupport.value(#"{"b":[2],"a":1}"#))
        XCTAssertNotEqual(TestSupport.value(#"{"a":1,"b":[2]}"#), TestSupport.value(#"{"b":[2],"a":2}"#))
        XCTAssertNotEqual(TestSupport.value(#"{"a":1}"#), TestSupport.value(#"{"a":1,"b":1}"#))
        XCTAssertNotEqual(TestSupport.value(#"{"a":1,"c":1}"#), TestSupport.value(#"{"a":1,"b":1}"#))
        XCTAssertNotEqual(TestSupport.value("[1,2]"), TestSupport.value("[2,1]"), "arrays keep order")
        XCTAssertNotEqual(JSONValue.null, JSONValue.bool(false))
    }

    /// serialize(parse(x)) re-parses to an equal value, over generated documents.
    func testRoundTripOfGeneratedDocuments() {
        var random = SeededRandom(seed: 0x5EED_0002)
        for _ in 0..<3000 {
            let doc = DocumentGenerator.validDocument(using: &random)
            guard case .success(let v) = TestSupport.read(doc) else {
                XCTFail("generated valid document refused: \(String(decoding: doc, as: UTF8.self))")
                continue
            }
            let written = JSONWriter.serialize(v)
            guard case .success(let again) = TestSupport.read(written) else {
                XCTFail("own output refused: \(String(decoding: written, as: UTF8.self))")
                continue
            }
            XCTAssertEqual(again, v)
            XCTAssertEqual(JSONWriter.serialize(again), written)
        }
    }
}
