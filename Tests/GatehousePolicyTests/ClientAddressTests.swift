import XCTest

@testable import GatehousePolicy

/// X-Forwarded-For walking: an untrusted peer is the client whatever the header says; trusted chains
/// are walked right to left; IPv6, ports, brackets, mapped addresses; garbage stops the walk.
final class ClientAddressTests: XCTestCase {
    private let proxies = TrustedProxies(
        ["10.0.0.0/8", "192.168.1.7", "fd00::/8", "2001:db8::1"].map { IPNetwork(parsing: $0)! })

    private func resolve(_ peer: String, _ xff: [String]) -> String {
        ClientAddress.resolve(peer: peer, xForwardedFor: xff, trusted: proxies)
    }

    func testUntrustedPeerIgnoresTheHeader() {
        XCTAssertEqual(resolve("203.0.113.5", ["1.2.3.4"]), "203.0.113.5")
        XCTAssertEqual(resolve("203.0.113.5", []), "203.0.113.5")
        XCTAssertEqual(resolve("2001:db8::2", ["1.2.3.4"]), "2001:db8::2")
        // Without trusted proxies nothing is believed either.
        XCTAssertEqual(
            ClientAddress.resolve(peer: "10.1.1.1", xForwardedFor: ["1.2.3.4"], trusted: TrustedProxies([])),
            "10.1.1.1")
    }

    func testTrustedPeerNamesTheClient() {
        XCTAssertEqual(resolve("10.0.0.1", ["198.51.100.7"]), "198.51.100.7")
        XCTAssertEqual(resolve("10.0.0.1", [" 198.51.100.7 "]), "198.51.100.7")
        // A trusted peer without the header is the client itself.
        XCTAssertEqual(resolve("10.0.0.1", []), "10.0.0.1")
        XCTAssertEqual(resolve("10.0.0.1", [""]), "10.0.0.1")
    }

    func testChainsAreWalkedRightToLeftWhileTrusted() {
        // client → 192.168.1.7 → 10.0.0.2 → peer 10.0.0.1
        XCTAssertEqual(resolve("10.0.0.1", ["198.51.100.7, 192.168.1.7, 10.0.0.2"]), "198.51.100.7")
        // Whatever the client wrote left of itself is not believed.
        XCTAssertEqual(resolve("10.0.0.1", ["6.6.6.6, 10.9.9.9, 198.51.100.7, 10.0.0.2"]), "198.51.100.7")
        // Several fields read as one list, in order.
        XCTAssertEqual(resolve("10.0.0.1", ["6.6.6.6, 198.51.100.7", "192.168.1.7", "10.0.0.2"]), "198.51.100.7")
        XCTAssertEqual(resolve("10.0.0.1", ["198.51.100.7", "", "10.0.0.2"]), "198.51.100.7")
        // An untrusted hop in the middle is the client.
        XCTAssertEqual(resolve("10.0.0.1", ["198.51.100.7, 203.0.113.1, 10.0.0.2"]), "203.0.113.1")
        // Every hop trusted: the leftmost one is as far as anyone can tell.
        XCTAssertEqual(resolve("10.0.0.1", ["10.0.0.3, 10.0.0.2"]), "10.0.0.3")
        // Empty list elements carry nothing.
        XCTAssertEqual(resolve("10.0.0.1", ["198.51.100.7,, 10.0.0.2 ,"]), "198.51.100.7")
        // A host outside the single-address network is not trusted.
        XCTAssertEqual(resolve("10.0.0.1", ["198.51.100.7, 192.168.1.8"]), "192.168.1.8")
    }

    func testIPv6() {
        XCTAssertEqual(resolve("fd12::1", ["2001:DB8:0:0:0:0:0:5"]), "2001:db8::5")
        XCTAssertEqual(resolve("fd12::1", ["[2001:db8::5]:4711"]), "2001:db8::5")
        XCTAssertEqual(resolve("fd12::1", ["[2001:db8::5]"]), "2001:db8::5")
        XCTAssertEqual(resolve("[fd12::1]:443", ["2001:db8::5"]), "2001:db8::5")
        XCTAssertEqual(resolve("2001:db8::1", ["198.51.100.7, fd00::9"]), "198.51.100.7")
        // An IPv4 client behind an IPv6 proxy, and an IPv4-mapped peer matched against IPv4 networks.
        XCTAssertEqual(resolve("::ffff:10.0.0.1", ["198.51.100.7"]), "198.51.100.7")
        XCTAssertEqual(resolve("::ffff:203.0.113.9", ["198.51.100.7"]), "203.0.113.9")
        XCTAssertEqual(resolve("fd00::1", ["::ffff:198.51.100.7"]), "198.51.100.7")
        XCTAssertEqual(resolve("fd00::1", ["::1"]), "::1")
    }

