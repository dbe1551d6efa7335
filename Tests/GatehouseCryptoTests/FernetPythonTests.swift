import Foundation
import XCTest

@testable import GatehouseCrypto

/// Round trips with Python's `cryptography.fernet`, both ways, with the key derived from a password and
/// a salt exactly as PRODUCT.md §8 (and the seed) does. Skipped when no Python with `cryptography` is found
/// ($E2E_V2_PYTHON, the end-to-end venv, python3); the e2e suite repeats the check through the CLI.
final class FernetPythonTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A Python interpreter that can import `cryptography`, or nil.
    static let python: URL? = {
        var candidates: [String] = []
        if let fromEnvironment = ProcessInfo.processInfo.environment["E2E_V2_PYTHON"] {
            candidates.append(fromEnvironment)
        }
        candidates += [
            repository.appendingPathComponent(".venv-e2e/bin/python").path, "/usr/bin/python3",
            "/usr/local/bin/python3",
        ]
        for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
            let url = URL(fileURLWithPath: path)
            if let output = try? run(url, script: "import cryptography.fernet; print('ok')", input: Data()),
                String(decoding: output, as: UTF8.self).hasPrefix("ok")
            {
                return url
            }
        }
        return nil
    }()

    static func run(_ python: URL, script: String, input: Data) throws -> Data {
        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", script]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "python", code: Int(process.terminationStatus))
        }
        return data
    }

    private static let prelude = #"""
        import base64, json, sys
        from cryptography.fernet import Fernet, InvalidToken
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
        def fernet(password, salt):
            kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt.encode(), iterations=100000)
            return Fernet(base64.urlsafe_b64encode(kdf.derive(password.encode())))
        job = json.load(sys.stdin)
        f = fernet(job["password"], job["salt"])
        """#

    private let password = "correct horse battery staple ✓"
    private let salt = "gatehouse/test-salt"
    private let plaintexts = [
        "", "x", "sixteen bytes!!!", "a JWT secret of at least thirty-two bytes, really",
        "ünïcödé → 秘密 🔐", String(repeating: "long value ", count: 100), "line\nbreaks\r\nand\ttabs",
    ]

    private func python() throws -> URL {
        guard let python = Self.python else { throw XCTSkip("no Python with the cryptography package") }
        return python
    }

    func testTokensFromPythonDecryptHere() throws {
        let script =
            Self.prelude + "\n" + #"""
                json.dump([f.encrypt(p.encode()).decode() for p in job["plaintexts"]], sys.stdout)
                """#
        let job = try JSONSerialization.data(withJSONObject: [
            "password": password, "salt": salt, "plaintexts": plaintexts,
        ])
        let tokens = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Self.run(try python(), script: script, input: job)) as? [String])
        XCTAssertEqual(tokens.count, plaintexts.count)
        let here = Fernet(key: FernetKey.derive(password: Array(password.utf8), salt: Array(salt.utf8)))
        for (token, plaintext) in zip(tokens, plaintexts) {
            XCTAssertEqual(String(decoding: try here.decrypt(token, ttl: 3600), as: UTF8.self), plaintext)
        }
        // Another password or another salt cannot read them.
        let wrongPassword = Fernet(key: FernetKey.derive(password: Array("wrong".utf8), salt: Array(salt.utf8)))
        let wrongSalt = Fernet(key: FernetKey.derive(password: Array(password.utf8), salt: Array("other".utf8)))
        for token in tokens {
            XCTAssertThrowsError(try wrongPassword.decrypt(token))
            XCTAssertThrowsError(try wrongSalt.decrypt(token))
        }
    }

    func testTokensFromHereDecryptInPython() throws {
        let here = Fernet(key: FernetKey.derive(password: Array(password.utf8), salt: Array(salt.utf8)))
        let tokens = plaintexts.map { here.encrypt(Array($0.utf8)) }
        var tampered = Array(tokens[1].utf8)
        tampered[20] = tampered[20] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let script =
            Self.prelude + "\n" + #"""
                out = []
                for t in job["tokens"]:
                    try:
                        out.append(f.decrypt(t.encode(), ttl=3600).decode())
                    except InvalidToken:
                        out.append(None)
                json.dump(out, sys.stdout)
                """#
        let job = try JSONSerialization.data(
            withJSONObject: [
                "password": password, "salt": salt, "tokens": tokens + [String(decoding: tampered, as: UTF8.self)],
            ])
        let results = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Self.run(try python(), script: script, input: job)) as? [Any])
        XCTAssertEqual(results.count, plaintexts.count + 1)
        for (result, plaintext) in zip(results, plaintexts) {
            XCTAssertEqual(result as? String, plaintext)
        }
        XCTAssertTrue(results.last is NSNull, "Python accepted a tampered token")
    }
}
