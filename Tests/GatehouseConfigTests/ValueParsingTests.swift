import GatehouseCrypto
import XCTest

@testable import GatehouseConfig

/// The value parsers on their own: durations, sizes, addresses, URLs, CIDRs, patterns, API key forms.
final class ValueParsingTests: XCTestCase {
    func testDurations() {
        XCTAssertEqual(DurationText.parse("250ms"), .milliseconds(250))
        XCTAssertEqual(DurationText.parse("30s"), .seconds(30))
        XCTAssertEqual(DurationText.parse("5m"), .seconds(300))
        XCTAssertEqual(DurationText.parse("24h"), .seconds(86_400))
        XCTAssertEqual(DurationText.parse("0s"), .zero)
        for bad in ["", "30", "s", "1.5s", "-1s", " 30s", "30 s", "30S", "3d", "9999999999999h"] {
            XCTAssertNil(DurationText.parse(bad), bad)
        }
        XCTAssertEqual(DurationText.format(.seconds(600)), "10m")
        XCTAssertEqual(DurationText.format(.seconds(86_400)), "24h")
        XCTAssertEqual(DurationText.format(.milliseconds(1500)), "1500ms")
        XCTAssertEqual(DurationText.format(.seconds(90)), "90s")
        XCTAssertEqual(DurationText.format(.seconds(60)), "60s")
        XCTAssertEqual(DurationText.format(.seconds(300)), "300s")
        XCTAssertEqual(DurationText.format(.seconds(3600)), "60m")
        XCTAssertEqual(DurationText.format(.zero), "0s")
    }

    func testSizes() {
        XCTAssertEqual(ByteSize.parse("16KiB"), 16_384)
        XCTAssertEqual(ByteSize.parse("1MiB"), 1_048_576)
        XCTAssertEqual(ByteSize.parse("2GiB"), 2 << 30)
        XCTAssertEqual(ByteSize.parse("512B"), 512)
        XCTAssertEqual(ByteSize.parse("4096"), 4096)
        for bad in ["", "1MB", "1 MiB", "1.5MiB", "MiB", "-1", "1kib"] { XCTAssertNil(ByteSize.parse(bad), bad) }
        XCTAssertEqual(ByteSize.format(1 << 20), "1MiB")
        XCTAssertEqual(ByteSize.format(1000), "1000")
    }

    func testIPAddresses() {
        XCTAssertEqual(IPAddress.parseIPv4("10.1.2.3"), [10, 1, 2, 3])
        for bad in ["10.1.2", "10.1.2.3.4", "256.1.1.1", "010.1.1.1", "1..1.1", "a.b.c.d", ""] {
            XCTAssertNil(IPAddress.parseIPv4(bad[...]), bad)
        }
        XCTAssertEqual(IPAddress.parseIPv6("::1"), [UInt8](repeating: 0, count: 15) + [1])
        XCTAssertEqual(IPAddress.parseIPv6("::"), [UInt8](repeating: 0, count: 16))
        XCTAssertEqual(IPAddress.parseIPv6("fd00::")?.prefix(2), [0xfd, 0])
        XCTAssertEqual(IPAddress.parseIPv6("2001:db8:0:0:0:0:0:1"), IPAddress.parseIPv6("2001:db8::1"))
        XCTAssertEqual(IPAddress.parseIPv6("::ffff:192.0.2.1")?.suffix(6), [0xff, 0xff, 192, 0, 2, 1])
        for bad in [":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "fe80::1%eth0", "1:2:3:4:5:6:7", "g::1", ":1"] {
            XCTAssertNil(IPAddress.parseIPv6(bad[...]), bad)
        }
        XCTAssertTrue(IPAddress.isLoopback(host: "127.0.0.1"))
        XCTAssertTrue(IPAddress.isLoopback(host: "::1"))
        XCTAssertTrue(IPAddress.isLoopback(host: "localhost"))
        XCTAssertFalse(IPAddress.isLoopback(host: "10.0.0.1"))
        XCTAssertFalse(IPAddress.isLoopback(host: "example.com"))
    }

