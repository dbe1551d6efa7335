import Foundation
import XCTest

@testable import GatehouseCrypto

/// The published vectors of the Fernet specification (fernet/spec: generate.json, verify.json,
/// invalid.json), read from `../shared/testdata/fernet-spec` beside the repository.
final class FernetSpecTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/testdata/fernet-spec").standardizedFileURL

    private func cases(_ name: String) throws -> [[String: Any]] {
        let url = Self.directory.appendingPathComponent(name)
        let data = try Data(contentsOf: url)
        let list = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]], name)
        XCTAssertFalse(list.isEmpty, name)
        return list
    }

    /// The spec writes times as RFC 3339 with an offset ("1985-10-26T01:20:00-07:00").
    private func epochSeconds(_ text: Any?) throws -> Int64 {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let date = try XCTUnwrap(formatter.date(from: try XCTUnwrap(text as? String)), "\(String(describing: text))")
        return Int64(date.timeIntervalSince1970)
    }

    private func key(_ item: [String: Any]) throws -> FernetKey {
        try FernetKey(encoded: try XCTUnwrap(item["secret"] as? String))
    }

    func testGenerateVectors() throws {
        for item in try cases("generate.json") {
            let iv = try XCTUnwrap(item["iv"] as? [Int]).map { UInt8($0) }
            let source = try XCTUnwrap(item["src"] as? String)
            let token = Fernet(key: try key(item)).encrypt(
                Array(source.utf8), now: try epochSeconds(item["now"]), iv: iv)
            XCTAssertEqual(token, item["token"] as? String)
        }
    }

    func testVerifyVectors() throws {
        for item in try cases("verify.json") {
            let token = try XCTUnwrap(item["token"] as? String)
            let ttl = (item["ttl_sec"] as? Int).map(Int64.init)
            let plaintext = try Fernet(key: try key(item)).decrypt(token, ttl: ttl, now: try epochSeconds(item["now"]))
            XCTAssertEqual(String(decoding: plaintext, as: UTF8.self), item["src"] as? String)
        }
    }

    func testInvalidVectorsAreRefused() throws {
        var seen: [String: FernetError.Reason] = [:]
        for item in try cases("invalid.json") {
            let description = try XCTUnwrap(item["desc"] as? String)
            let token = try XCTUnwrap(item["token"] as? String)
            let ttl = (item["ttl_sec"] as? Int).map(Int64.init)
            let now = try epochSeconds(item["now"])
            let fernet = Fernet(key: try key(item))
            do {
                _ = try fernet.decrypt(token, ttl: ttl, now: now)
                XCTFail("accepted: \(description)")
            } catch {
                seen[description] = error.reason
            }
        }
        XCTAssertEqual(seen.count, 8)
        // Where the spec says why, the refusal says the same.
        XCTAssertEqual(seen["incorrect mac"], .badSignature)
        XCTAssertEqual(seen["too short"], .malformed)
        XCTAssertEqual(seen["invalid base64"], .malformed)
        XCTAssertEqual(seen["payload size not multiple of block size"], .malformed)
        XCTAssertEqual(seen["expired TTL"], .expired)
        // These three carry MACs made for other bytes, so the MAC check (which runs first) refuses them.
        for name in [
            "payload padding error", "far-future TS (unacceptable clock skew)", "incorrect IV (causes padding error)",
        ] {
            XCTAssertNotNil(seen[name], name)
        }
    }
}