    func testPortsAreDropped() {
        XCTAssertEqual(resolve("10.0.0.1:5555", ["198.51.100.7:1234"]), "198.51.100.7")
        XCTAssertEqual(resolve("203.0.113.5:80", []), "203.0.113.5")
    }

    func testGarbageStopsTheWalk() {
        for garbage in [
            "unknown", "_hidden", "example.com", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4:",
            "1.2.3.4:123456", "1.2.3.4:ab", "fe80::1%eth0", "[::1", "[::1]x", "2001:db8::1::2", ":::",
            "1:2:3:4:5:6:7:8:9", "12345::", "\"198.51.100.9\"", "for=198.51.100.9",
        ] {
            // The garbage hop is not the client: the trusted hop right of it is.
            XCTAssertEqual(resolve("10.0.0.1", ["198.51.100.7, \(garbage), 10.0.0.2"]), "10.0.0.2", garbage)
            XCTAssertEqual(resolve("10.0.0.1", [garbage]), "10.0.0.1", garbage)
        }
    }

    func testPeerThatIsNoAddressIsKept() {
        XCTAssertEqual(resolve("unix:/run/gatehouse.sock", ["198.51.100.7"]), "unix:/run/gatehouse.sock")
        XCTAssertEqual(
            ClientAddress.resolve(peer: "local", xForwardedFor: ["1.2.3.4"], trusted: TrustedProxies([])), "local")
        XCTAssertEqual(
            ClientAddress.resolve(peer: "0:0:0:0:0:0:0:1", xForwardedFor: [], trusted: TrustedProxies([])), "::1")
    }

