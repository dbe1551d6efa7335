import Foundation
import GatehouseJSON
import XCTest

/// Nicolas Seriot's JSONTestSuite: every `y_` accepted, every `n_` refused, every `i_` as decided below.
final class JSONTestSuiteTests: XCTestCase {
    /// The implementation-defined files and what Gatehouse does with them.
    ///
    /// The rule: a security gateway refuses what an upstream might read differently from it, and
    /// accepts what every upstream reads the same way.
    ///
    /// | file | decision | why |
    /// |---|---|---|
    /// | i_number_double_huge_neg_exp `[123.456e-789]` | accept | numbers are kept and forwarded as their exact text; no gateway decision rests on a rounded value |
    /// | i_number_huge_exp `[0.4e00669…]` | accept | same; `doubleValue` is nil past Double's range, `intValue` nil |
    /// | i_number_neg_int_huge_exp `[-1e+9999]` | accept | same |
    /// | i_number_pos_double_huge_exp `[1.5e+9999]` | accept | same |
    /// | i_number_real_neg_overflow `[-123123e100000]` | accept | same |
    /// | i_number_real_pos_overflow `[123123e100000]` | accept | same |
    /// | i_number_real_underflow `[123e-10000000]` | accept | same (`doubleValue` 0) |
    /// | i_number_too_big_neg_int | accept | same (`intValue` nil) |
    /// | i_number_too_big_pos_int | accept | same |
    /// | i_number_very_big_negative_int | accept | same |
    /// | i_object_key_lone_2nd_surrogate | reject | lone surrogates: Python and JS keep them, Go replaces them with U+FFFD, Rust's serde refuses: upstreams disagree, and a Swift `String` cannot hold one |
    /// | i_string_1st_surrogate_but_2nd_missing | reject | lone surrogate |
    /// | i_string_1st_valid_surrogate_2nd_invalid | reject | lone surrogate |
    /// | i_string_incomplete_surrogate_and_escape_valid | reject | lone surrogate |
    /// | i_string_incomplete_surrogate_pair | reject | lone surrogate |
    /// | i_string_incomplete_surrogates_escape_valid | reject | lone surrogates |
    /// | i_string_invalid_lonely_surrogate | reject | lone surrogate |
    /// | i_string_invalid_surrogate | reject | lone surrogate |
    /// | i_string_inverted_surrogates_U+1D11E | reject | low then high: two lone surrogates |
    /// | i_string_lone_second_surrogate | reject | lone surrogate |
    /// | i_string_UTF-8_invalid_sequence | reject | invalid UTF-8 (RFC 8259 §8.1: exchanged JSON is UTF-8); decoders repair it differently (U+FFFD, Latin-1, error) |
    /// | i_string_UTF8_surrogate_U+D800 | reject | a UTF-8-encoded surrogate is invalid UTF-8 |
    /// | i_string_invalid_utf-8 | reject | invalid UTF-8 |
    /// | i_string_iso_latin_1 | reject | not UTF-8 |
    /// | i_string_lone_utf8_continuation_byte | reject | invalid UTF-8 |
    /// | i_string_not_in_unicode_range | reject | above U+10FFFF |
    /// | i_string_overlong_sequence_2_bytes | reject | overlong form (the classic `/` smuggling trick) |
    /// | i_string_overlong_sequence_6_bytes | reject | overlong form |
    /// | i_string_overlong_sequence_6_bytes_null | reject | overlong NUL |
    /// | i_string_truncated-utf-8 | reject | invalid UTF-8 |
    /// | i_string_UTF-16LE_with_BOM | reject | not UTF-8 (and a BOM) |
    /// | i_string_utf16BE_no_BOM | reject | not UTF-8 |
    /// | i_string_utf16LE_no_BOM | reject | not UTF-8 |
    /// | i_structure_500_nested_arrays | reject | deeper than `mcp.max_json_depth` (default 64) |
    /// | i_structure_UTF-8_BOM_empty_object | reject | RFC 8259 §8.1 forbids adding a BOM; Python's `json.loads` of a str refuses it, other readers skip it |
    static let implementationDefined: [String: Bool] = [
        "i_number_double_huge_neg_exp.json": true,
        "i_number_huge_exp.json": true,
        "i_number_neg_int_huge_exp.json": true,
        "i_number_pos_double_huge_exp.json": true,
        "i_number_real_neg_overflow.json": true,
        "i_number_real_pos_overflow.json": true,
        "i_number_real_underflow.json": true,
        "i_number_too_big_neg_int.json": true,
        "i_number_too_big_pos_int.json": true,
        "i_number_very_big_negative_int.json": true,
        "i_object_key_lone_2nd_surrogate.json": false,
        "i_string_1st_surrogate_but_2nd_missing.json": false,
        "i_string_1st_valid_surrogate_2nd_invalid.json": false,
        "i_string_incomplete_surrogate_and_escape_valid.json": false,
        "i_string_incomplete_surrogate_pair.json": false,
        "i_string_incomplete_surrogates_escape_valid.json": false,
        "i_string_invalid_lonely_surrogate.json": false,
        "i_string_invalid_surrogate.json": false,
        "i_string_inverted_surrogates_U+1D11E.json": false,
        "i_string_lone_second_surrogate.json": false,
        "i_string_UTF-8_invalid_sequence.json": false,
        "i_string_UTF8_surrogate_U+D800.json": false,
        "i_string_invalid_utf-8.json": false,
        "i_string_iso_latin_1.json": false,
        "i_string_lone_utf8_continuation_byte.json": false,
        "i_string_not_in_unicode_range.json": false,
        "i_string_overlong_sequence_2_bytes.json": false,
        "i_string_overlong_sequence_6_bytes.json": false,
        "i_string_overlong_sequence_6_bytes_null.json": false,
        "i_string_truncated-utf-8.json": false,
        "i_string_UTF-16LE_with_BOM.json": false,
        "i_string_utf16BE_no_BOM.json": false,
        "i_string_utf16LE_no_BOM.json": false,
        "i_structure_500_nested_arrays.json": false,
        "i_structure_UTF-8_BOM_empty_object.json": false,
    ]