    func testCIDR() throws {
        let v4 = try CIDR(parsing: "10.0.0.0/8")
        XCTAssertTrue(v4.contains([10, 200, 3, 4]))
        XCTAssertFalse(v4.contains([11, 0, 0, 1]))
        XCTAssertTrue(v4.contains(IPAddress.parseIPv6("::ffff:10.9.9.9")!), "IPv4-mapped IPv6")
        XCTAssertFalse(v4.contains(IPAddress.parseIPv6("::1")!))
        let host = try CIDR(parsing: "192.168.1.7")
        XCTAssertEqual(host.prefixLength, 32)
        XCTAssertTrue(host.contains([192, 168, 1, 7]))
        XCTAssertFalse(host.contains([192, 168, 1, 8]))
        let v6 = try CIDR(parsing: "fd00::/8")
        XCTAssertTrue(v6.contains(IPAddress.parseIPv6("fd12:3456::1")!))
        XCTAssertFalse(v6.contains(IPAddress.parseIPv6("fe80::1")!))
        XCTAssertFalse(v6.contains([10, 0, 0, 1]))
        XCTAssertEqual(v6.description, "fd00::/8")
        XCTAssertEqual(try CIDR(parsing: "0.0.0.0/0").contains([1, 2, 3, 4]), true)
        XCTAssertEqual(try CIDR(parsing: "2001:db8::/32").description, "2001:db8::/32")
        XCTAssertEqual(try CIDR(parsing: "::/0").description, "::/0")
        XCTAssertTrue(try CIDR(parsing: "10.1.0.0/17").contains([10, 1, 127, 255]))
        XCTAssertFalse(try CIDR(parsing: "10.1.0.0/17").contains([10, 1, 128, 0]))
        for bad in ["10.0.0.0/33", "10.0.0.0/", "/8", "10.0.0/8", "fd00::/129", "x", "10.0.0.0/8/8", "10.0.0.0/-1"] {
            XCTAssertThrowsError(try CIDR(parsing: bad), bad)
        }
        XCTAssertThrowsError(try CIDR(parsing: "10.0.0.1/8")) { error in
            XCTAssertEqual(
                (error as? ValueError)?.message, "\"10.0.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?")
        }
    }

    func testListenAddresses() throws {
        XCTAssertEqual(try ListenAddress(parsing: "0.0.0.0:8443"), ListenAddress(host: "0.0.0.0", port: 8443))
        let v6 = try ListenAddress(parsing: "[::]:8080")
        XCTAssertEqual(v6, ListenAddress(host: "::", port: 8080))
        XCTAssertEqual(v6.description, "[::]:8080")
        XCTAssertEqual(try ListenAddress(parsing: "localhost:1").host, "localhost")
        for bad in [
            "0.0.0.0", ":8080", "0.0.0.0:0", "0.0.0.0:65536", "0.0.0.0:http", "[::1:8080", "[nothex]:80",
            "300.1.1.1:80",
            "0.0.0.0:80x", "a b:80",
        ] {
            XCTAssertThrowsError(try ListenAddress(parsing: bad), bad)
        }
        XCTAssertThrowsError(try ListenAddress(parsing: "::1:8080")) { error in
            XCTAssertEqual(
                (error as? ValueError)?.message, "an IPv6 address must be written in brackets, like \"[::1]:8080\"")
        }
    }

    func testUpstreamURLs() throws {
        let plain = try UpstreamURL(parsing: "http://127.0.0.1:8000")
        XCTAssertEqual(plain.scheme, .http)
        XCTAssertEqual(plain.host, "127.0.0.1")
        XCTAssertEqual(plain.port, 8000)
        XCTAssertEqual(plain.basePath, "")
        XCTAssertEqual(plain.authority, "127.0.0.1:8000")
        XCTAssertEqual(plain.requestTarget, "/")
        let tls = try UpstreamURL(parsing: "https://mcp.internal/api/")
        XCTAssertEqual(tls.port, 443)
        XCTAssertEqual(tls.authority, "mcp.internal")
        XCTAssertEqual(tls.basePath, "/api")
        XCTAssertTrue(tls.isTLS)
        let v6 = try UpstreamURL(parsing: "http://[::1]:9000/x")
        XCTAssertEqual(v6.host, "::1")
        XCTAssertEqual(v6.authority, "[::1]:9000")
        XCTAssertEqual(v6.description, "http://[::1]:9000/x")
        let jwks = try UpstreamURL(parsing: "https://idp.example/keys?x=1", allowsQuery: true)
        XCTAssertEqual(jwks.requestTarget, "/keys?x=1")
        for bad in [
            "ftp://x", "127.0.0.1:8000", "http://", "http://:80", "http://h:0", "http://h:99999", "http://u:p@h",
            "http://h/#frag", "http://h/a b", "http://[::1", "http://h?x=1",
        ] {
            XCTAssertThrowsError(try UpstreamURL(parsing: bad), bad)
        }
    }