    func testPeerAddressBytes() {
        XCTAssertEqual(
            ClientAddress.resolve(peerAddress: [10, 0, 0, 1], xForwardedFor: ["198.51.100.7"], trusted: proxies),
            "198.51.100.7")
        XCTAssertEqual(
            ClientAddress.resolve(peerAddress: [203, 0, 113, 5], xForwardedFor: ["198.51.100.7"], trusted: proxies),
            "203.0.113.5")
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]
        XCTAssertEqual(
            ClientAddress.resolve(peerAddress: mapped, xForwardedFor: ["2001:db8::7"], trusted: proxies), "2001:db8::7")
    }

    func testClosureMatcher() {
        var asked: [String] = []
        let client = ClientAddress.resolve(peer: "127.0.0.1", xForwardedFor: ["9.9.9.9, 8.8.8.8"]) { address in
            asked.append(ClientAddress.format(address))
            return address.first == 127 || address.first == 8
        }
        XCTAssertEqual(client, "9.9.9.9")
        XCTAssertEqual(asked, ["127.0.0.1", "8.8.8.8", "9.9.9.9"])
    }

    func testParse() {
        XCTAssertEqual(ClientAddress.parse(Array("0.0.0.0".utf8)), [0, 0, 0, 0])
        XCTAssertEqual(ClientAddress.parse(Array("255.255.255.255".utf8)), [255, 255, 255, 255])
        XCTAssertEqual(ClientAddress.parse(Array("10.0.100.9".utf8)), [10, 0, 100, 9])
        XCTAssertNil(ClientAddress.parse(Array("1.2.3.04".utf8)))
        XCTAssertNil(ClientAddress.parse(Array("1..3.4".utf8)))
        XCTAssertNil(ClientAddress.parse(Array(".1.2.3".utf8)))
        XCTAssertNil(ClientAddress.parse(Array("1.2.3.4.".utf8)))
        XCTAssertNil(ClientAddress.parse(Array("".utf8)))
        XCTAssertNil(ClientAddress.parse(Array("1000.1.1.1".utf8)))
        XCTAssertEqual(ClientAddress.parse(Array("::".utf8)), [UInt8](repeating: 0, count: 16))
        XCTAssertEqual(ClientAddress.parse(Array("::1".utf8)), [UInt8](repeating: 0, count: 15) + [1])
        XCTAssertEqual(ClientAddress.parse(Array("1::".utf8)), [0, 1] + [UInt8](repeating: 0, count: 14))
        XCTAssertEqual(
            ClientAddress.parse(Array("1:2:3:4:5:6:7:8".utf8)), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8])
        XCTAssertEqual(
            ClientAddress.parse(Array("::ffff:1.2.3.4".utf8)),
            [UInt8](repeating: 0, count: 10) + [255, 255, 1, 2, 3, 4])
        XCTAssertEqual(
            ClientAddress.parse(Array("1:2:3:4:5:6:1.2.3.4".utf8)), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4])
        for bad in [
            ":", ":1", "1:", "1:2:3:4:5:6:7", "1::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::g",
            "12345::1", "1:::2", "::1::", "::1.2.3.4:5", "1::2%1",
        ] {
            XCTAssertNil(ClientAddress.parse(Array(bad.utf8)), bad)
        }
    }

    func testFormat() {
        XCTAssertEqual(ClientAddress.format([192, 0, 2, 1]), "192.0.2.1")
        XCTAssertEqual(
            ClientAddress.format(ClientAddress.parse(Array("2001:db8:0:0:1:0:0:1".utf8))!), "2001:db8::1:0:0:1")
        XCTAssertEqual(ClientAddress.format(ClientAddress.parse(Array("2001:0:0:1:0:0:0:1".utf8))!), "2001:0:0:1::1")
        XCTAssertEqual(ClientAddress.format(ClientAddress.parse(Array("1:0:2:0:3:0:4:0".utf8))!), "1:0:2:0:3:0:4:0")
        XCTAssertEqual(ClientAddress.format([UInt8](repeating: 0, count: 16)), "::")
    }

    func testNetworks() throws {
        let v4 = try XCTUnwrap(IPNetwork(parsing: "10.1.0.0/16"))
        XCTAssertTrue(v4.contains([10, 1, 200, 3]))
        XCTAssertFalse(v4.contains([10, 2, 0, 0]))
        XCTAssertTrue(v4.contains([UInt8](repeating: 0, count: 10) + [255, 255, 10, 1, 0, 1]))
        XCTAssertFalse(v4.contains([UInt8](repeating: 0, count: 12) + [10, 1, 0, 1]))
        let odd = try XCTUnwrap(IPNetwork(parsing: "172.16.0.0/12"))
        XCTAssertTrue(odd.contains([172, 31, 255, 255]))
        XCTAssertFalse(odd.contains([172, 32, 0, 0]))
        let everything = try XCTUnwrap(IPNetwork(parsing: "0.0.0.0/0"))
        XCTAssertTrue(everything.contains([8, 8, 8, 8]))
        XCTAssertFalse(everything.contains(ClientAddress.parse(Array("2001:db8::1".utf8))!))
        let v6 = try XCTUnwrap(IPNetwork(parsing: "2001:db8::/32"))
        XCTAssertTrue(v6.contains(ClientAddress.parse(Array("2001:db8:ffff::1".utf8))!))
        XCTAssertFalse(v6.contains(ClientAddress.parse(Array("2001:db9::1".utf8))!))
        XCTAssertFalse(v6.contains([1, 2, 3, 4]))
        XCTAssertEqual(IPNetwork(parsing: "192.0.2.1")?.prefixLength, 32)
        XCTAssertEqual(IPNetwork(address: [10, 1, 2, 3], prefixLength: 8)?.address, [10, 0, 0, 0])
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "fd00::/129", "x/8", "", "10.0.0.0/0008"] {
            XCTAssertNil(IPNetwork(parsing: bad), bad)
        }
        XCTAssertNil(IPNetwork(address: [1, 2, 3], prefixLength: 8))
        XCTAssertNil(IPNetwork(address: [1, 2, 3, 4], prefixLength: 33))
    }
}
