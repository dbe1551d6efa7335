import Foundation
import GatehouseTOML
import XCTest

@testable import GatehouseConfig

/// `gatehouse check --production` (PRODUCT.md §9): the exact line of every item, passing and failing,
/// with the time and the certificate date pinned; the warnings about files other users can read.
final class ProductionChecklistTests: ConfigTestCase {
    let now: Int64 = 1_790_000_000  // 2026-09-21T14:13:20Z
    let day: Int64 = 86_400
    let strongSecret = "Zq3v8xW1pL0nR7tY2bK9cM4hJ6dF5gS_aE-uQiOoPw"  // 42 bytes, many distinct
    let hashedKey = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
    let privateFile: UInt32 = 0o100600

    /// A configuration that passes every item (with `strongSecret` in MCP_JWT_SECRET).
    var goodText: String {
        """
        [tls]
        cert = "\(certPath)"
        key = "\(keyPath)"

        [auth]
        methods = ["api_key", "jwt"]
        api_keys = ["\(hashedKey)"]

        [mcp]
        sanitize = "reject"
        """
    }

    var goodEnvironment: [String: String] { ["MCP_JWT_SECRET": strongSecret] }

    func checklist(
        _ text: String, environment: [String: String]? = nil, notAfter: Int64? = nil, modes: [String: UInt32]? = nil
    ) throws -> ProductionChecklist {
        let loaded = try parse(text, environment: environment ?? goodEnvironment)
        let observations = ProductionChecklist.Observations(
            now: now, certificateNotAfter: notAfter ?? now + 90 * day, configurationText: Array(text.utf8),
            fileModes: modes ?? ["gateway.conf": privateFile, keyPath: privateFile])
        return ProductionChecklist(loaded, observations: observations)
    }

    func line(_ checklist: ProductionChecklist, _ name: String) -> String? {
        checklist.items.first { $0.name == name }?.line
    }

    func testEveryItemPassesExactLines() throws {
        let result = try checklist(goodText)
        XCTAssertTrue(result.isPassed)
        XCTAssertEqual(
            result.lines,
            [
                "[ok] API keys configured: 1 key",
                "[ok] JWT secret strong or JWKS used: keys from auth.jwt.secret (42 bytes)",
                "[ok] HTTPS enforced: tls.require_https, TLS 1.2 or newer",
                "[ok] rate limiting enabled: 100 burst, 10/s per ip (local)",
                "[ok] input validation on: mcp.paths [\"/mcp\"], sanitize \"reject\"",
                "[ok] security logging on: security events go to \"stdout\"",
                "[ok] CORS origins explicit: [\"http://localhost:3000\", \"https://localhost:3000\"]",
                "[ok] security headers complete: all 6 security headers are set",
                "[ok] no plain-text secret in the file: none in gateway.conf",
                "[ok] certificate valid for more than 14 days: expires 2026-12-20T14:13:20Z (in 90 days)",
                "production checklist: all 10 items ok",
            ])
    }