    func testRedisURLs() throws {
        let url = try RedisURL(parsing: "redis://:s3cret@10.0.0.5:6380/2")
        XCTAssertEqual(url, RedisURL(host: "10.0.0.5", port: 6380, database: 2, password: "s3cret"))
        XCTAssertEqual(url.maskedDescription, "redis://:***@10.0.0.5:6380/2")
        XCTAssertEqual(try RedisURL(parsing: "redis://127.0.0.1"), RedisURL(host: "127.0.0.1"))
        XCTAssertTrue(try RedisURL(parsing: "rediss://cache.internal:6379/0").usesTLS)
        for bad in ["http://x", "redis://", "redis://h/abc", "redis://h:0"] {
            XCTAssertThrowsError(try RedisURL(parsing: bad), bad)
        }
    }

    func testToolNamePattern() throws {
        let standard = ToolNamePattern.standard
        XCTAssertEqual(standard.pattern, "^[a-zA-Z0-9_-]+$")
        XCTAssertTrue(standard.matches("delete_file-2"))
        XCTAssertFalse(standard.matches("rm -rf"))
        XCTAssertFalse(standard.matches(""))
        XCTAssertNotNil(ToolNamePattern(validating: "^[a-z]+$"))
        XCTAssertNil(ToolNamePattern(validating: "[a-"))
        XCTAssertThrowsError(try ToolNamePattern("[a-")) { error in
            XCTAssertEqual((error as? ValueError)?.message, "invalid regular expression: expected ']'")
        }
    }

    func testAPIKeyDigests() throws {
        let plain = try APIKeyConfig.digest(of: "my-key")
        XCTAssertTrue(plain.isPlain)
        XCTAssertEqual(plain.digest, Digest.sha256(Array("my-key".utf8)))
        let hex = String(repeating: "ab", count: 32)
        let hashed = try APIKeyConfig.digest(of: "SHA256:" + hex.uppercased())
        XCTAssertFalse(hashed.isPlain)
        XCTAssertEqual(hashed.digest, [UInt8](repeating: 0xab, count: 32))
        XCTAssertThrowsError(try APIKeyConfig.digest(of: "sha256:abcd"))
        XCTAssertThrowsError(try APIKeyConfig.digest(of: "sha256:" + String(repeating: "zz", count: 32)))
        XCTAssertThrowsError(try APIKeyConfig.digest(of: ""))
        XCTAssertThrowsError(try APIKeyConfig.digest(of: "has space"))
        let key = APIKeyConfig(
            name: nil, digest: [0xde, 0xad, 0xbe, 0xef] + [UInt8](repeating: 0, count: 28), permissions: [])
        XCTAssertEqual(key.principal, "key:deadbeef")
    }

    func testAPIKeyFileLines() throws {
        let text = """
            # keys for the staging gateway
            plain-key-1

            sha256:\(String(repeating: "0", count: 64)) name=ci-bot permissions=tools:call,tools/list
              other-key   permissions=   # no permissions at all
            fourth\tname=robot\r
            """
        let lines = try APIKeyFile.parse(Array(text.utf8))
        XCTAssertEqual(
            lines,
            [
                .init(text: "plain-key-1", name: nil, permissions: nil, number: 2),
                .init(
                    text: "sha256:" + String(repeating: "0", count: 64), name: "ci-bot",
                    permissions: ["tools:call", "tools/list"], number: 4),
                .init(text: "other-key", name: nil, permissions: [], number: 5),
                .init(text: "fourth", name: "robot", permissions: nil, number: 6),
            ])
        for (bad, message) in [
            ("k color=red", "unknown field \"color\"; expected name or permissions"),
            ("k name=a name=b", "name given twice"),
            ("k permissions=a permissions=b", "permissions given twice"),
            ("k stray", "expected name=… or permissions=…, found \"stray\""),
        ] {
            XCTAssertThrowsError(try APIKeyFile.parse(Array(("\n" + bad).utf8))) { error in
                let error = error as? APIKeyFileError
                XCTAssertEqual(error?.line, 2)
                XCTAssertEqual(error?.message, message)
            }
        }
    }
}
