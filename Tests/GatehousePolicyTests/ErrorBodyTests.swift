import Foundation
import XCTest

@testable import GatehousePolicy

final class ErrorBodyTests: XCTestCase {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func testJSONBody() throws {
        XCTAssertEqual(
            text(ErrorBody.json(message: "Invalid API key", requestID: "abc")),
            #"{"error":"Invalid API key","request_id":"abc"}"#)
        let hostile = "q\"b\\s\n\u{1}é"
        let parsed = try object(ErrorBody.json(message: hostile, requestID: hostile))
        XCTAssertEqual(parsed["error"] as? String, hostile)
        XCTAssertEqual(parsed["request_id"] as? String, hostile)
    }

    func testJSONRPCBody() throws {
        XCTAssertEqual(
            text(
                ErrorBody.jsonRPC(
                    id: "7", code: -32003, message: "Insufficient permissions", details: [], requestID: "r1")),
            #"{"jsonrpc":"2.0","id":7,"error":{"code":-32003,"message":"Insufficient permissions","data":{"details":{},"request_id":"r1"}}}"#
        )
        XCTAssertEqual(
            text(
                ErrorBody.jsonRPC(
                    id: nil, code: -32602, message: "Validation failed", details: [("name", "bad \"tool\"")],
                    requestID: "r2")),
            #"{"jsonrpc":"2.0","id":null,"error":{"code":-32602,"message":"Validation failed","data":{"details":{"name":"bad \"tool\""},"request_id":"r2"}}}"#
        )
        let withStringID = try object(
            ErrorBody.jsonRPC(id: #""a\"b""#, code: -32600, message: "m", details: [], requestID: "r"))
        XCTAssertEqual(withStringID["id"] as? String, "a\"b")
    }

    func testJSONRPCIDIsSanitized() throws {
        for good in ["0", "-1", "12.5", "1e3", "-0.5E-2", #""x""#, #""""#, #""\u0041""#] {
            XCTAssertTrue(ErrorBody.isJSONIDText(good), good)
        }
        for bad in ["", "null", "01", "1.", ".5", "-", "1e", "\"", #""a"b""#, #""a\""#, "{}", "[1]", "1,2", "\"\n\"",
                    #"1}],"x":{"#] {
            XCTAssertFalse(ErrorBody.isJSONIDText(bad), bad)
            let parsed = try object(ErrorBody.jsonRPC(id: bad, code: -32600, message: "m", details: [], requestID: "r"))
            XCTAssertTrue(parsed["id"] is NSNull, bad)
        }
    }

    func testWWWAuthenticate() {
        XCTAssertEqual(
            ErrorBody.wwwAuthenticate(realm: "gatehouse", resourceMetadata: nil, tokenPresented: false),
            #"Bearer realm="gatehouse""#)
        XCTAssertEqual(
            ErrorBody.wwwAuthenticate(realm: "gatehouse", resourceMetadata: nil, tokenPresented: true),
            #"Bearer realm="gatehouse", error="invalid_token""#)
        XCTAssertEqual(
            ErrorBody.wwwAuthenticate(
                realm: "gatehouse", resourceMetadata: "https://mcp.example.com/.well-known/oauth-protected-resource",
                tokenPresented: true),
            #"Bearer realm="gatehouse", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", error="invalid_token""#
        )
        XCTAssertEqual(
            ErrorBody.wwwAuthenticate(realm: "a\"b\\c\r\n", resourceMetadata: nil, tokenPresented: false),
            #"Bearer realm="a\"b\\c""#)
        XCTAssertEqual(
            ErrorBody.insufficientScope(scope: ["admin", "tools:call"]),
            #"Bearer error="insufficient_scope", scope="admin tools:call""#)
    }

    func testStandardMessages() {
        XCTAssertEqual(ErrorBody.standardMessage(status: 400), "Bad request")
        XCTAssertEqual(ErrorBody.standardMessage(status: 408), "Request timeout")
        XCTAssertEqual(ErrorBody.standardMessage(status: 413), "Request body too large")
        XCTAssertEqual(ErrorBody.standardMessage(status: 429), "Rate limit exceeded")
        XCTAssertEqual(ErrorBody.standardMessage(status: 431), "Request header fields too large")
        XCTAssertEqual(ErrorBody.standardMessage(status: 501), "Not implemented")
        XCTAssertEqual(ErrorBody.standardMessage(status: 502), "Upstream unavailable")
        XCTAssertEqual(ErrorBody.standardMessage(status: 504), "Upstream timeout")
        XCTAssertNil(ErrorBody.standardMessage(status: 200))
    }

    func testRejections() throws {
        let missing = Rejection.unauthorized(.missingHeader)
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.message, "Missing Authorization header")
        XCTAssertEqual(missing.headers.map(\.0), ["WWW-Authenticate"])
        XCTAssertEqual(missing.headers.first?.1, #"Bearer realm="gatehouse""#)
        XCTAssertEqual(text(missing.body(requestID: "id1")), #"{"error":"Missing Authorization header","request_id":"id1"}"#)

        let badToken = Rejection.unauthorized(
            .invalidToken(reason: "bad_signature"), resourceMetadata: "https://h/.well-known/oauth-protected-resource")
        XCTAssertEqual(badToken.message, "Invalid or expired token")
        XCTAssertEqual(
            badToken.headers.first?.1,
            #"Bearer realm="gatehouse", resource_metadata="https://h/.well-known/oauth-protected-resource", error="invalid_token""#
        )

        let jwtCaller = Principal(name: "u", kind: .jwt, permissions: [])
        let forbidden = Rejection.forbidden(principal: jwtCaller, required: ["admin"], jsonRPC: true, jsonRPCID: "3")
        XCTAssertEqual(forbidden.status, 403)
        XCTAssertEqual(forbidden.headers.first?.1, #"Bearer error="insufficient_scope", scope="admin""#)
        let body = try object(forbidden.body(requestID: "r"))
        XCTAssertEqual(body["id"] as? Int, 3)
        let error = try XCTUnwrap(body["error"] as? [String: Any])
        XCTAssertEqual(error["code"] as? Int, -32003)
        XCTAssertEqual(error["message"] as? String, "Insufficient permissions")

        let keyCaller = Principal(name: "k", kind: .apiKey, permissions: [])
        let plain = Rejection.forbidden(principal: keyCaller, required: ["admin"])
        XCTAssertTrue(plain.headers.isEmpty)
        XCTAssertEqual(text(plain.body(requestID: "r")), #"{"error":"Insufficient permissions","request_id":"r"}"#)

        let tooLarge = Rejection.standard(status: 413)
        XCTAssertEqual(tooLarge.message, "Request body too large")
        XCTAssertEqual(Rejection.standard(status: 299).message, "Error")
    }
}
