import XCTest

@testable import GatehousePolicy

/// Every branch of the CORS step with the exact header values of §7.
final class CORSPolicyTests: XCTestCase {
    private let policy = CORSPolicy(
        origins: ["http://localhost:3000", "https://App.Example.com:8443"], allowCredentials: false, maxAgeSeconds: 600)

    private let exposeLine =
        "Access-Control-Expose-Headers: Mcp-Session-Id, WWW-Authenticate, "
        + "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"
    private let preflightLines = [
        "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS",
        "Access-Control-Allow-Headers: Authorization, Content-Type, Accept, Mcp-Session-Id, "
            + "MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name",
    ]

    private func lines(_ headers: [(String, String)]) -> [String] {
        headers.map { "\($0.0): \($0.1)" }
    }

    private func allowedHeaders(_ decision: CORSDecision, file: StaticString = #filePath, line: UInt = #line)
        -> [String]
    {
        guard case .allowed(let headers) = decision else {
            XCTFail("expected .allowed, got \(decision)", file: file, line: line)
            return []
        }
        return lines(headers)
    }

    private func preflightHeaders(_ decision: CORSDecision, file: StaticString = #filePath, line: UInt = #line)
        -> [String]
    {
        guard case .preflightAllowed(let headers) = decision else {
            XCTFail("expected .preflightAllowed, got \(decision)", file: file, line: line)
            return []
        }
        return lines(headers)
    }

    func testNoOriginPasses() {
        for method in ["GET", "POST", "DELETE", "OPTIONS"] {
            guard case .noOrigin = policy.evaluate(method: method, origin: nil, requestMethodHeader: nil) else {
                return XCTFail(method)
            }
        }
        // A preflight-looking request without Origin is no CORS request either.
        guard case .noOrigin = policy.evaluate(method: "OPTIONS", origin: nil, requestMethodHeader: "POST") else {
            return XCTFail()
        }
    }

    func testAllowedOriginGetsItsHeaders() {
        let decision = policy.evaluate(method: "POST", origin: "http://localhost:3000", requestMethodHeader: nil)
        XCTAssertEqual(
            allowedHeaders(decision),
            ["Access-Control-Allow-Origin: http://localhost:3000", "Vary: Origin", exposeLine])
    }

    func testOriginsCompareCaseInsensitivelyAndEchoAsSent() {
        let decision = policy.evaluate(method: "GET", origin: "HTTPS://app.example.COM:8443", requestMethodHeader: nil)
        XCTAssertEqual(allowedHeaders(decision).first, "Access-Control-Allow-Origin: HTTPS://app.example.COM:8443")
        XCTAssertTrue(policy.allows(origin: "https://app.example.com:8443"))
        XCTAssertTrue(policy.allows(origin: "HTTP://LOCALHOST:3000"))
    }

    func testOtherOriginsAreRefused() {
        for origin in [
            "http://localhost:3001", "https://localhost:3000", "http://localhost", "http://localhost:3000/",
            "http://evil.example", "null", "", "https://app.example.com", "https://app.example.com:8443.evil",
            "http://localhost:3000 ",
        ] {
            XCTAssertFalse(policy.allows(origin: origin), origin)
            guard case .refused = policy.evaluate(method: "POST", origin: origin, requestMethodHeader: nil) else {
                return XCTFail(origin)
            }
            guard
                case .preflightRefused = policy.evaluate(method: "OPTIONS", origin: origin, requestMethodHeader: "POST")
            else { return XCTFail(origin) }
        }
        // An OPTIONS without Access-Control-Request-Method is an ordinary request.
        guard
            case .refused = policy.evaluate(method: "OPTIONS", origin: "http://evil.example", requestMethodHeader: nil)
        else { return XCTFail() }
    }

    func testPreflightAllowed() {
        let decision = policy.evaluate(method: "OPTIONS", origin: "http://localhost:3000", requestMethodHeader: "POST")
        XCTAssertEqual(
            preflightHeaders(decision),
            ["Access-Control-Allow-Origin: http://localhost:3000", "Vary: Origin", exposeLine] + preflightLines
                + ["Access-Control-Max-Age: 600"])
        // An allowed OPTIONS that is not a preflight goes on like any request.
        let plain = policy.evaluate(method: "OPTIONS", origin: "http://localhost:3000", requestMethodHeader: nil)
        XCTAssertEqual(allowedHeaders(plain).count, 3)
        // Only OPTIONS makes a preflight.
        let post = policy.evaluate(method: "POST", origin: "http://localhost:3000", requestMethodHeader: "POST")
        XCTAssertEqual(allowedHeaders(post).count, 3)
    }

    func testCredentials() {
        let credentialed = CORSPolicy(origins: ["https://a.example"], allowCredentials: true, maxAgeSeconds: 86400)
        XCTAssertEqual(
            preflightHeaders(
                credentialed.evaluate(method: "OPTIONS", origin: "https://a.example", requestMethodHeader: "DELETE")),
            ["Access-Control-Allow-Origin: https://a.example", "Vary: Origin", exposeLine] + preflightLines + [
                "Access-Control-Max-Age: 86400", "Access-Control-Allow-Credentials: true",
            ])
        XCTAssertEqual(
            allowedHeaders(credentialed.evaluate(method: "GET", origin: "https://a.example", requestMethodHeader: nil)),
            [
                "Access-Control-Allow-Origin: https://a.example", "Vary: Origin", exposeLine,
                "Access-Control-Allow-Credentials: true",
            ])
    }

    func testWildcardEchoesTheOrigin() {
        let any = CORSPolicy(origins: ["*"], allowCredentials: false, maxAgeSeconds: 0)
        XCTAssertTrue(any.allowsAnyOrigin)
        XCTAssertEqual(
            allowedHeaders(any.evaluate(method: "POST", origin: "https://whoever.example", requestMethodHeader: nil)),
            ["Access-Control-Allow-Origin: https://whoever.example", "Vary: Origin", exposeLine])
        XCTAssertEqual(
            preflightHeaders(any.evaluate(method: "OPTIONS", origin: "https://x.example", requestMethodHeader: "GET"))
                .last, "Access-Control-Max-Age: 0")
        guard case .refused = any.evaluate(method: "GET", origin: "", requestMethodHeader: nil) else {
            return XCTFail()
        }
    }

    func testEmptyListRefusesEveryOrigin() {
        let none = CORSPolicy(origins: [], allowCredentials: false, maxAgeSeconds: 600)
        guard case .refused = none.evaluate(method: "GET", origin: "http://localhost:3000", requestMethodHeader: nil)
        else { return XCTFail() }
        guard case .noOrigin = none.evaluate(method: "GET", origin: nil, requestMethodHeader: nil) else {
            return XCTFail()
        }
    }

    func testRejection() throws {
        let rejection = CORSPolicy.rejection(
            origin: "http://evil.example", preflight: false, ipAddress: "198.51.100.1", userAgent: "UA",
            requestID: "req-1")
        XCTAssertEqual(rejection.status, 403)
        XCTAssertEqual(rejection.message, "Origin not allowed")
        XCTAssertEqual(lines(rejection.headers), ["Vary: Origin"])
        XCTAssertEqual(
            String(decoding: rejection.body(requestID: "req-1"), as: UTF8.self),
            #"{"error":"Origin not allowed","request_id":"req-1"}"#)
        let line = String(
            decoding: LogFormat.line(try XCTUnwrap(rejection.securityEvent), timestampMillis: 0), as: UTF8.self)
        XCTAssertTrue(line.contains(#""severity":"medium""#), line)
        XCTAssertTrue(
            line.contains(#""details":{"kind":"origin_refused","origin":"http://evil.example","preflight":false}"#),
            line)
        let preflight = CORSPolicy.rejection(
            origin: "null", preflight: true, ipAddress: nil, userAgent: nil, requestID: nil)
        let preflightLine = String(
            decoding: LogFormat.line(try XCTUnwrap(preflight.securityEvent), timestampMillis: 0), as: UTF8.self)
        XCTAssertTrue(preflightLine.contains(#""origin":"null","preflight":true"#), preflightLine)
    }
}
