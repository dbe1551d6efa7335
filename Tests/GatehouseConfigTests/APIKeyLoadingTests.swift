import GatehouseCrypto
import XCTest

@testable import GatehouseConfig

/// API keys from every source end up as digests with names and permissions.
final class APIKeyLoadingTests: ConfigTestCase {
    func sha(_ key: String) -> [UInt8] { Digest.sha256(Array(key.utf8)) }

    func testKeysFromEverySource() throws {
        let fileHash = "sha256:" + Encoding.hex(sha("from-file-hashed"))
        let keysFile = try write(
            """
            # staging keys
            from-file-plain name=deployer permissions=tools:call,admin
            \(fileHash)   # unnamed: default permissions

            from-file-third permissions=
            """, to: "keys.txt")
        var env = baseEnvironment
        env["MCP_API_KEYS"] = "from-env"
        let loaded = try parse(
            """
            [auth]
            api_keys = ["from-list", "sha256:\(Encoding.hex(sha("from-list-hashed")))"]
            api_keys_file = "\(keysFile)"
            default_api_key_permissions = ["tools/list"]

            [[auth.api_key]]
            name = "ci-bot"
            hash = "sha256:\(Encoding.hex(sha("ci-bot-key")).uppercased())"
            permissions = ["tools:call"]

            [[auth.api_key]]
            name = "inline"
            key = "inline-plain-key"
            """, environment: env)
        let keys = loaded.config.auth.apiKeys
        XCTAssertEqual(
            keys,
            [
                APIKeyConfig(name: nil, digest: sha("from-list"), permissions: ["tools/list"]),
                APIKeyConfig(name: nil, digest: sha("from-list-hashed"), permissions: ["tools/list"]),
                APIKeyConfig(name: "ci-bot", digest: sha("ci-bot-key"), permissions: ["tools:call"]),
                APIKeyConfig(name: "inline", digest: sha("inline-plain-key"), permissions: ["tools/list"]),
                APIKeyConfig(name: "deployer", digest: sha("from-file-plain"), permissions: ["tools:call", "admin"]),
                APIKeyConfig(name: nil, digest: sha("from-file-hashed"), permissions: ["tools/list"]),
                APIKeyConfig(name: nil, digest: sha("from-file-third"), permissions: []),
                APIKeyConfig(name: nil, digest: sha("from-env"), permissions: ["tools/list"]),
            ])
        XCTAssertEqual(keys[2].principal, "ci-bot")
        XCTAssertEqual(keys[0].principal, "key:" + Encoding.hex(sha("from-list").prefix(4)))
        // Plain keys in the configuration file are worth a warning; hashed ones, the keys file and the
        // environment are not.
        XCTAssertEqual(
            loaded.warnings,
            [
                "gateway.conf:2: auth.api_keys: a plain-text API key sits in the file; store its sha256: form instead (gatehouse key hash)",
                "gateway.conf:13: auth.api_key.key: a plain-text API key sits in the file; store its sha256: form instead (gatehouse key hash)",
            ])
        func shown(_ key: String) -> String? { loaded.effectiveSettings.first { $0.key == key }?.value }
        XCTAssertEqual(shown("auth.api_keys"), "3 keys")
        XCTAssertEqual(shown("auth.api_keys_file"), "\"\(keysFile)\" (3 keys)")
        XCTAssertEqual(shown("auth.api_key"), "2 named keys")
    }

    func testNoPlainKeyIsKept() throws {
        let secretKey = "do-not-keep-me-0123456789"
        let loaded = try parse("[auth]\napi_keys = [\"\(secretKey)\"]\n")
        let rendered = "\(loaded.config)" + loaded.effectiveSettings.map { "\($0)" }.joined() + loaded.warnings.joined()
        XCTAssertFalse(rendered.contains(secretKey))
        XCTAssertEqual(loaded.config.auth.apiKeys.first?.digest.count, 32)
    }

    func testKeysFileErrorsPointIntoThatFile() throws {
        let keysFile = try write("good-key\nbad-key colour=blue\n", to: "keys.txt")
        assertRefused(
            "[auth]\napi_keys_file = \"\(keysFile)\"\n",
            "\(keysFile):2: auth.api_keys_file: unknown field \"colour\"; expected name or permissions")
        let badHash = try write("sha256:abc\n", to: "hashes.txt")
        assertRefused(
            "[auth]\napi_keys_file = \"\(badHash)\"\n",
            "\(badHash):1: auth.api_keys_file: expected \"sha256:\" followed by 64 hex digits")
    }

    func testNamedKeyRefusals() {
        assertRefused("[[auth.api_key]]\nname = \"a\"\n", "gateway.conf:1: auth.api_key: needs \"hash\" (or \"key\")")
        assertRefused(
            "[[auth.api_key]]\nname = \"a\"\nhash = \"plain\"\n",
            "gateway.conf:3: auth.api_key.hash: expected \"sha256:\" followed by 64 hex digits (a plain key goes in \"key\")"
        )
        assertRefused(
            "[[auth.api_key]]\nname = \"a b\"\nkey = \"k\"\n",
            "gateway.conf:2: auth.api_key.name: a key name must be visible ASCII without spaces (at most 128 bytes)")
        assertRefused(
            "[[auth.api_key]]\nname = \"a\"\nkey = \"k1\"\n[[auth.api_key]]\nname = \"a\"\nkey = \"k2\"\n",
            "gateway.conf:6: auth.api_key.key: the key name \"a\" is used twice")
    }

    func testDuplicateKeys() throws {
        // The same key twice with the same meaning is harmless (e.g. in the file and MCP_API_KEYS).
        var env = baseEnvironment
        env["MCP_API_KEYS"] = "shared-key"
        XCTAssertEqual(
            try parse("[auth]\napi_keys = [\"shared-key\"]\n", environment: env).config.auth.apiKeys.count, 1)
        // With different permissions it is ambiguous.
        assertRefused(
            "[auth]\napi_keys = [\"shared-key\"]\n[[auth.api_key]]\nname = \"x\"\nkey = \"shared-key\"\n",
            environment: env,
            "gateway.conf:5: auth.api_key.key: the same API key is configured twice with different names or permissions"
        )
    }
}