    func testWeakenedConfigurationFailsExactLines() throws {
        let text = """
            [tls]
            require_https = false

            [auth]
            api_keys = ["plain-api-key-0123456789"]

            [auth.jwt]
            secret = "\(strongSecret)"

            [rate_limit]
            enabled = false

            [cors]
            origins = ["*"]

            [headers]
            "X-Frame-Options" = ""
            "Content-Security-Policy" = ""

            [mcp]
            paths = []

            [logging]
            security_log = "off"
            """
        let result = try checklist(text, environment: [:], modes: ["gateway.conf": 0o100644])
        XCTAssertFalse(result.isPassed)
        XCTAssertEqual(
            result.lines,
            [
                "[ok] API keys configured: 1 key",
                "[ok] JWT secret strong or JWKS used: keys from auth.jwt.secret (42 bytes)",
                "[FAIL] HTTPS enforced: tls.require_https is false and no certificate is set: plain HTTP; fix: set tls.require_https = true (or MCP_REQUIRE_HTTPS=true) with tls.cert and tls.key",
                "[FAIL] rate limiting enabled: rate_limit.enabled is false; fix: set rate_limit.enabled = true (capacity and refill_per_second size the buckets)",
                "[FAIL] input validation on: mcp.paths is empty (no MCP message is inspected) and mcp.sanitize is \"off\"; fix: set mcp.sanitize = \"reject\" (or \"escape\") and list the MCP endpoints in mcp.paths",
                "[FAIL] security logging on: logging.security_log is \"off\"; fix: set logging.security_log to \"stdout\", \"stderr\" or a file path",
                "[FAIL] CORS origins explicit: cors.origins contains \"*\" (any web page may call); fix: list the exact origins of your web clients in cors.origins (or MCP_CORS_ORIGINS)",
                "[FAIL] security headers complete: missing X-Frame-Options, Content-Security-Policy; fix: remove the \"\" overrides from [headers] (the defaults are in gateway.conf.example)",
                "[FAIL] no plain-text secret in the file: gateway.conf:5: auth.api_keys (1 plain key), gateway.conf:8: auth.jwt.secret; fix: store API keys as sha256: hashes (gatehouse key hash) and other secrets as enc: values (gatehouse secret encrypt) or in the environment",
                "[FAIL] certificate valid for more than 14 days: no certificate is configured; fix: set tls.cert and tls.key (or MCP_TLS_CERT_PATH and MCP_TLS_KEY_PATH)",
                "warning: the configuration file \"gateway.conf\" is readable by other users (mode 0644); fix: chmod o-rwx gateway.conf",
                "production checklist: 8 of 10 items failed",
            ])
    }

    func testCertificateBoundaries() throws {
        let name = ProductionChecklist.Name.certificate
        XCTAssertEqual(
            line(try checklist(goodText, notAfter: now + 14 * day), name),
            "[FAIL] certificate valid for more than 14 days: expires 2026-10-05T14:13:20Z (in 14 days); fix: renew the certificate (tls.cert) and send SIGHUP"
        )
        XCTAssertEqual(
            line(try checklist(goodText, notAfter: now + 14 * day + 1), name),
            "[ok] certificate valid for more than 14 days: expires 2026-10-05T14:13:21Z (in 14 days)")
        XCTAssertEqual(
            line(try checklist(goodText, notAfter: now + 3 * day + 5), name),
            "[FAIL] certificate valid for more than 14 days: expires 2026-09-24T14:13:25Z (in 3 days); fix: renew the certificate (tls.cert) and send SIGHUP"
        )
        XCTAssertEqual(
            line(try checklist(goodText, notAfter: now - 1), name),
            "[FAIL] certificate valid for more than 14 days: expired on 2026-09-21T14:13:19Z; fix: renew the certificate (tls.cert) and send SIGHUP"
        )
        XCTAssertEqual(
            line(try checklist(goodText, notAfter: now), name),
            "[FAIL] certificate valid for more than 14 days: expired on 2026-09-21T14:13:20Z; fix: renew the certificate (tls.cert) and send SIGHUP"
        )
        let loaded = try parse(goodText, environment: goodEnvironment)
        let broken = ProductionChecklist(
            loaded,
            observations: .init(now: now, certificateError: "tls: the certificate and the private key do not match"))
        XCTAssertEqual(
            line(broken, name),
            "[FAIL] certificate valid for more than 14 days: tls: the certificate and the private key do not match; fix: fix tls.cert and tls.key"
        )
    }

    func testHTTPSWithCertificateButNotRequired() throws {
        let text = goodText.replacingOccurrences(of: "[tls]\n", with: "[tls]\nrequire_https = false\n")
        XCTAssertEqual(
            line(try checklist(text), ProductionChecklist.Name.https),
            "[FAIL] HTTPS enforced: tls.require_https is false; fix: set tls.require_https = true (or MCP_REQUIRE_HTTPS=true) with tls.cert and tls.key"
        )
        XCTAssertEqual(
            line(try checklist(goodText), ProductionChecklist.Name.https),
            "[ok] HTTPS enforced: tls.require_https, TLS 1.2 or newer")
    }

