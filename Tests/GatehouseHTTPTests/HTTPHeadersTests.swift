import XCTest

@testable import GatehouseHTTP

final class HTTPHeadersTests: XCTestCase {
    func testCaseInsensitiveLookupKeepsOrder() {
        var headers = HTTPHeaders([("Accept", "a"), ("X-Forwarded-For", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2")])
        XCTAssertEqual(headers.count, 3)
        XCTAssertEqual(headers.first(name: "ACCEPT"), "a")
        XCTAssertEqual(headers.values(name: "X-FORWARDED-FOR"), ["1.1.1.1", "2.2.2.2"])
        XCTAssertTrue(headers.contains(name: "accept"))
        XCTAssertFalse(headers.contains(name: "accep"))
        XCTAssertNil(headers.first(name: "Host"))
        headers.add(name: "Host", value: "h")
        XCTAssertEqual(headers[3].name, "Host")
        XCTAssertEqual(headers.map(\.name), ["Accept", "X-Forwarded-For", "x-forwarded-for", "Host"])
    }

    func testReplaceOrAddAndRemove() {
        var headers = HTTPHeaders([("Via", "1"), ("A", "x"), ("via", "2")])
        headers.replaceOrAdd(name: "VIA", value: "3")
        XCTAssertEqual(headers, HTTPHeaders([("A", "x"), ("VIA", "3")]))
        headers.remove(name: "a")
        XCTAssertEqual(headers, HTTPHeaders([("via", "3")]))
        headers.remove(name: "missing")
        XCTAssertEqual(headers.count, 1)
    }

    func testContainsToken() {
        let headers = HTTPHeaders([("Connection", "keep-alive, X-Secret ,Upgrade"), ("connection", "CLOSE")])
        XCTAssertTrue(headers.containsToken("close", inField: "Connection"))
        XCTAssertTrue(headers.containsToken("x-secret", inField: "connection"))
        XCTAssertTrue(headers.containsToken("upgrade", inField: "Connection"))
        XCTAssertFalse(headers.containsToken("keep", inField: "Connection"))
        XCTAssertFalse(headers.containsToken("close", inField: "Proxy-Connection"))
        XCTAssertEqual(headers.listElements(name: "connection"), ["keep-alive", "X-Secret", "Upgrade", "CLOSE"])
    }

    func testEqualityComparesNamesCaseInsensitively() {
        XCTAssertEqual(HTTPHeaders([("a", "1")]), HTTPHeaders([("A", "1")]))
        XCTAssertNotEqual(HTTPHeaders([("a", "1")]), HTTPHeaders([("a", "2")]))
        XCTAssertNotEqual(HTTPHeaders([("a", "1"), ("b", "2")]), HTTPHeaders([("b", "2"), ("a", "1")]))
        XCTAssertEqual(["X": "y"] as HTTPHeaders, HTTPHeaders([("x", "y")]))
    }

    func testNonASCIINamesDoNotMatchByFolding() {
        let headers = HTTPHeaders([("é", "1")])
        XCTAssertNil(headers.first(name: "É"))
        XCTAssertEqual(headers.first(name: "é"), "1")
    }
}