    static func files() throws -> [(name: String, bytes: [UInt8])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: TestSupport.jsonTestSuite.path)
            .filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            (name, [UInt8](try Data(contentsOf: TestSupport.jsonTestSuite.appendingPathComponent(name))))
        }
    }

    /// The two `y_` files with a repeated key are refused on purpose: RFC 8259 only says names SHOULD
    /// be unique, but readers then disagree (first wins, last wins, error), which is the classic
    /// gateway bypass (`{"method":"ping","method":"tools/call"}`). Refusing them is the gateway's
    /// contract (issue 5), so they are the one deliberate exception to "every y_ file accepted".
    static let refusedDuplicateKeyFiles: Set<String> = ["y_object_duplicated_key.json", "y_object_duplicated_key_and_value.json"]

    func testAcceptsEveryYFileExceptRepeatedKeys() throws {
        var count = 0
        for (name, bytes) in try Self.files() where name.hasPrefix("y_") {
            count += 1
            switch TestSupport.read(bytes) {
            case .success(let v):
                XCTAssertFalse(Self.refusedDuplicateKeyFiles.contains(name), "\(name) accepted as \(v)")
            case .failure(let e):
                if Self.refusedDuplicateKeyFiles.contains(name) {
                    XCTAssertEqual(e.message, #"duplicate key "a""#, name)
                } else {
                    XCTFail("\(name) refused: \(e)")
                }
            }
        }
        XCTAssertEqual(count, 95, "JSONTestSuite at \(TestSupport.jsonTestSuite.path)")
    }

    func testRefusesEveryNFile() throws {
        var count = 0
        for (name, bytes) in try Self.files() where name.hasPrefix("n_") {
            count += 1
            if case .success(let v) = TestSupport.read(bytes) { XCTFail("\(name) accepted as \(v)") }
        }
        XCTAssertEqual(count, 188, "JSONTestSuite at \(TestSupport.jsonTestSuite.path)")
    }

    func testImplementationDefinedFilesFollowTheTable() throws {
        let iFiles = try Self.files().filter { $0.name.hasPrefix("i_") }
        XCTAssertEqual(Set(iFiles.map(\.name)), Set(Self.implementationDefined.keys), "every i_ file has a decision")
        for (name, bytes) in iFiles {
            guard let accept = Self.implementationDefined[name] else { continue }
            switch TestSupport.read(bytes) {
            case .success(let v): XCTAssertTrue(accept, "\(name) accepted as \(v) but the table says reject")
            case .failure(let e): XCTAssertFalse(accept, "\(name) refused (\(e)) but the table says accept")
            }
        }
    }

    /// Every accepted file survives serialize → parse unchanged, and serializing is idempotent.
    func testRoundTripOfAcceptedFiles() throws {
        var count = 0
        for (name, bytes) in try Self.files() {
            guard case .success(let v) = TestSupport.read(bytes) else { continue }
            count += 1
            let text = JSONWriter.serialize(v)
            switch TestSupport.read(text) {
            case .success(let again):
                XCTAssertEqual(again, v, name)
                XCTAssertEqual(JSONWriter.serialize(again), text, name)
            case .failure(let e):
                XCTFail("\(name): own output refused: \(e): \(String(decoding: text, as: UTF8.self))")
            }
        }
        XCTAssertEqual(count, 103)
    }
}