    func testCredentialItemsFollowAuthMethods() throws {
        // Default methods (all three) with API keys only: the JWT item fails and says how to opt out.
        let keysOnly = goodText.replacingOccurrences(of: "methods = [\"api_key\", \"jwt\"]\n", with: "")
        XCTAssertEqual(
            line(try checklist(keysOnly, environment: [:]), ProductionChecklist.Name.jwt),
            "[FAIL] JWT secret strong or JWKS used: auth.methods lists \"jwt\" but no JWT key is configured; fix: set auth.jwt.jwks_url or jwks_file, or a secret of 32+ random bytes (MCP_JWT_SECRET or an enc: value), or remove \"jwt\" from auth.methods"
        )
        let declared = goodText.replacingOccurrences(of: "[\"api_key\", \"jwt\"]", with: "[\"api_key\"]")
        XCTAssertEqual(
            line(try checklist(declared, environment: [:]), ProductionChecklist.Name.jwt),
            "[ok] JWT secret strong or JWKS used: not used (auth.methods does not list \"jwt\")")
        // JWT only: API keys are not used; with "api_key" listed and none configured, that item fails.
        let jwtOnly = goodText.replacingOccurrences(of: "[\"api_key\", \"jwt\"]", with: "[\"jwt\"]")
            .replacingOccurrences(of: "api_keys = [\"\(hashedKey)\"]\n", with: "")
        XCTAssertEqual(
            line(try checklist(jwtOnly), ProductionChecklist.Name.apiKeys),
            "[ok] API keys configured: not used (auth.methods does not list \"api_key\")")
        let noKeys = goodText.replacingOccurrences(of: "api_keys = [\"\(hashedKey)\"]\n", with: "")
        XCTAssertEqual(
            line(try checklist(noKeys), ProductionChecklist.Name.apiKeys),
            "[FAIL] API keys configured: no API key is configured; fix: add the sha256: form of a key from `gatehouse key generate` to auth.api_keys (or MCP_API_KEYS), or remove \"api_key\" from auth.methods"
        )
        let jwks = try write(#"{"keys": []}"#, to: "jwks.json")
        let withJWKS = goodText + "\n[auth.jwt]\njwks_file = \"\(jwks)\"\nalgorithms = [\"RS256\"]\n"
        XCTAssertEqual(
            line(try checklist(withJWKS, environment: [:]), ProductionChecklist.Name.jwt),
            "[ok] JWT secret strong or JWKS used: keys from auth.jwt.jwks_file")
    }

    func testWeakJWTSecrets() throws {
        let fix =
            "; fix: use 32 or more random bytes (e.g. the first line of `gatehouse key generate`), stored as an enc: value or in MCP_JWT_SECRET"
        for (secret, reason) in [
            (String(repeating: "ab", count: 20), "uses fewer than 8 distinct characters"),
            ("your-secret-key-change-in-production-now", "looks like a placeholder value"),
            ("ChangeMe-0123456789-ChangeMe-0123456789", "looks like a placeholder value"),
        ] {
            XCTAssertEqual(
                line(try checklist(goodText, environment: ["MCP_JWT_SECRET": secret]), ProductionChecklist.Name.jwt),
                "[FAIL] JWT secret strong or JWKS used: auth.jwt.secret \(reason)" + fix, secret)
        }
        XCTAssertNil(ProductionChecklist.weakness(ofSecret: Array(strongSecret.utf8)))
        XCTAssertEqual(
            ProductionChecklist.weakness(ofSecret: Array("short".utf8)), "has 5 bytes (at least 32 are needed)")
    }

    func testPlainSecretsAreFoundAndEncryptedOnesAreNot() throws {
        let secretsText = """
            [auth]
            api_keys = ["\(hashedKey)", "SHA256:\(String(repeating: "ab", count: 32))", "enc:gAAAA"]

            [[auth.api_key]]
            name = "bot"
            key = "plain-named-key-0123456789"

            [rate_limit]
            redis_url = "redis://:hunter2@127.0.0.1:6379/0"
            """
        let table = try TOMLReader.parse(secretsText)
        XCTAssertEqual(
            ProductionChecklist.plainSecretLocations(in: table, fileName: "g.conf"),
            ["g.conf:6: auth.api_key.key", "g.conf:9: rate_limit.redis_url (password)"])
        let clean = """
            [auth.jwt]
            secret = "enc:gAAAAAB"

            [rate_limit]
            redis_url = "redis://127.0.0.1:6379/0"
            """
        XCTAssertEqual(ProductionChecklist.plainSecretLocations(in: try TOMLReader.parse(clean), fileName: "g"), [])
    }

    func testEnvironmentOnlyHasNoFile() throws {
        let loaded = try ConfigLoader.load(
            path: nil,
            environment: ["MCP_API_KEYS": "k-0123456789", "MCP_REQUIRE_HTTPS": "false", "GATEHOUSE_CONFIG": ""])
        if loaded.path == nil {
            let result = ProductionChecklist(loaded, observations: .init(now: now))
            XCTAssertEqual(
                line(result, ProductionChecklist.Name.plainSecrets),
                "[ok] no plain-text secret in the file: no configuration file (environment only)")
            XCTAssertEqual(result.warnings, [])
        }
    }

    func testReadableByOthersWarnings() throws {
        let modes: [String: UInt32] = ["gateway.conf": 0o100604, keyPath: 0o100644]
        let result = try checklist(goodText, modes: modes)
        XCTAssertTrue(result.isPassed, "warnings do not fail the checklist")
        XCTAssertEqual(
            result.warnings,
            [
                "the configuration file \"gateway.conf\" is readable by other users (mode 0604); fix: chmod o-rwx gateway.conf",
                "the private key (tls.key) \"\(keyPath)\" is readable by other users (mode 0644); fix: chmod o-rwx \(keyPath)",
            ])
        // Group-readable is not "others".
        XCTAssertEqual(try checklist(goodText, modes: ["gateway.conf": 0o100640, keyPath: 0o100640]).warnings, [])
    }

    /// `Observations.gather` reads the real file and its mode.
    func testGatherReadsFileAndModes() throws {
        let path = try write(goodText, to: "gateway.conf")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyPath)
        let loaded = try ConfigLoader.load(path: path, environment: goodEnvironment)
        let observations = ProductionChecklist.Observations.gather(
            for: loaded, now: now, certificateNotAfter: now + 30 * day)
        XCTAssertEqual(observations.configurationText, Array(goodText.utf8))
        XCTAssertEqual(observations.fileModes[path].map { $0 & 0o777 }, 0o644)
        XCTAssertEqual(observations.fileModes[keyPath].map { $0 & 0o777 }, 0o600)
        let result = ProductionChecklist(loaded, observations: observations)
        XCTAssertTrue(result.isPassed)
        XCTAssertEqual(
            result.warnings,
            ["the configuration file \"\(path)\" is readable by other users (mode 0644); fix: chmod o-rwx \(path)"])
        XCTAssertEqual(
            line(result, ProductionChecklist.Name.plainSecrets),
            "[ok] no plain-text secret in the file: none in \(path)")
    }

    func testExampleConfigurationWithCertificateAndKey() throws {
        let example = repositoryRoot.appendingPathComponent("gateway.conf.example").path
        let env = ["MCP_TLS_CERT_PATH": certPath, "MCP_TLS_KEY_PATH": keyPath, "MCP_API_KEYS": hashedKey]
        let loaded = try ConfigLoader.load(path: example, environment: env)
        var observations = ProductionChecklist.Observations.gather(
            for: loaded, now: now, certificateNotAfter: now + 365 * day)
        observations.fileModes = [:]  // the checkout's modes are not the subject here
        let result = ProductionChecklist(loaded, observations: observations)
        XCTAssertEqual(
            result.items.filter { !$0.isPassed }.map(\.name),
            [ProductionChecklist.Name.jwt, ProductionChecklist.Name.inputValidation])
        XCTAssertEqual(
            line(result, ProductionChecklist.Name.inputValidation),
            "[FAIL] input validation on: mcp.sanitize is \"off\"; fix: set mcp.sanitize = \"reject\" (or \"escape\") and list the MCP endpoints in mcp.paths"
        )
        XCTAssertEqual(
            line(result, ProductionChecklist.Name.plainSecrets),
            "[ok] no plain-text secret in the file: none in \(example)")
    }
}
