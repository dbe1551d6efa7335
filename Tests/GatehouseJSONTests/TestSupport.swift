import Foundation
import GatehouseJSON
import XCTest

/// Paths and helpers shared by the JSON tests.
enum TestSupport {
    /// The repository root: this file is `<root>/Tests/GatehouseJSONTests/TestSupport.swift`.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/testdata` beside the clone (as /work/shared beside /work/main, and in CI).
    static let testData = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata")

    static let jsonTestSuite = testData.appendingPathComponent("JSONTestSuite/test_parsing")

    /// Parses and returns the value or the error.
    static func read(_ bytes: [UInt8], maxDepth: Int = 64) -> Result<JSONValue, JSONError> {
        Result { () throws(JSONError) -> JSONValue in try JSONReader.parse(bytes, maxDepth: maxDepth) }
    }

    static func read(_ text: String, maxDepth: Int = 64) -> Result<JSONValue, JSONError> {
        read(Array(text.utf8), maxDepth: maxDepth)
    }

    /// The error for `text`, or nil when it was accepted.
    static func error(_ text: String, maxDepth: Int = 64) -> JSONError? {
        if case .failure(let e) = read(text, maxDepth: maxDepth) { return e }
        return nil
    }

    static func value(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        switch read(text) {
        case .success(let v): return v
        case .failure(let e):
            XCTFail("refused \(text): \(e)", file: file, line: line)
            return nil
        }
    }
}

/// A small deterministic generator (SplitMix64), so every run sees the same documents.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0..<items.count)] }
}
