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

    // MARK: The fast case-insensitive comparison

    /// The comparison before the contiguous-bytes fast path, kept as the reference.
    private func referenceNamesEqual(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        func fold(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
        return a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8) { fold($0) == fold($1) }
    }

    private let awkwardNames = [
        "", "a", "A", "te", "TE", "tE", "t", "connection", "Connection", "CONNECTION", "connectionx", "xconnection",
        "connectio", "Connectiom", "x-forwarded-for", "X-Forwarded-For", "x-forwarded-forx", "x-forwarded-fo",
        "X_Forwarded_For", "é", "É", "x-é", "X-É", "caf\u{e9}", "cafe\u{301}", "\u{212A}eep-alive", "keep-alive",
        "KEEP-ALIVE", "@", "`", "[", "{", "Z", "z", "access-control-allow-origin", "Access-Control-Allow-Origin",
        "a very long header name that is not small in its representation",
        "A VERY LONG HEADER NAME THAT IS NOT SMALL IN ITS REPRESENTATION",
    ]

    func testNamesEqualMatchesTheReferenceOnAwkwardNames() {
        for a in awkwardNames {
            for b in awkwardNames {
                XCTAssertEqual(HTTPHeaders.namesEqual(a, b), referenceNamesEqual(a, b), "\(a) vs \(b)")
                let sa = Substring("<\(a)>").dropFirst().dropLast()
                XCTAssertEqual(HTTPHeaders.namesEqual(sa, b), referenceNamesEqual(a, b), "substring \(a) vs \(b)")
            }
        }
        XCTAssertTrue(HTTPHeaders.namesEqual("X-Forwarded-For", "x-FORWARDED-for"))
        XCTAssertFalse(HTTPHeaders.namesEqual("x-forwarded-forx", "x-forwarded-for"))
        XCTAssertFalse(HTTPHeaders.namesEqual("connectionx", "connection"))
        XCTAssertFalse(HTTPHeaders.namesEqual("\u{212A}eep-alive", "keep-alive"), "no Unicode folding")
        XCTAssertFalse(HTTPHeaders.namesEqual("[", "{"), "only letters fold")
    }

    func testLookupsUseTheFastComparison() {
        let headers = HTTPHeaders([
            ("Connectionx", "1"), ("CONNECTION", "2"), ("x-forwarded-forx", "3"), ("X-FORWARDED-FOR", "4"),
            ("x-É", "5"), ("x-forwarded-for", "6"),
        ])
        XCTAssertEqual(headers.first(name: "connection"), "2")
        XCTAssertEqual(headers.values(name: "X-Forwarded-For"), ["4", "6"])
        XCTAssertFalse(headers.contains(name: "x-é"))
        XCTAssertTrue(headers.contains(name: "x-É"))
        XCTAssertNil(headers.first(name: "x-forwarded-fo"))
    }

    func testBytesEqualLowercaseAndPrefix() {
        func check(_ name: String, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
            Array(name.utf8).withUnsafeBufferPointer(body)
        }
        XCTAssertTrue(check("Connection") { HTTPHeaders.bytes($0, equalLowercase: "connection") })
        XCTAssertTrue(check("CONNECTION") { HTTPHeaders.bytes($0, equalLowercase: "connection") })
        XCTAssertFalse(check("connectionx") { HTTPHeaders.bytes($0, equalLowercase: "connection") })
        XCTAssertFalse(check("connectio") { HTTPHeaders.bytes($0, equalLowercase: "connection") })
        XCTAssertFalse(check("") { HTTPHeaders.bytes($0, equalLowercase: "te") })
        XCTAssertFalse(check("t\u{c9}") { HTTPHeaders.bytes($0, equalLowercase: "te") })
        XCTAssertTrue(check("Access-Control-Max-Age") { HTTPHeaders.bytes($0, haveLowercasePrefix: "access-control-") })
        XCTAssertTrue(check("ACCESS-CONTROL-") { HTTPHeaders.bytes($0, haveLowercasePrefix: "access-control-") })
        XCTAssertFalse(check("Access-Control") { HTTPHeaders.bytes($0, haveLowercasePrefix: "access-control-") })
        XCTAssertFalse(check("Access_Control-X") { HTTPHeaders.bytes($0, haveLowercasePrefix: "access-control-") })
        XCTAssertFalse(check("\u{212A}") { HTTPHeaders.bytes($0, haveLowercasePrefix: "k") })
    }

    // MARK: List elements without an array

    /// RFC 9110 §5.6.1 lists are octets: split at every comma byte, spaces and tabs trimmed — even where a
    /// comma is followed by a combining mark (a Character-based split would keep ",\u{301}" whole).
    private func referenceElements(_ value: String) -> [Substring] {
        value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { part -> Substring in
            var bytes = Array(part)
            while let c = bytes.first, c == 0x20 || c == 0x09 { bytes.removeFirst() }
            while let c = bytes.last, c == 0x20 || c == 0x09 { bytes.removeLast() }
            return Substring(String(decoding: bytes, as: UTF8.self))
        }.filter { !$0.isEmpty }
    }

    func testListElementsMatchTheReferenceSplitting() {
        let values = [
            "", ",", ",,", " , ,\t,", "close", " close ", "keep-alive, Upgrade", "a,b", "a,,b,", ",a", "a, \tb\t ,c",
            "x-custom,\u{301}x", "x,\u{301}", "\u{301},x", "é, É ,ü", "a,\r\nb", "tab\tinside, x",
            String(repeating: "k,", count: 40),
        ]
        for value in values {
            var walked: [Substring] = []
            HTTPHeaders.forEachListElement(value) { walked.append($0) }
            XCTAssertEqual(walked, referenceElements(value), "elements of \(value.debugDescription)")
            XCTAssertEqual(
                HTTPHeaders([("Connection", value)]).listElements(name: "connection"), referenceElements(value))
            for element in referenceElements(value) {
                XCTAssertTrue(HTTPHeaders.listValue(value, containsToken: element))
                if element.utf8.allSatisfy({ $0 < 0x80 }) {
                    XCTAssertTrue(HTTPHeaders.listValue(value, containsToken: element.uppercased()))
                }
            }
        }
        XCTAssertTrue(HTTPHeaders.listValue("x-custom,\u{301}x", containsToken: "x-custom"))
        XCTAssertTrue(HTTPHeaders.listValue(" X-Custom ,close", containsToken: "x-custom"))
        XCTAssertFalse(HTTPHeaders.listValue("x-customx", containsToken: "x-custom"))
    }
}
