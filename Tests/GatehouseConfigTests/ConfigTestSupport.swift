import Foundation
import XCTest

@testable import GatehouseConfig

/// Shared fixtures: a temporary folder with stand-in certificate files, and helpers that parse
/// configuration text the way `gatehouse` reads `gateway.conf`.
class ConfigTestCase: XCTestCase {
    var folder: URL!
    var certPath: String { folder.appendingPathComponent("cert.pem").path }
    var keyPath: String { folder.appendingPathComponent("key.pem").path }
    var caPath: String { folder.appendingPathComponent("ca.pem").path }

    /// A credential and plain HTTP: the smallest environment in which a configuration is valid.
    let baseEnvironment = ["MCP_API_KEYS": "test-key-0123456789", "MCP_REQUIRE_HTTPS": "false"]

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for path in [certPath, keyPath, caPath] {
            try Data("-----BEGIN PLACEHOLDER-----\n".utf8).write(to: URL(fileURLWithPath: path))
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func write(_ text: String, to name: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func parse(_ text: String, environment: [String: String]? = nil) throws(ConfigError) -> LoadedConfig {
        try ConfigLoader.parse(
            text: Array(text.utf8), fileName: "gateway.conf", environment: environment ?? baseEnvironment)
    }

    /// Asserts that `text` is refused with exactly `expected` (the one-line `file:line: key: message`).
    func assertRefused(
        _ text: String, environment: [String: String]? = nil, _ expected: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        do throws(ConfigError) {
            _ = try parse(text, environment: environment)
            XCTFail("accepted, expected: \(expected)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.description, expected, file: file, line: line)
        }
    }

    /// The repository root, found from this file's path.
    var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }
}
