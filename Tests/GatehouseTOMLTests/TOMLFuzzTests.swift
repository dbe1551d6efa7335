import Foundation
import GatehouseTOML
import XCTest

/// The reader reads operator files and will be fuzzed: random truncations, byte flips, insertions and
/// token soups of the valid corpus must end in a value or a `TOMLError` with a position, never a trap.
/// The seed is fixed so that a failure reproduces.
final class TOMLFuzzTests: XCTestCase {
    /// SplitMix64: small, deterministic, good enough to pick offsets and bytes.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var value = state
            value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
            value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
            return value ^ (value >> 31)
        }
    }

    /// Bytes that matter to the grammar, plus a few that must be refused.
    static let interestingBytes: [UInt8] =
        Array("[]{}\"'=.,#\n\r\t\\ _-+:eEx0179TZtfn".utf8) + [0x00, 0x7F, 0xC3, 0xA9, 0xFF, 0xEF]

    static func corpus() throws -> [[UInt8]] {
        let files = try TOMLTestSuiteTests.listedFiles(withPrefix: "valid/")
        var documents = try files.map { try TOMLTestSuiteTests.bytes(of: $0) }
        documents.append(Array(TOMLReaderTests.productExample.utf8))
        return documents
    }

    /// Parses and checks the outcome is well formed.
    static func check(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try TOMLReader.parse(bytes)
        } catch {
            XCTAssertGreaterThanOrEqual(error.line, 1, file: file, line: line)
            XCTAssertGreaterThanOrEqual(error.column, 1, file: file, line: line)
        }
    }

    func testTruncationsNeverTrap() throws {
        var generator = Generator(state: 0x6761_7465_686F_7573)
        let documents = try Self.corpus()
        for _ in 0..<2_000 {
            let document = documents.randomElement(using: &generator) ?? []
            let length = Int.random(in: 0...document.count, using: &generator)
            Self.check(Array(document.prefix(length)))
        }
    }

    func testByteMutationsNeverTrap() throws {
        var generator = Generator(state: 0x746F_6D6C_2D66_757A)
        let documents = try Self.corpus()
        for _ in 0..<4_000 {
            var bytes = documents.randomElement(using: &generator) ?? []
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let offset = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<5, using: &generator) {
                case 0 where !bytes.isEmpty:
                    bytes[offset] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
                case 1 where !bytes.isEmpty:
                    bytes[offset] = Self.interestingBytes.randomElement(using: &generator) ?? 0
                case 2:
                    bytes.insert(Self.interestingBytes.randomElement(using: &generator) ?? 0, at: offset)
                case 3 where !bytes.isEmpty:
                    bytes.remove(at: offset)
                default:
                    let end = min(bytes.count, offset + Int.random(in: 0...16, using: &generator))
                    bytes.insert(contentsOf: bytes[offset..<end], at: offset)
                }
            }
            Self.check(bytes)
        }
    }

    func testTokenSoupNeverTraps() {
        var generator = Generator(state: 0x7375_7270_0000_0001)
        let tokens = [
            "[", "]", "[[", "]]", "{", "}", "=", ".", ",", "\n", "\r\n", " ", "#", "a", "b", "\"s\"", "'l'", "\"\"\"",
            "'''", "1", "-0", "0x1F", "1e5", "1.5", "inf", "nan", "true", "1979-05-27", "T07:32:00", "Z", "+01:00",
            "07:32:00", "\\", "\\u00e9", "_", "\t", "\"", "'",
        ]
        for _ in 0..<2_000 {
            var text = ""
            for _ in 0..<Int.random(in: 1...60, using: &generator) {
                text += tokens.randomElement(using: &generator) ?? ""
            }
            Self.check(Array(text.utf8))
        }
    }
}
