import XCTest

@testable import GatehouseConfig

/// What `gatehouse check` prints: every key once, in §2 order, secrets masked, sources named.
final class EffectiveSettingsTests: ConfigTestCase {
    func testEveryKnownKeyInContractOrder() throws {
        let loaded = try parse("")
        let keys = loaded.effectiveSettings.map(\.key)
        let expectedHeaders = GatewayConfig.defaultHeaders.map { "headers." + $0.name }
        let index = ConfigSchema.keys.firstIndex(of: "headers")!
        XCTAssertEqual(
            keys, Array(ConfigSchema.keys[..<index]) + expectedHeaders + Array(ConfigSchema.keys[(index + 1)...]))
        XCTAssertEqual(keys.first, "server.listen")
        XCTAssertEqual(keys.last, "rest.path")
        XCTAssertEqual(Set(keys).count, keys.count)
    }

    func testSourcesAndRendering() throws {
        var env = baseEnvironment
        env["MCP_JWT_SECRET"] = String(repeating: "j", count: 48)
        env["GATEHOUSE_UPSTREAM"] = "http://[::1]:9000"
        let loaded = try parse(
            """
            [server]
            max_body_bytes = "2MiB"
            trusted_proxies = ["10.0.0.0/8", "fd00::/8"]

            [rate_limit]
            backend = "redis"
            redis_url = "redis://:hunter2@cache:6379/1"
            refill_per_second = 0.5
            tools = { expensive = { capacity = 5, refill_per_second = 0.1 } }

            [mcp]
            tool_timeouts = { long_job = "300s", "dotted.tool" = "90s" }

            [headers]
            "X-XSS-Protection" = ""
            "Permissions-Policy" = "camera=()"
            "Referrer-Policy" = "no-referrer"

            [logging]
            access_log = "/var/log/gatehouse/access.log"

            [admin]
            listen = ""
            """, environment: env)
        let rows = Dictionary(uniqueKeysWithValues: loaded.effectiveSettings.map { ($0.key, ($0.value, $0.source)) })
        func check(_ key: String, _ value: String, _ source: ValueSource, line: UInt = #line) {
            XCTAssertEqual(rows[key]?.0, value, key, line: line)
            XCTAssertEqual(rows[key]?.1, source, key, line: line)
        }
        check("server.listen", "\"0.0.0.0:8080\"", .defaultValue)
        check("server.max_body_bytes", "\"2MiB\"", .file)
        check("server.max_header_bytes", "16384", .defaultValue)
        check("server.trusted_proxies", "[\"10.0.0.0/8\", \"fd00::/8\"]", .file)
        check("tls.require_https", "false", .environment)
        check("upstream.url", "\"http://[::1]:9000\"", .environment)
        check("auth.jwt.secret", "***", .environment)
        check("auth.api_keys", "1 key", .environment)
        check("auth.jwt.leeway", "\"30s\"", .defaultValue)
        check("auth.jwt.jwks_refresh", "\"10m\"", .defaultValue)
        check(
            "authorization.rules",
            "[{ match = \"tools/call:delete_*\", require = [\"admin\"] }, { match = \"tools/call:*\", require = [\"tools:call\"] }, { match = \"*\", require = [] }]",
            .defaultValue)
        check("rate_limit.redis_url", "\"redis://:***@cache:6379/1\"", .file)
        check("rate_limit.refill_per_second", "0.5", .file)
        check("rate_limit.capacity", "100", .defaultValue)
        check("rate_limit.tools", "{ expensive = { capacity = 5, refill_per_second = 0.1 } }", .file)
        check("mcp.tool_timeouts", "{ \"dotted.tool\" = \"90s\", long_job = \"300s\" }", .file)
        check("headers.X-XSS-Protection", "\"\"", .file)
        check("headers.Referrer-Policy", "\"no-referrer\"", .file)
        check("headers.Permissions-Policy", "\"camera=()\"", .file)
        check("headers.X-Frame-Options", "\"DENY\"", .defaultValue)
        check("logging.access_log", "\"/var/log/gatehouse/access.log\"", .file)
        check("logging.security_log", "\"stdout\"", .defaultValue)
        check("admin.listen", "\"\"", .file)
        XCTAssertFalse(loaded.effectiveSettings.contains { $0.value.contains("hunter2") || $0.value.contains("jjjj") })

        let c = loaded.config
        XCTAssertEqual(
            c.headers.map(\.name),
            [
                "X-Frame-Options", "X-Content-Type-Options", "Strict-Transport-Security", "Content-Security-Policy",
                "Referrer-Policy", "Permissions-Policy",
            ])
        XCTAssertEqual(c.headers.first { $0.name == "Referrer-Policy" }?.value, "no-referrer")
        XCTAssertEqual(c.rateLimit.tools["expensive"], GatewayConfig.ToolRateLimit(capacity: 5, refillPerSecond: 0.1))
        XCTAssertEqual(c.rateLimit.redisURL?.password, "hunter2")
        XCTAssertEqual(c.mcp.timeout(forTool: "long_job"), .seconds(300))
        XCTAssertEqual(c.mcp.timeout(forTool: "other"), .seconds(30))
        XCTAssertEqual(c.logging.accessLog, .file("/var/log/gatehouse/access.log"))
        XCTAssertNil(c.admin.listen)
        XCTAssertTrue(c.server.trustedProxies[1].contains(IPAddress.parseIPv6("fd00::7")!))
    }

    func testPlainSecretInTheFileIsMaskedAndWarned() throws {
        let secret = String(repeating: "p", count: 32)
        let loaded = try parse("[auth.jwt]\nsecret = \"\(secret)\"\n")
        XCTAssertEqual(loaded.effectiveSettings.first { $0.key == "auth.jwt.secret" }?.value, "***")
        XCTAssertEqual(loaded.effectiveSettings.first { $0.key == "auth.jwt.secret" }?.source, .file)
        XCTAssertEqual(
            loaded.warnings,
            [
                "gateway.conf:2: auth.jwt.secret: the JWT secret is written in plain text; prefer MCP_JWT_SECRET or an enc: value"
            ])
        XCTAssertFalse(loaded.effectiveSettings.contains { $0.value.contains(secret) })
    }

    func testHeaderRemovalAndCaseInsensitiveOverride() throws {
        let c = try parse("[headers]\n\"x-frame-options\" = \"SAMEORIGIN\"\n\"Strict-Transport-Security\" = \"\"\n")
            .config
        XCTAssertEqual(c.headers.first?.name, "X-Frame-Options")
        XCTAssertEqual(c.headers.first?.value, "SAMEORIGIN")
        XCTAssertFalse(c.headers.contains { $0.name == "Strict-Transport-Security" })
        XCTAssertEqual(c.headers.count, 5)
    }
}
