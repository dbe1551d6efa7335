import Foundation
import GatehouseCrypto
import XCTest

@testable import GatehouseConfig

/// `enc:` values (PRODUCT.md §8) through the configuration loader: decrypted wherever a string is read
/// (file or environment, scalars and arrays), masked in the effective settings, and every refusal names
/// the file, line and key (or the variable), never the value.
final class SecretTextTests: ConfigTestCase {
    let password = "pässword"
    let salt = "gatehouse-salt"
    /// Made by Python's `cryptography.fernet` with the key PBKDF2-HMAC-SHA256(password, salt, 100000, 32).
    let pythonToken =
        "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODxn0tGUsG7ZT4QjiFVtHwSBabW39YZG42Dlr9_6vGDIqnuGzZpGV-rdo5INqMvVzqepqUoUreu1X4hwwnt4u3Vrfz6mu8tbBsD3sCv0MbtPk"
    let pythonPlaintext = "the plain secret value 0123456789"

    var environment: [String: String] {
        baseEnvironment.merging(["MCP_ENCRYPTION_PASSWORD": password, "MCP_ENCRYPTION_SALT": salt]) { $1 }
    }

    func encrypt(_ plain: String, password: String? = nil, salt: String? = nil) throws -> String {
        let fernet = try SecretText.fernet(environment: [
            "MCP_ENCRYPTION_PASSWORD": password ?? self.password, "MCP_ENCRYPTION_SALT": salt ?? self.salt,
        ])
        return "enc:" + fernet.encrypt(Array(plain.utf8))
    }

    func testPythonTokenDecryptsAsJWTSecret() throws {
        let loaded = try parse("[auth.jwt]\nsecret = \"enc:\(pythonToken)\"\n", environment: environment)
        XCTAssertEqual(loaded.config.auth.jwt.secret, Array(pythonPlaintext.utf8))
        let row = try XCTUnwrap(loaded.effectiveSettings.first { $0.key == "auth.jwt.secret" })
        XCTAssertEqual(row.value, "***")
        XCTAssertEqual(row.source, .file)
        // An encrypted secret is not "written in plain text".
        XCTAssertFalse(loaded.warnings.contains { $0.contains("auth.jwt.secret") })
        XCTAssertFalse(loaded.effectiveSettings.contains { $0.value.contains(pythonToken) })
    }

    func testAnyStringInFileOrEnvironmentMayBeEncrypted() throws {
        let text = """
            [upstream]
            identity_header = "\(try encrypt("X-Who"))"

            [cors]
            origins = ["https://app.example", "\(try encrypt("https://admin.example"))"]

            [auth]
            api_keys = ["\(try encrypt("plain-key-from-enc-0123456789"))"]

            [rate_limit]
            redis_url = "\(try encrypt("redis://:hunter2@127.0.0.1:6379/0"))"
            backend = "redis"
            """
        var env = environment
        env["MCP_JWT_SECRET"] = try encrypt(String(repeating: "s3cr3t-", count: 6))
        let loaded = try parse(text, environment: env)
        let c = loaded.config
        XCTAssertEqual(c.upstream.identityHeader, "X-Who")
        XCTAssertEqual(c.cors.origins, ["https://app.example", "https://admin.example"])
        XCTAssertTrue(
            c.auth.apiKeys.contains { $0.digest == Digest.sha256(Array("plain-key-from-enc-0123456789".utf8)) })
        XCTAssertEqual(c.rateLimit.redisURL?.password, "hunter2")
        XCTAssertEqual(c.auth.jwt.secret, Array(String(repeating: "s3cr3t-", count: 6).utf8))
        for key in ["upstream.identity_header", "auth.jwt.secret", "rate_limit.redis_url"] {
            XCTAssertEqual(loaded.effectiveSettings.first { $0.key == key }?.value, "***", key)
        }
        XCTAssertEqual(loaded.effectiveSettings.first { $0.key == "auth.jwt.secret" }?.source, .environment)
        // Encrypted secrets raise no plain-text warning. (An enc: API key is still reported as plain by
        // the key resolver, which sees only the decrypted text; the production checklist does not.)
        XCTAssertFalse(
            loaded.warnings.contains { $0.contains("JWT secret") || $0.contains("Redis password") },
            "\(loaded.warnings)")
    }

    func testEncryptedAPIKeyInTheEnvironment() throws {
        var env = environment
        env["MCP_API_KEYS"] = "sha256:" + String(repeating: "ab", count: 32) + "," + (try encrypt("env-key-0123456789"))
        let keys = try parse("", environment: env).config.auth.apiKeys
        XCTAssertTrue(keys.contains { $0.digest == Digest.sha256(Array("env-key-0123456789".utf8)) })
    }

    func testWrongPasswordOrSaltNamesTheKeyNotTheValue() throws {
        let token = try encrypt(pythonPlaintext)
        let expected =
            "gateway.conf:2: auth.jwt.secret: cannot decrypt the enc: value: wrong MCP_ENCRYPTION_PASSWORD or MCP_ENCRYPTION_SALT, or an altered token"
        for (variable, value) in [("MCP_ENCRYPTION_PASSWORD", "wrong"), ("MCP_ENCRYPTION_SALT", "other-salt")] {
            var env = environment
            env[variable] = value
            assertRefused("[auth.jwt]\nsecret = \"\(token)\"\n", environment: env, expected)
        }
        // Through the environment the variable is named instead.
        var env = environment
        env["MCP_ENCRYPTION_PASSWORD"] = "wrong"
        env["MCP_JWT_SECRET"] = token
        do {
            _ = try parse("", environment: env)
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(
                error.description,
                "MCP_JWT_SECRET: cannot decrypt the enc: value: wrong MCP_ENCRYPTION_PASSWORD or MCP_ENCRYPTION_SALT, or an altered token"
            )
            XCTAssertFalse(error.description.contains(token))
            XCTAssertFalse(error.description.contains("wrong\""))
        }
    }

