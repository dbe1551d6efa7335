import XCTest

@testable import GatehouseConfig

/// The defaults are PRODUCT.md §2's, key by key.
final class ConfigDefaultsTests: ConfigTestCase {
    func testDefaultsEqualTheContract() {
        let c = GatewayConfig.defaults
        XCTAssertEqual(c.server.listen, ListenAddress(host: "0.0.0.0", port: 8080))
        XCTAssertEqual(c.server.workers, 0)
        XCTAssertEqual(c.server.maxConnections, 10_000)
        XCTAssertEqual(c.server.maxConnectionsPerIP, 0)
        XCTAssertEqual(c.server.maxHeaderBytes, 16_384)
        XCTAssertEqual(c.server.maxBodyBytes, 1_048_576)
        XCTAssertEqual(c.server.headerTimeout, .seconds(10))
        XCTAssertEqual(c.server.idleTimeout, .seconds(60))
        XCTAssertEqual(c.server.drainTimeout, .seconds(30))
        XCTAssertEqual(c.server.trustedProxies, [])
        XCTAssertEqual(c.server.publicURL, "")

        XCTAssertEqual(c.tls.cert, "")
        XCTAssertEqual(c.tls.key, "")
        XCTAssertEqual(c.tls.minVersion, .tls12)
        XCTAssertEqual(c.tls.ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS")
        XCTAssertTrue(c.tls.requireHTTPS)
        XCTAssertEqual(c.tls.clientCA, "")
        XCTAssertEqual(c.tls.clientAuth, .off)
        XCTAssertFalse(c.tls.isEnabled)

        XCTAssertEqual(c.upstream.url.description, "http://127.0.0.1:8000")
        XCTAssertEqual(c.upstream.url.authority, "127.0.0.1:8000")
        XCTAssertEqual(c.upstream.url, try UpstreamURL(parsing: "http://127.0.0.1:8000"))
        XCTAssertEqual(c.upstream.connectTimeout, .seconds(5))
        XCTAssertEqual(c.upstream.responseTimeout, .seconds(30))
        XCTAssertEqual(c.upstream.maxIdleConnections, 64)
        XCTAssertEqual(c.upstream.hostHeader, .upstream)
        XCTAssertFalse(c.upstream.forwardAuthorization)
        XCTAssertFalse(c.upstream.forwardOrigin)
        XCTAssertEqual(c.upstream.identityHeader, "X-Gatehouse-Principal")
        XCTAssertEqual(c.upstream.caFile, "")
        XCTAssertTrue(c.upstream.tlsVerify)

        XCTAssertEqual(c.auth.methods, [.apiKey, .jwt, .mtls])
        XCTAssertEqual(c.auth.apiKeys, [])
        XCTAssertEqual(c.auth.apiKeysFile, "")
        XCTAssertEqual(c.auth.defaultAPIKeyPermissions, ["*"])
        XCTAssertEqual(c.auth.jwt.secret, [])
        XCTAssertEqual(c.auth.jwt.jwksFile, "")
        XCTAssertNil(c.auth.jwt.jwksURL)
        XCTAssertEqual(c.auth.jwt.jwksRefresh, .seconds(600))
        XCTAssertEqual(c.auth.jwt.jwksRefetchMinInterval, .seconds(30))
        XCTAssertEqual(c.auth.jwt.algorithms, [.hs256])
        XCTAssertEqual(c.auth.jwt.issuer, "")
        XCTAssertEqual(c.auth.jwt.audience, "")
        XCTAssertEqual(c.auth.jwt.leeway, .seconds(30))
        XCTAssertEqual(c.auth.jwt.subjectClaim, "sub")
        XCTAssertEqual(c.auth.jwt.permissionsClaim, "permissions")
        XCTAssertEqual(c.auth.oauth.authorizationServers, [])
        XCTAssertEqual(c.auth.oauth.scopesSupported, [])

        XCTAssertEqual(c.authorization.rules.map(\.match), ["tools/call:delete_*", "tools/call:*", "*"])
        XCTAssertEqual(c.authorization.rules.map(\.require), [["admin"], ["tools:call"], []])
        XCTAssertTrue(c.authorization.filterToolsList)

        XCTAssertTrue(c.rateLimit.enabled)
        XCTAssertEqual(c.rateLimit.capacity, 100)
        XCTAssertEqual(c.rateLimit.refillPerSecond, 10)
        XCTAssertEqual(c.rateLimit.per, .ip)
        XCTAssertEqual(c.rateLimit.backend, .local)
        XCTAssertNil(c.rateLimit.redisURL)
        XCTAssertEqual(c.rateLimit.redisFailure, .allow)
        XCTAssertEqual(c.rateLimit.maxTrackedClients, 100_000)
        XCTAssertEqual(c.rateLimit.tools, [:])

        XCTAssertEqual(c.cors.origins, ["http://localhost:3000", "https://localhost:3000"])
        XCTAssertFalse(c.cors.allowCredentials)
        XCTAssertEqual(c.cors.maxAge, .seconds(600))

        XCTAssertEqual(
            c.headers.map(\.name),
            [
                "X-Frame-Options", "X-Content-Type-Options", "X-XSS-Protection", "Strict-Transport-Security",
                "Content-Security-Policy", "Referrer-Policy",
            ])
        XCTAssertEqual(
            c.headers.map(\.value),
            [
                "DENY", "nosniff", "1; mode=block", "max-age=31536000; includeSubDomains",
                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; font-src 'self'; connect-src 'self'; frame-ancestors 'none';",
                "strict-origin-when-cross-origin",
            ])

        XCTAssertEqual(c.mcp.paths, ["/mcp"])
        XCTAssertEqual(c.mcp.toolNamePattern.pattern, "^[a-zA-Z0-9_-]+$")
        XCTAssertFalse(c.mcp.requireArguments)
        XCTAssertEqual(c.mcp.callTimeout, .seconds(30))
        XCTAssertEqual(c.mcp.toolTimeouts, [:])
        XCTAssertEqual(c.mcp.maxJSONDepth, 64)
        XCTAssertTrue(c.mcp.allowBatches)
        XCTAssertEqual(c.mcp.sanitize, .off)
        XCTAssertTrue(c.mcp.bindSessions)
        XCTAssertEqual(c.mcp.pinTools, .off)
        XCTAssertEqual(c.mcp.pinnedToolsFile, "")

        XCTAssertEqual(c.logging.securityLog, .stdout)
        XCTAssertEqual(c.logging.accessLog, .stdout)
        XCTAssertEqual(c.logging.level, .info)
        XCTAssertEqual(c.admin.listen, ListenAddress(host: "127.0.0.1", port: 9901))
        XCTAssertFalse(c.rest.enabled)
        XCTAssertEqual(c.rest.path, "/execute")
    }

    /// An empty file changes nothing but what the environment sets (and the API key it adds).
    func testEmptyFileGivesTheDefaults() throws {
        let loaded = try parse("")
        let c = loaded.config
        XCTAssertEqual(c.server.listen.description, "0.0.0.0:8080")
        XCTAssertEqual(c.mcp.callTimeout, GatewayConfig.defaults.mcp.callTimeout)
        XCTAssertEqual(c.auth.apiKeys.count, 1)
        XCTAssertEqual(loaded.path, "gateway.conf")
        XCTAssertEqual(loaded.warnings, [])
    }

    /// `gateway.conf.example` documents every known key, live (the optional `[[auth.api_key]]` block
    /// is shown commented out), with its default.
    func testExampleFileListsEveryKeyWithItsDefault() throws {
        let path = repositoryRoot.appendingPathComponent("gateway.conf.example").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let env = [
            "MCP_TLS_CERT_PATH": certPath, "MCP_TLS_KEY_PATH": keyPath, "MCP_API_KEYS": "example-key-1234567890",
        ]
        let loaded = try ConfigLoader.parse(text: Array(text.utf8), fileName: "gateway.conf.example", environment: env)
        let defaults = try ConfigLoader.parse(
            text: [], fileName: "empty.conf", environment: env
        ).effectiveSettings
        XCTAssertEqual(loaded.effectiveSettings.map(\.key), defaults.map(\.key))
        for (row, defaultRow) in zip(loaded.effectiveSettings, defaults) {
            XCTAssertEqual(row.value, defaultRow.value, row.key)
            if row.key == "auth.api_key" {
                XCTAssertTrue(text.contains("# [[auth.api_key]]"))
            } else if ["tls.cert", "tls.key", "auth.api_keys"].contains(row.key) {
                XCTAssertEqual(row.source, .environment, row.key)
            } else {
                XCTAssertEqual(row.source, .file, "\(row.key) is not written in the example")
            }
        }
        XCTAssertEqual(loaded.config.server.listen.description, "0.0.0.0:8443")
        XCTAssertEqual(loaded.warnings, [])
    }

    /// Every key line of the example carries a one-line comment.
    func testExampleFileCommentsEveryKey() throws {
        let path = repositoryRoot.appendingPathComponent("gateway.conf.example").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var inHeaders = false
        var inRules = false
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if line.hasPrefix("[") {
                inHeaders = line.hasPrefix("[headers]")
                continue
            }
            if line.hasPrefix("rules = [") {
                inRules = true
                continue
            }
            if inRules {
                if line == "]" { inRules = false }
                continue
            }
            if inHeaders { continue }  // the six headers are documented by the table's comment
            XCTAssertTrue(line.contains(" # "), "no comment: \(line)")
        }
    }
}
