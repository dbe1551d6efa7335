import XCTest

@testable import GatehouseConfig

/// Every refusal of PRODUCT.md §2 "Refusing to start": one line, naming file, line and key.
final class ConfigRefusalTests: ConfigTestCase {
    func testUnknownKeyAtTopLevel() {
        assertRefused("listen = \"0.0.0.0:1\"\n", "gateway.conf:1: listen: unknown key (did you mean server.listen?)")
        assertRefused(
            "\n\n[servr]\nlisten = \"0.0.0.0:1\"\n", "gateway.conf:3: servr: unknown key (did you mean server?)")
        assertRefused("[nonsense]\n", "gateway.conf:1: nonsense: unknown key")
    }

    func testUnknownKeyInATable() {
        assertRefused(
            "[server]\nworkers = 2\nlistne = \"0.0.0.0:1\"\n",
            "gateway.conf:3: server.listne: unknown key (did you mean server.listen?)")
        assertRefused(
            "[auth.jwt]\nleway = \"1s\"\n",
            "gateway.conf:2: auth.jwt.leway: unknown key (did you mean auth.jwt.leeway?)")
        assertRefused(
            "[auth]\nsecret = \"x\"\n", "gateway.conf:2: auth.secret: unknown key (did you mean auth.jwt.secret?)")
        assertRefused(
            "[tls]\nrequire-https = false\n",
            "gateway.conf:2: tls.require-https: unknown key (did you mean tls.require_https?)")
        assertRefused(
            "server.max_body = 5\n",
            "gateway.conf:1: server.max_body: unknown key (did you mean server.max_body_bytes?)")
    }

    func testUnknownKeyInAnInlineTable() {
        assertRefused(
            """
            [authorization]
            rules = [
              { match = "*", require = [] },
              { match = "tools/call:*", requires = ["x"] },
            ]
            """, "gateway.conf:4: authorization.rules.requires: unknown key (did you mean authorization.rules.require?)"
        )
        assertRefused(
            "tls = { cert = \"a\", kye = \"b\" }\n", "gateway.conf:1: tls.kye: unknown key (did you mean tls.key?)")
        assertRefused(
            "[rate_limit]\ntools = { slow = { capacity = 1, refill = 2 } }\n",
            "gateway.conf:2: rate_limit.tools.slow.refill: unknown key (did you mean rate_limit.tools.slow.refill_per_second?)"
        )
    }

    func testUnknownKeyInAnAPIKeyTable() {
        assertRefused(
            """
            [[auth.api_key]]
            name = "a"
            hash = "sha256:\(String(repeating: "1", count: 64))"

            [[auth.api_key]]
            nmae = "b"
            """, "gateway.conf:6: auth.api_key.nmae: unknown key (did you mean auth.api_key.name?)")
    }

    func testWrongTypes() {
        assertRefused(
            "[server]\nworkers = \"4\"\n", "gateway.conf:2: server.workers: expected an integer, found a string")
        assertRefused(
            "[mcp]\nallow_batches = \"yes\"\n",
            "gateway.conf:2: mcp.allow_batches: expected true or false, found a string")
        assertRefused(
            "[cors]\norigins = \"https://a.example\"\n",
            "gateway.conf:2: cors.origins: expected an array of strings, found a string")
        assertRefused(
            "[cors]\norigins = [1]\n", "gateway.conf:2: cors.origins: expected an array of strings, found an integer")
        assertRefused("server = 1\n", "gateway.conf:1: server: expected a table, found an integer")
        assertRefused(
            "[tls]\nmin_version = 1.3\n",
            "gateway.conf:2: tls.min_version: expected one of \"1.2\", \"1.3\", found a float")
        assertRefused(
            "[tls]\nclient_auth = \"required\"\n",
            "gateway.conf:2: tls.client_auth: expected one of \"off\", \"optional\", \"require\"")
        assertRefused(
            "[auth]\napi_key = { name = \"x\" }\n",
            "gateway.conf:2: auth.api_key: expected an array of tables, found a table")
        assertRefused("[server]\nworkers = -1\n", "gateway.conf:2: server.workers: must be between 0 and 1024")
    }

