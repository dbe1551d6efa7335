import GatehouseCrypto
import XCTest

@testable import GatehouseConfig

/// The environment variables of §2 override the file; `load` finds the file the way the CLI does.
final class ConfigEnvironmentTests: ConfigTestCase {
    func testListenOverride() throws {
        var env = baseEnvironment
        env["GATEHOUSE_LISTEN"] = "[::1]:9443"
        let loaded = try parse("[server]\nlisten = \"0.0.0.0:1\"\n", environment: env)
        XCTAssertEqual(loaded.config.server.listen, ListenAddress(host: "::1", port: 9443))
        XCTAssertEqual(row("server.listen", loaded)?.source, .environment)
    }

    func testDefaultListenFollowsTLS() throws {
        XCTAssertEqual(try parse("").config.server.listen.description, "0.0.0.0:8080")
        var env = baseEnvironment
        env["MCP_TLS_CERT_PATH"] = certPath
        env["MCP_TLS_KEY_PATH"] = keyPath
        let tls = try parse("", environment: env)
        XCTAssertEqual(tls.config.server.listen.description, "0.0.0.0:8443")
        XCTAssertEqual(row("server.listen", tls)?.source, .defaultValue)
        // An explicit listen is kept whatever TLS says.
        XCTAssertEqual(
            try parse("server.listen = \"127.0.0.1:7000\"\n", environment: env).config.server.listen.port, 7000)
    }

    func testUpstreamOverride() throws {
        var env = baseEnvironment
        env["GATEHOUSE_UPSTREAM"] = "https://mcp.internal:9443/base"
        let c = try parse("[upstream]\nurl = \"http://127.0.0.1:1\"\n", environment: env).config
        XCTAssertEqual(c.upstream.url.authority, "mcp.internal:9443")
        XCTAssertEqual(c.upstream.url.basePath, "/base")
        XCTAssertTrue(c.upstream.url.isTLS)
    }

    func testTLSPathOverrides() throws {
        let other = try write("x", to: "other.pem")
        var env = baseEnvironment
        env["MCP_TLS_CERT_PATH"] = certPath
        env["MCP_TLS_KEY_PATH"] = keyPath
        let c = try parse("[tls]\ncert = \"\(other)\"\nkey = \"\(other)\"\n", environment: env).config
        XCTAssertEqual(c.tls.cert, certPath)
        XCTAssertEqual(c.tls.key, keyPath)
        XCTAssertTrue(c.tls.isEnabled)
    }

    func testRequireHTTPSOverride() throws {
        for (text, expected) in [
            ("true", true), ("TRUE", true), ("1", true), ("false", false), ("False", false), ("0", false),
        ] {
            var env = ["MCP_API_KEYS": "k-123456789", "MCP_TLS_CERT_PATH": certPath, "MCP_TLS_KEY_PATH": keyPath]
            env["MCP_REQUIRE_HTTPS"] = text
            let loaded = try parse("[tls]\nrequire_https = \(!expected)\n", environment: env)
            XCTAssertEqual(loaded.config.tls.requireHTTPS, expected, text)
        }
    }

    func testJWTSecretOverride() throws {
        var env = baseEnvironment
        env["MCP_JWT_SECRET"] = String(repeating: "e", count: 40)
        let loaded = try parse("[auth.jwt]\nsecret = \"\(String(repeating: "f", count: 40))\"\n", environment: env)
        XCTAssertEqual(loaded.config.auth.jwt.secret, Array(String(repeating: "e", count: 40).utf8))
        XCTAssertEqual(row("auth.jwt.secret", loaded)?.source, .environment)
        XCTAssertEqual(row("auth.jwt.secret", loaded)?.value, "***")
    }

    func testCORSOriginsReplace() throws {
        var env = baseEnvironment
        env["MCP_CORS_ORIGINS"] = " https://a.example , https://b.example:8443,"
        let c = try parse("[cors]\norigins = [\"https://file.example\"]\n", environment: env).config
        XCTAssertEqual(c.cors.origins, ["https://a.example", "https://b.example:8443"])
    }

