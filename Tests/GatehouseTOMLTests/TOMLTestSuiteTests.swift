import Foundation
import GatehouseTOML
import XCTest

/// Runs the official toml-test corpus (the files listed for TOML 1.0.0): every `invalid` file must be
/// refused with a position, every `valid` file must parse to the typed values of its `.json` twin.
final class TOMLTestSuiteTests: XCTestCase {
    /// Valid files deliberately not compared, with the reason. Keep it tiny.
    static let skippedValidFiles: [String: String] = [:]

    static let suiteDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // GatehouseTOMLTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("../shared/testdata/toml-test/tests")
        .standardizedFileURL

    static func listedFiles(withPrefix prefix: String) throws -> [String] {
        let list = suiteDirectory.appendingPathComponent("files-toml-1.0.0")
        let text = try String(contentsOf: list, encoding: .utf8)
        return text.split(whereSeparator: \.isNewline).map(String.init)
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".toml") }
    }

    static func bytes(of path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: suiteDirectory.appendingPathComponent(path)))
    }

    func testEveryInvalidFileIsRefusedWithAPosition() throws {
        let files = try Self.listedFiles(withPrefix: "invalid/")
        XCTAssertGreaterThan(files.count, 400)
        var accepted: [String] = []
        var refused = 0
        for file in files {
            do {
                _ = try TOMLReader.parse(try Self.bytes(of: file))
                accepted.append(file)
            } catch let error as TOMLError {
                XCTAssertGreaterThanOrEqual(error.line, 1, file)
                XCTAssertGreaterThanOrEqual(error.column, 1, file)
                XCTAssertFalse(error.message.isEmpty, file)
                refused += 1
            }
        }
        print("toml-test invalid: \(refused)/\(files.count) refused")
        XCTAssertEqual(accepted, [], "accepted invalid files")
    }

    func testEveryValidFileParsesToTheExpectedValues() throws {
        let files = try Self.listedFiles(withPrefix: "valid/")
        XCTAssertGreaterThan(files.count, 200)
        var failures: [String] = []
        var passed = 0
        for file in files where Self.skippedValidFiles[file] == nil {
            let jsonPath = String(file.dropLast(".toml".count)) + ".json"
            let expected = try JSONSerialization.jsonObject(
                with: Data(try Self.bytes(of: jsonPath)), options: [.fragmentsAllowed])
            do {
                let table = try TOMLReader.parse(try Self.bytes(of: file))
                if let difference = Self.difference(.table(table), expected, path: "") {
                    failures.append("\(file): \(difference)")
                } else {
                    passed += 1
                }
            } catch let error as TOMLError {
                failures.append("\(file): refused: \(error)")
            }
        }
        print("toml-test valid: \(passed)/\(files.count) parsed as expected, \(Self.skippedValidFiles.count) skipped")
        XCTAssertEqual(failures, [], "valid files not parsed as expected")
    }

    // MARK: - Comparing with the typed JSON

    /// Nil when `value` matches the toml-test JSON `expected`, else what differs.
    static func difference(_ value: TOMLValue, _ expected: Any, path: String) -> String? {
        if let object = expected as? [String: Any], object.count == 2,
            let type = object["type"] as? String, let text = object["value"] as? String
        {
            return scalarDifference(value, type: type, text: text, path: path)
        }
        if let object = expected as? [String: Any] {
            guard case .table(let table) = value else { return "\(path): expected a table, got \(value)" }
            if Set(table.keys) != Set(object.keys) {
                return "\(path): keys \(table.keys.sorted()) != expected \(object.keys.sorted())"
            }
            guard table.keys.count == table.count, Set(table.keys).count == table.count else {
                return "\(path): key list and count disagree"
            }
            for key in table.keys {
                guard let child = table[key], let childExpected = object[key] else {
                    return "\(path).\(key): missing"
                }
                if let difference = difference(child, childExpected, path: "\(path).\(key)") {
                    return difference
                }
            }
            return nil
        }
        if let array = expected as? [Any] {
            guard case .array(let elements) = value else { return "\(path): expected an array, got \(value)" }
            guard elements.count == array.count else {
                return "\(path): \(elements.count) elements, expected \(array.count)"
            }
            for (index, (element, elementExpected)) in zip(elements, array).enumerated() {
                if let difference = difference(element, elementExpected, path: "\(path)[\(index)]") {
                    return difference
                }
            }
            return nil
        }
        return "\(path): unexpected JSON \(expected)"
    }

    static func scalarDifference(_ value: TOMLValue, type: String, text: String, path: String) -> String? {
        let mismatch = "\(path): got \(value), expected \(type) \(text)"
        switch (type, value) {
        case ("string", .string(let string)):
            return string == text ? nil : mismatch
        case ("integer", .integer(let integer)):
            return Int64(text) == integer ? nil : mismatch
        case ("bool", .boolean(let boolean)):
            return String(boolean) == text ? nil : mismatch
        case ("float", .float(let float)):
            switch text {
            case "nan", "+nan", "-nan": return float.isNaN ? nil : mismatch
            case "inf", "+inf": return float == .infinity ? nil : mismatch
            case "-inf": return float == -.infinity ? nil : mismatch
            default:
                guard let number = Double(text) else { return mismatch }
                if number == float { return nil }
                return abs(number - float) <= abs(number) * 1e-15 ? nil : mismatch
            }
        case ("datetime", .offsetDateTime(let string)),
            ("datetime-local", .localDateTime(let string)),
            ("date-local", .localDate(let string)),
            ("time-local", .localTime(let string)):
            return normalizedDateTime(string) == normalizedDateTime(text) ? nil : mismatch
        default:
            return mismatch
        }
    }

    /// As the suite's README asks: separator and letters in one case, offsets +00:00/-00:00 as Z,
    /// fractional seconds compared to millisecond precision.
    static func normalizedDateTime(_ text: String) -> String? {
        let pattern = #"^(\d{4}-\d{2}-\d{2})?[Tt ]?(\d{2}:\d{2}:\d{2})?(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?$"#
        guard let expression = try? NSRegularExpression(pattern: pattern),
            let match = expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text))
        else { return nil }
        func group(_ index: Int) -> String {
            guard let range = Range(match.range(at: index), in: text) else { return "" }
            return String(text[range])
        }
        var result = group(1)
        if !group(2).isEmpty {
            let fraction = (group(3) + "000").prefix(3)
            result += (result.isEmpty ? "" : "T") + group(2) + "." + fraction
        }
        let offset = group(4).uppercased()
        result += (offset == "+00:00" || offset == "-00:00") ? "Z" : offset
        return result
    }
}