    func testBadDurations() {
        assertRefused("[auth.jwt]\nleeway = 30\n", "gateway.conf:2: auth.jwt.leeway: expected a duration like \"30s\"")
        assertRefused(
            "[server]\n\nidle_timeout = \"1 minute\"\n",
            "gateway.conf:3: server.idle_timeout: expected a duration like \"30s\"")
    }

    func testBadSizes() {
        assertRefused(
            "[server]\nmax_body_bytes = \"1MB\"\n",
            "gateway.conf:2: server.max_body_bytes: expected a size in bytes or like \"1MiB\"")
        assertRefused(
            "[server]\nmax_body_bytes = -5\n",
            "gateway.conf:2: server.max_body_bytes: expected a size in bytes or like \"1MiB\"")
        assertRefused(
            "[server]\nmax_header_bytes = 100\n", "gateway.conf:2: server.max_header_bytes: must be at least 1024 bytes"
        )
    }

    func testBadRegex() {
        assertRefused(
            "[mcp]\ntool_name_pattern = \"^[a-z\"\n",
            "gateway.conf:2: mcp.tool_name_pattern: invalid regular expression: expected ']'")
    }

    func testBadCIDR() {
        assertRefused(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n",
            "gateway.conf:2: server.trusted_proxies: expected a CIDR like \"10.0.0.0/8\" or \"fd00::/8\"")
        assertRefused(
            "[server]\ntrusted_proxies = [\"fd00::1/8\"]\n",
            "gateway.conf:2: server.trusted_proxies: \"fd00::1/8\" has host bits set; did you mean \"fd00::/8\"?")
    }

    func testBadURLs() {
        assertRefused(
            "[upstream]\nurl = \"127.0.0.1:8000\"\n",
            "gateway.conf:2: upstream.url: expected a URL like \"http://127.0.0.1:8000\" (http or https)")
        assertRefused(
            "[upstream]\nurl = \"http://127.0.0.1:80000\"\n",
            "gateway.conf:2: upstream.url: expected a URL like \"http://127.0.0.1:8000\": bad port")
        assertRefused(
            "[server]\npublic_url = \"mcp.example.com\"\n",
            "gateway.conf:2: server.public_url: expected a URL like \"http://127.0.0.1:8000\" (http or https)")
        assertRefused(
            "[auth.jwt]\njwks_url = \"http://idp.example/keys\"\n",
            "gateway.conf:2: auth.jwt.jwks_url: must be https (http only for a loopback host)")
        assertRefused(
            "[rate_limit]\nredis_url = \"localhost:6379\"\n",
            "gateway.conf:2: rate_limit.redis_url: expected a URL like \"redis://127.0.0.1:6379/0\"")
        assertRefused(
            "[cors]\norigins = [\"https://app.example/\"]\n",
            "gateway.conf:2: cors.origins: \"https://app.example/\" is not an origin; expected scheme://host[:port] like \"https://app.example.com\" or \"*\""
        )
    }

    func testBadListenAddresses() {
        assertRefused(
            "[server]\nlisten = \"8080\"\n",
            "gateway.conf:2: server.listen: expected host:port like \"0.0.0.0:8080\" or \"[::]:8080\"")
        assertRefused(
            "[admin]\nlisten = \"::1:9901\"\n",
            "gateway.conf:2: admin.listen: an IPv6 address must be written in brackets, like \"[::1]:8080\"")
        assertRefused(
            "[server]\nlisten = \"127.0.0.1:9901\"\n",
            "gateway.conf:2: server.listen: is the same address as admin.listen (127.0.0.1:9901)")
    }

    func testToolTimeoutOutsideOneToThreeHundredSeconds() {
        assertRefused(
            "[mcp]\ntool_timeouts = { fast = \"5s\", long_job = \"301s\" }\n",
            "gateway.conf:2: mcp.tool_timeouts.long_job: must be between 1s and 300s")
        assertRefused(
            "[mcp.tool_timeouts]\nquick = \"500ms\"\n",
            "gateway.conf:2: mcp.tool_timeouts.quick: must be between 1s and 300s")
        assertRefused(
            "[mcp.tool_timeouts]\nquick = 5\n",
            "gateway.conf:2: mcp.tool_timeouts.quick: expected a duration like \"30s\"")
    }