    func testAPIKeysFromTheEnvironmentAdd() throws {
        var env = baseEnvironment
        env["MCP_API_KEYS"] = "env-key-1, env-key-2"
        let hashed = "sha256:" + Encoding.hex(Digest.sha256(Array("file-key".utf8)))
        let c = try parse("[auth]\napi_keys = [\"\(hashed)\"]\n", environment: env).config
        XCTAssertEqual(
            c.auth.apiKeys.map(\.digest), ["file-key", "env-key-1", "env-key-2"].map { Digest.sha256(Array($0.utf8)) })
        XCTAssertEqual(c.auth.apiKeys.map(\.permissions), [["*"], ["*"], ["*"]])
    }

    func testEmptyVariablesCountAsUnset() throws {
        var env = baseEnvironment
        env["GATEHOUSE_LISTEN"] = ""
        env["MCP_CORS_ORIGINS"] = ""
        env["MCP_JWT_SECRET"] = ""
        let loaded = try parse("", environment: env)
        XCTAssertEqual(loaded.config.cors.origins, GatewayConfig.defaults.cors.origins)
        XCTAssertEqual(row("cors.origins", loaded)?.source, .defaultValue)
    }

    // MARK: load(path:environment:)

    func testLoadReadsAnExplicitPath() throws {
        let path = try write("[server]\nworkers = 3\n", to: "explicit.conf")
        let loaded = try ConfigLoader.load(path: path, environment: baseEnvironment)
        XCTAssertEqual(loaded.path, path)
        XCTAssertEqual(loaded.config.server.workers, 3)
    }

    func testLoadUsesGatehouseConfig() throws {
        let path = try write("[server]\nworkers = 5\n", to: "from-env.conf")
        var env = baseEnvironment
        env["GATEHOUSE_CONFIG"] = path
        let loaded = try ConfigLoader.load(path: nil, environment: env)
        XCTAssertEqual(loaded.path, path)
        XCTAssertEqual(loaded.config.server.workers, 5)
        // --config wins over the variable.
        let explicit = try write("[server]\nworkers = 6\n", to: "explicit.conf")
        XCTAssertEqual(try ConfigLoader.load(path: explicit, environment: env).config.server.workers, 6)
    }

    func testLoadRefusesAnUnreadableNamedFile() {
        let missing = folder.appendingPathComponent("nope.conf").path
        XCTAssertThrowsError(try ConfigLoader.load(path: missing, environment: baseEnvironment)) { error in
            XCTAssertEqual("\(error)", "\(missing): cannot read the configuration: No such file or directory")
        }
        var env = baseEnvironment
        env["GATEHOUSE_CONFIG"] = missing
        XCTAssertThrowsError(try ConfigLoader.load(path: nil, environment: env)) { error in
            XCTAssertEqual("\(error)", "\(missing): cannot read the configuration: No such file or directory")
        }
    }

    func testLoadFallsBackToGatewayConfInTheWorkingDirectoryThenToTheEnvironment() throws {
        let previous = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder.path))
        let alone = try ConfigLoader.load(path: nil, environment: baseEnvironment)
        XCTAssertNil(alone.path)
        XCTAssertEqual(alone.effectiveSettings.first { $0.key == "server.workers" }?.source, .defaultValue)
        _ = try write("[server]\nworkers = 7\n", to: "gateway.conf")
        let found = try ConfigLoader.load(path: nil, environment: baseEnvironment)
        XCTAssertEqual(found.path, "gateway.conf")
        XCTAssertEqual(found.config.server.workers, 7)
        _ = try write("[server]\nworkers = x\n", to: "gateway.conf")
        XCTAssertThrowsError(try ConfigLoader.load(path: nil, environment: baseEnvironment)) { error in
            XCTAssertTrue("\(error)".hasPrefix("gateway.conf:2: "), "\(error)")
        }
    }

    func row(_ key: String, _ loaded: LoadedConfig) -> (key: String, value: String, source: ValueSource)? {
        loaded.effectiveSettings.first { $0.key == key }
    }
}