    func testTamperedAndMalformedTokens() throws {
        let token = try encrypt("abc")
        var bytes = Array(token.utf8)
        bytes[30] = bytes[30] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        assertRefused(
            "[upstream]\nidentity_header = \"\(String(decoding: bytes, as: UTF8.self))\"\n", environment: environment,
            "gateway.conf:2: upstream.identity_header: cannot decrypt the enc: value: wrong MCP_ENCRYPTION_PASSWORD or MCP_ENCRYPTION_SALT, or an altered token"
        )
        for bad in ["enc:", "enc:gAAAAABlZ...", "enc: " + token.dropFirst(4), token + "\n"] {
            assertRefused(
                "[upstream]\nidentity_header = \"\(bad.replacingOccurrences(of: "\n", with: "\\n"))\"\n",
                environment: environment,
                "gateway.conf:2: upstream.identity_header: the enc: value is not a Fernet token (URL-safe base64 with padding after \"enc:\")"
            )
        }
    }

    func testMissingPasswordOrSalt() throws {
        let text = "[auth.jwt]\nsecret = \"\(try encrypt("x"))\"\n"
        assertRefused(text, "gateway.conf:2: auth.jwt.secret: an encrypted (enc:) value needs MCP_ENCRYPTION_PASSWORD")
        var env = baseEnvironment
        env["MCP_ENCRYPTION_PASSWORD"] = password
        assertRefused(
            text, environment: env,
            "gateway.conf:2: auth.jwt.secret: an encrypted (enc:) value needs MCP_ENCRYPTION_SALT (there is no built-in salt)"
        )
        env["MCP_ENCRYPTION_SALT"] = ""  // empty counts as unset: no silent empty salt
        assertRefused(
            text, environment: env,
            "gateway.conf:2: auth.jwt.secret: an encrypted (enc:) value needs MCP_ENCRYPTION_SALT (there is no built-in salt)"
        )
        XCTAssertThrowsError(try SecretText.fernet(environment: ["MCP_ENCRYPTION_SALT": "s"])) {
            XCTAssertEqual(($0 as? MissingEncryptionSetting)?.description, "MCP_ENCRYPTION_PASSWORD is not set")
        }
        XCTAssertThrowsError(try SecretText.fernet(environment: ["MCP_ENCRYPTION_PASSWORD": "p"])) {
            XCTAssertEqual(
                ($0 as? MissingEncryptionSetting)?.description,
                "MCP_ENCRYPTION_SALT is not set (there is no built-in salt)")
        }
    }

    func testDecryptedTextMustBeUTF8AndIsNotDecryptedTwice() throws {
        let fernet = try SecretText.fernet(environment: environment)
        let binary = "enc:" + fernet.encrypt([0xff, 0xfe, 0x00])
        assertRefused(
            "[upstream]\nidentity_header = \"\(binary)\"\n", environment: environment,
            "gateway.conf:2: upstream.identity_header: the decrypted enc: value is not UTF-8 text")
        // A value whose plain text itself starts with "enc:" is taken as is: one layer only.
        let inner = try encrypt("X-Inner")
        let outer = try encrypt(inner)
        XCTAssertEqual(try SecretText.reveal(outer, environment: environment), inner)
    }

    func testNoTimeLimitOnConfigurationTokens() throws {
        let fernet = try SecretText.fernet(environment: environment)
        let old = "enc:" + fernet.encrypt(Array("X-Old".utf8), now: 0)  // stamped 1970
        XCTAssertEqual(try SecretText.reveal(old, environment: environment), "X-Old")
    }

    func testPlainValuesPassUnchanged() throws {
        XCTAssertEqual(try SecretText.reveal("plain", environment: [:]), "plain")
        XCTAssertEqual(try SecretText.reveal("", environment: [:]), "")
        XCTAssertEqual(try SecretText.reveal("Enc:not-a-prefix", environment: [:]), "Enc:not-a-prefix")
    }

    func testKeyIsDerivedOncePerPasswordAndSalt() throws {
        let a = SecretText.derivedKey(password: Array("p".utf8), salt: Array("s".utf8))
        let again = SecretText.derivedKey(password: Array("p".utf8), salt: Array("s".utf8))
        let shifted = SecretText.derivedKey(password: Array("ps".utf8), salt: [])
        XCTAssertEqual(a.encoded, again.encoded)
        XCTAssertEqual(a.encoded, FernetKey.derive(password: Array("p".utf8), salt: Array("s".utf8)).encoded)
        XCTAssertNotEqual(a.encoded, shifted.encoded)
        // Many encrypted values cost one derivation: 50 reveals finish far below 50 × PBKDF2.
        let token = try encrypt("X-Fast")
        let start = Date()
        for _ in 0..<50 { XCTAssertEqual(try SecretText.reveal(token, environment: environment), "X-Fast") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.0)
    }
}