    func testCallTimeoutOutsideOneToThreeHundredSeconds() {
        assertRefused("[mcp]\ncall_timeout = \"0s\"\n", "gateway.conf:2: mcp.call_timeout: must be between 1s and 300s")
        assertRefused("[mcp]\ncall_timeout = \"6m\"\n", "gateway.conf:2: mcp.call_timeout: must be between 1s and 300s")
        XCTAssertEqual(try parse("[mcp]\ncall_timeout = \"5m\"\n").config.mcp.callTimeout, .seconds(300))
        XCTAssertEqual(try parse("[mcp]\ncall_timeout = \"1s\"\n").config.mcp.callTimeout, .seconds(1))
    }

    func testShortJWTSecret() {
        assertRefused(
            "[auth.jwt]\nsecret = \"too-short\"\n",
            "gateway.conf:2: auth.jwt.secret: must be at least 32 bytes (it has 9)")
        var env = baseEnvironment
        env["MCP_JWT_SECRET"] = String(repeating: "s", count: 31)
        assertRefused("", environment: env, "MCP_JWT_SECRET: must be at least 32 bytes (it has 31)")
        env["MCP_JWT_SECRET"] = String(repeating: "s", count: 32)
        XCTAssertEqual(try parse("", environment: env).config.auth.jwt.secret.count, 32)
    }

    func testHMACAlgorithmWithoutSecret() {
        assertRefused(
            "[auth.jwt]\njwks_url = \"https://idp.example/jwks\"\nalgorithms = [\"RS256\", \"HS384\"]\n",
            "gateway.conf:3: auth.jwt.algorithms: HS384 needs auth.jwt.secret (or MCP_JWT_SECRET)")
        // The default list (HS256) with public keys and no secret is the same mistake.
        assertRefused(
            "[auth.jwt]\njwks_file = \"\(caPath)\"\n",
            "gateway.conf: auth.jwt.algorithms: HS256 needs auth.jwt.secret (or MCP_JWT_SECRET)")
    }

    func testAlgorithmNone() {
        assertRefused(
            "[auth.jwt]\nalgorithms = [\"HS256\", \"none\"]\n",
            "gateway.conf:2: auth.jwt.algorithms: \"none\" is never accepted")
        assertRefused(
            "[auth.jwt]\nalgorithms = [\"NONE\"]\n", "gateway.conf:2: auth.jwt.algorithms: \"none\" is never accepted")
        assertRefused(
            "[auth.jwt]\nalgorithms = [\"HS257\"]\n",
            "gateway.conf:2: auth.jwt.algorithms: unknown algorithm \"HS257\"; expected some of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
        )
    }

    func testEncryptedValuesNeedPasswordAndSalt() {
        let text = "[auth.jwt]\nsecret = \"enc:gAAAAABlZ...\"\n"
        assertRefused(text, "gateway.conf:2: auth.jwt.secret: an encrypted (enc:) value needs MCP_ENCRYPTION_PASSWORD")
        var env = baseEnvironment
        env["MCP_ENCRYPTION_PASSWORD"] = "pw"
        assertRefused(
            text, environment: env,
            "gateway.conf:2: auth.jwt.secret: an encrypted (enc:) value needs MCP_ENCRYPTION_SALT (there is no built-in salt)"
        )
        env["MCP_ENCRYPTION_SALT"] = "salt"
        assertRefused(
            text, environment: env,
            "gateway.conf:2: auth.jwt.secret: the enc: value is not a Fernet token (URL-safe base64 with padding after \"enc:\")"
        )
        // Any string, in the file or the environment, goes through the same door.
        assertRefused(
            "[upstream]\nidentity_header = \"enc:abc\"\n",
            "gateway.conf:2: upstream.identity_header: an encrypted (enc:) value needs MCP_ENCRYPTION_PASSWORD")
        env = baseEnvironment
        env["MCP_JWT_SECRET"] = "enc:token"
        assertRefused("", environment: env, "MCP_JWT_SECRET: an encrypted (enc:) value needs MCP_ENCRYPTION_PASSWORD")
    }

    func testNoCredentialAtAll() {
        let env = ["MCP_REQUIRE_HTTPS": "false"]
        assertRefused("", environment: env, "gateway.conf: " + ConfigDecoder.noCredentialMessage)
        // A credential of a method that is not accepted does not count.
        assertRefused(
            "[auth]\nmethods = [\"jwt\"]\napi_keys = [\"abcdefgh\"]\n", environment: env,
            "gateway.conf: " + ConfigDecoder.noCredentialMessage)
        // Client certificates are a credential once enabled.
        let mtls = try? parse(
            "[tls]\ncert = \"\(certPath)\"\nkey = \"\(keyPath)\"\nclient_ca = \"\(caPath)\"\nclient_auth = \"require\"\n",
            environment: [:])
        XCTAssertNotNil(mtls)
        XCTAssertNotNil(
            try? parse("[auth.jwt]\njwks_file = \"\(caPath)\"\nalgorithms = [\"ES256\"]\n", environment: env))
        XCTAssertNotNil(
            try? parse(
                "[auth.jwt]\njwks_url = \"https://idp.example/jwks\"\nalgorithms = [\"EdDSA\"]\n", environment: env))
        XCTAssertNotNil(
            try? parse(
                "", environment: ["MCP_REQUIRE_HTTPS": "0", "MCP_JWT_SECRET": String(repeating: "k", count: 40)]))
    }

    func testRequireHTTPSWithoutCertificate() {
        let message = "TLS certificate and key paths required when HTTPS is enabled"
        let env = ["MCP_API_KEYS": "k-123456789"]
        assertRefused("", environment: env, "gateway.conf: tls.require_https: " + message)
        assertRefused(
            "[tls]\nrequire_https = true\ncert = \"\(certPath)\"\n", environment: env,
            "gateway.conf:2: tls.require_https: " + message)
        assertRefused(
            "", environment: env.merging(["MCP_REQUIRE_HTTPS": "true", "MCP_TLS_KEY_PATH": keyPath]) { $1 },
            "MCP_REQUIRE_HTTPS: " + message)
        // From the environment alone, no file is named at all.
        XCTAssertThrowsError(
            try ConfigLoader.load(path: nil, environment: env.merging(["GATEHOUSE_CONFIG": ""]) { $1 })
        ) {
            error in
            // (Only meaningful when no ./gateway.conf exists where the tests run.)
            if !FileManager.default.fileExists(atPath: "gateway.conf") {
                XCTAssertEqual("\(error)", "tls.require_https: " + message)
            }
        }
    }

    func testTLSPairAndClientCertificates() {
        var env = baseEnvironment
        env["MCP_TLS_CERT_PATH"] = certPath
        assertRefused("", environment: env, "MCP_TLS_CERT_PATH: tls.key must be set as well")
        assertRefused("[tls]\nkey = \"\(keyPath)\"\n", "gateway.conf:2: tls.key: tls.cert must be set as well")
        assertRefused(
            "[tls]\ncert = \"\(certPath)\"\nkey = \"\(keyPath)\"\nclient_auth = \"optional\"\n",
            "gateway.conf:4: tls.client_auth: needs tls.client_ca")
        assertRefused(
            "[tls]\nclient_ca = \"\(caPath)\"\nclient_auth = \"optional\"\n",
            "gateway.conf:3: tls.client_auth: client certificates need TLS (tls.cert and tls.key)")
    }

    func testClientCAWithoutClientAuthIsAWarning() throws {
        let loaded = try parse("[tls]\nclient_ca = \"\(caPath)\"\n")
        XCTAssertEqual(
            loaded.warnings,
            [
                "gateway.conf:2: tls.client_ca: is set while tls.client_auth is \"off\": no client certificate is asked for"
            ])
    }

    func testUnreadableFiles() {
        let missing = folder.appendingPathComponent("missing.pem").path
        assertRefused(
            "[tls]\ncert = \"\(missing)\"\nkey = \"\(keyPath)\"\n",
            "gateway.conf:2: tls.cert: cannot read \"\(missing)\": No such file or directory")
        assertRefused(
            "[tls]\ncert = \"\(certPath)\"\nkey = \"\(folder.path)\"\n",
            "gateway.conf:3: tls.key: cannot read \"\(folder.path)\": Is a directory")
        assertRefused(
            "[auth]\napi_keys_file = \"\(missing)\"\n",
            "gateway.conf:2: auth.api_keys_file: cannot read \"\(missing)\": No such file or directory")
        assertRefused(
            "[upstream]\nca_file = \"\(missing)\"\n",
            "gateway.conf:2: upstream.ca_file: cannot read \"\(missing)\": No such file or directory")
    }

    func testUpstreamVerificationOffOnlyOnLoopback() throws {
        assertRefused(
            "[upstream]\nurl = \"https://mcp.internal:8443\"\ntls_verify = false\n",
            "gateway.conf:3: upstream.tls_verify: may be false only for a loopback upstream")
        let loopback = try parse("[upstream]\nurl = \"https://127.0.0.1:8443\"\ntls_verify = false\n")
        XCTAssertFalse(loopback.config.upstream.tlsVerify)
    }

    func testOtherCrossKeyRefusals() {
        assertRefused(
            "[rate_limit]\nbackend = \"redis\"\n",
            "gateway.conf:2: rate_limit.backend: backend \"redis\" needs rate_limit.redis_url")
        assertRefused(
            "[cors]\norigins = [\"*\"]\nallow_credentials = true\n",
            "gateway.conf:3: cors.allow_credentials: cannot be true while cors.origins contains \"*\"")
        assertRefused(
            "[auth.oauth]\nauthorization_servers = [\"https://auth.example\"]\n",
            "gateway.conf:2: auth.oauth.authorization_servers: needs server.public_url (the resource identifier)")
        assertRefused("[auth]\nmethods = []\n", "gateway.conf:2: auth.methods: at least one method is needed")
        assertRefused(
            "[auth]\nmethods = [\"password\"]\n",
            "gateway.conf:2: auth.methods: unknown method \"password\"; expected \"api_key\", \"jwt\" or \"mtls\"")
        assertRefused(
            "[rate_limit.tools.slow]\ncapacity = 3\n",
            "gateway.conf:1: rate_limit.tools.slow: needs \"refill_per_second\"")
        assertRefused(
            "[[authorization.rules]]\nrequire = []\n", "gateway.conf:1: authorization.rules: a rule needs \"match\"")
        assertRefused(
            "[headers]\n\"Bad Header\" = \"x\"\n", "gateway.conf:2: headers.Bad Header: not a valid header name")
        assertRefused(
            "[headers]\n\"Content-Length\" = \"0\"\n",
            "gateway.conf:2: headers.Content-Length: a message framing header cannot be set here")
        assertRefused(
            "[upstream]\nidentity_header = \"Host\"\n",
            "gateway.conf:2: upstream.identity_header: \"Host\" is a header the gateway manages; choose another name")
        assertRefused(
            "[mcp]\npaths = [\"mcp\"]\n",
            "gateway.conf:2: mcp.paths: \"mcp\" is not a path; expected something like \"/mcp\"")
    }

    func testEnvironmentValuesAreChecked() {
        var env = baseEnvironment
        env["GATEHOUSE_LISTEN"] = "nowhere"
        assertRefused(
            "", environment: env, "GATEHOUSE_LISTEN: expected host:port like \"0.0.0.0:8080\" or \"[::]:8080\"")
        env = baseEnvironment
        env["GATEHOUSE_UPSTREAM"] = "tcp://x"
        assertRefused(
            "", environment: env, "GATEHOUSE_UPSTREAM: expected a URL like \"http://127.0.0.1:8000\" (http or https)")
        env = baseEnvironment
        env["MCP_REQUIRE_HTTPS"] = "maybe"
        assertRefused("", environment: env, "MCP_REQUIRE_HTTPS: expected true, false, 1 or 0")
        env = baseEnvironment
        env["MCP_CORS_ORIGINS"] = "https://ok.example, not-an-origin"
        assertRefused(
            "", environment: env,
            "MCP_CORS_ORIGINS: \"not-an-origin\" is not an origin; expected scheme://host[:port] like \"https://app.example.com\" or \"*\""
        )
        env = baseEnvironment
        env["MCP_API_KEYS"] = "good-key,sha256:1234"
        assertRefused("", environment: env, "MCP_API_KEYS: expected \"sha256:\" followed by 64 hex digits")
    }

    func testTOMLSyntaxErrorsCarryTheLine() {
        do throws(ConfigError) {
            _ = try parse("[server]\nworkers = = 2\n")
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.file, "gateway.conf")
            XCTAssertEqual(error.line, 2)
            XCTAssertNil(error.key)
            XCTAssertTrue(error.description.hasPrefix("gateway.conf:2: "), error.description)
        }
    }
}
