import Foundation
import Glibc
import XCTest

@testable import GatehousePosix

/// A server `TLSConnection` against the client mode of the same type, over a non-blocking socketpair,
/// driven on one thread.
final class TLSConnectionTests: XCTestCase {
    let fixtures = TLSFixtures.shared

    private func clientContext(
        certificate: String? = nil, key: String? = nil, maximumVersion: Int32? = nil, caFile: String? = nil
    ) throws -> TLSContext {
        try TLSContext(
            clientCAFile: caFile ?? fixtures.caPath, verifyPeer: true, certificatePath: certificate,
            privateKeyPath: key, maximumVersion: maximumVersion ?? 0x0304)
    }

    private struct Pair {
        let sockets: TLSSocketPair
        let server: TLSConnection
        let client: TLSConnection
    }

    private func connect(
        server serverContext: TLSContext, client clientContext: TLSContext, serverName: String? = "localhost",
        resuming session: TLSSession? = nil
    ) throws -> (Pair, TLSPump.Outcome) {
        let sockets = TLSSocketPair()
        let server = try TLSConnection(context: serverContext, fd: sockets.server)
        let client = try TLSConnection(
            context: clientContext, fd: sockets.client, serverName: serverName, resuming: session)
        let pair = Pair(sockets: sockets, server: server, client: client)
        return (pair, TLSPump.handshake(server: server, client: client))
    }

    private func transfer(_ text: String, from sender: TLSConnection, to receiver: TLSConnection) throws -> String {
        try TLSPump.writeAll(sender, Array(text.utf8))
        return String(decoding: try TLSPump.read(receiver, count: text.utf8.count), as: UTF8.self)
    }

    // MARK: versions, suites, ALPN

    func testTLS13HandshakeWithALPNAndDataBothWays() throws {
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: clientContext())
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertEqual(pair.server.protocolVersion, "TLSv1.3")
        XCTAssertEqual(pair.client.protocolVersion, "TLSv1.3")
        XCTAssertEqual(pair.server.cipher, "TLS_AES_256_GCM_SHA384")
        XCTAssertEqual(pair.server.alpn, "http/1.1")
        XCTAssertEqual(pair.client.alpn, "http/1.1")
        XCTAssertFalse(pair.server.isResumed)
        XCTAssertNil(pair.server.peerPrincipal)
        XCTAssertEqual(
            try transfer("GET / HTTP/1.1\r\n\r\n", from: pair.client, to: pair.server), "GET / HTTP/1.1\r\n\r\n")
        XCTAssertEqual(
            try transfer("HTTP/1.1 200 OK\r\n\r\n", from: pair.server, to: pair.client), "HTTP/1.1 200 OK\r\n\r\n")
    }

    func testTLS12HandshakeUsesTheConfiguredCipherList() throws {
        let (pair, outcome) = try connect(
            server: fixtures.serverContext(), client: clientContext(maximumVersion: 0x0303))
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertEqual(pair.server.protocolVersion, "TLSv1.2")
        XCTAssertEqual(pair.server.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384")
        XCTAssertEqual(pair.server.alpn, "http/1.1")
        XCTAssertEqual(try transfer("ping", from: pair.client, to: pair.server), "ping")
    }

    func testTLS12CipherListIsApplied() throws {
        let server = try fixtures.serverContext { $0.ciphers = "ECDHE+CHACHA20" }
        let (pair, outcome) = try connect(server: server, client: clientContext(maximumVersion: 0x0303))
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertEqual(pair.server.cipher, "ECDHE-ECDSA-CHACHA20-POLY1305")
    }

    func testMinimumVersion13RefusesATLS12OnlyClient() throws {
        let server = try fixtures.serverContext { $0.minimumVersion = "1.3" }
        let (pair, outcome) = try connect(server: server, client: clientContext(maximumVersion: 0x0303))
        XCTAssertFalse(outcome.bothDone)
        let message = try XCTUnwrap(outcome.serverError)
        XCTAssertTrue(message.hasPrefix("TLS handshake failed: "), message)
        XCTAssertTrue(message.contains("unsupported protocol"), message)
        XCTAssertNotNil(outcome.clientError)
        XCTAssertNil(pair.server.protocolVersion)
    }

    // MARK: data

    func testLargeWriteReturnsWantWriteAndResumes() throws {
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: clientContext())
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        let payload = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        var received: [UInt8] = []
        received.reserveCapacity(payload.count)
        var offset = 0
        var wantWrites = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while offset < payload.count {
            // A moving buffer: every attempt passes a fresh slice of the same bytes.
            let result = try payload.withUnsafeBytes {
                try pair.server.write(UnsafeRawBufferPointer(rebasing: $0[offset...]))
            }
            switch result {
            case .bytes(let n):
                XCTAssertGreaterThan(n, 0)
                offset += n
            case .wantWrite:
                wantWrites += 1
                drain: while true {
                    switch try buffer.withUnsafeMutableBytes({ try pair.client.read(into: $0) }) {
                    case .bytes(let n): received += buffer[0..<n]
                    default: break drain
                    }
                }
            case .wantRead, .closed:
                XCTFail("unexpected \(result)")
                return
            }
        }
        received += try TLSPump.read(pair.client, count: payload.count - received.count)
        XCTAssertGreaterThan(wantWrites, 0)
        XCTAssertEqual(received.count, payload.count)
        XCTAssertTrue(received == payload)
    }

    func testBufferedPlaintextIsReported() throws {
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: clientContext())
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        try TLSPump.writeAll(pair.client, Array(repeating: 0x61, count: 100))
        var small = [UInt8](repeating: 0, count: 10)
        XCTAssertEqual(try small.withUnsafeMutableBytes { try pair.server.read(into: $0) }, .bytes(10))
        XCTAssertTrue(pair.server.hasBufferedPlaintext)
        XCTAssertEqual(try TLSPump.read(pair.server, count: 90).count, 90)
        XCTAssertFalse(pair.server.hasBufferedPlaintext)
        XCTAssertEqual(try small.withUnsafeMutableBytes { try pair.server.read(into: $0) }, .wantRead)
    }

    func testCloseNotifyReadsAsClosed() throws {
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: clientContext())
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        pair.client.shutdown()
        var buffer = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(try buffer.withUnsafeMutableBytes { try pair.server.read(into: $0) }, .closed)
        pair.server.shutdown()
        XCTAssertEqual(try buffer.withUnsafeMutableBytes { try pair.client.read(into: $0) }, .closed)
    }

    func testEOFWithoutCloseNotifyReadsAsClosed() throws {
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: clientContext())
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        // The client consumes everything (TLS 1.3 tickets included) so that closing it is a plain EOF.
        XCTAssertEqual(try transfer("bye", from: pair.server, to: pair.client), "bye")
        pair.sockets.closeClient()
        var buffer = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(try buffer.withUnsafeMutableBytes { try pair.server.read(into: $0) }, .closed)
        pair.server.shutdown()  // after a truncated session: does nothing, does not crash
    }

    func testResetIsAnErrorMarkedPeerGone() throws {
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: clientContext())
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        // Closing with the server's tickets unread resets the connection.
        pair.sockets.closeClient()
        var buffer = [UInt8](repeating: 0, count: 64)
        XCTAssertThrowsError(try buffer.withUnsafeMutableBytes { try pair.server.read(into: $0) }) { error in
            XCTAssertEqual((error as? TLSError)?.message, "TLS read failed: Connection reset by peer")
            XCTAssertEqual((error as? TLSError)?.isPeerGone, true)
        }
        pair.server.shutdown()
    }

    func testWriteToAVanishedPeerThrowsPeerGone() throws {
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: clientContext())
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        pair.sockets.closeClient()
        let bytes = [UInt8](repeating: 1, count: 1024)
        XCTAssertThrowsError(try TLSPump.writeAll(pair.server, bytes)) { error in
            let tlsError = error as? TLSError
            XCTAssertEqual(tlsError?.isPeerGone, true)
            XCTAssertTrue(tlsError?.message.hasPrefix("TLS write failed: Broken pipe") == true, "\(error)")
        }
    }

    func testEOFDuringHandshakeIsPeerGone() throws {
        let sockets = TLSSocketPair()
        let server = try TLSConnection(context: fixtures.serverContext(), fd: sockets.server)
        XCTAssertEqual(try server.handshake(), .wantRead)
        sockets.closeClient()
        XCTAssertThrowsError(try server.handshake()) { error in
            let tlsError = error as? TLSError
            XCTAssertEqual(tlsError?.isPeerGone, true, "\(error)")
            XCTAssertTrue(tlsError?.message.hasPrefix("TLS handshake failed: ") == true, "\(error)")
        }
    }

    func testPlainHTTPAndGarbageFailTheHandshakeWithoutTrapping() throws {
        let context = try fixtures.serverContext()
        var inputs: [[UInt8]] = [Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), [0x16, 0x03, 0x01, 0xFF, 0xFF]]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<64 {
            let length = Int.random(in: 1...600, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if Bool.random(using: &generator) {
                bytes.replaceSubrange(0..<min(3, length), with: [0x16, 0x03, 0x01].prefix(length))
            }
            inputs.append(bytes)
        }
        var sawPlainHTTP = false
        for input in inputs {
            let sockets = TLSSocketPair()
            let server = try TLSConnection(context: context, fd: sockets.server)
            _ = input.withUnsafeBytes { Glibc.write(sockets.client, $0.baseAddress, $0.count) }
            sockets.closeClient()
            do {
                while try server.handshake() != .done {}
                XCTFail("garbage completed a handshake")
            } catch {
                if error.message.contains("http request") { sawPlainHTTP = true }
            }
            server.shutdown()
        }
        XCTAssertTrue(sawPlainHTTP)
    }

    // MARK: verification of the server (client mode)

    func testClientRefusesAWrongHostName() throws {
        let (_, outcome) = try connect(
            server: fixtures.serverContext(), client: clientContext(), serverName: "other.example")
        let message = try XCTUnwrap(outcome.clientError)
        XCTAssertTrue(message.contains("certificate verify failed"), message)
        XCTAssertTrue(message.contains("hostname mismatch"), message)
    }

    func testClientAcceptsTheIPAddressSAN() throws {
        let (pair, outcome) = try connect(
            server: fixtures.serverContext(), client: clientContext(), serverName: "127.0.0.1")
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertNotNil(pair.client.peerPrincipal)
        let (_, wrong) = try connect(server: fixtures.serverContext(), client: clientContext(), serverName: "10.1.2.3")
        XCTAssertTrue(wrong.clientError?.contains("IP address mismatch") == true, "\(wrong)")
    }

    func testClientRefusesAnUntrustedServer() throws {
        let (_, outcome) = try connect(
            server: fixtures.serverContext(), client: clientContext(caFile: fixtures.directory + "/foreign-ca.pem"))
        let message = try XCTUnwrap(outcome.clientError)
        XCTAssertTrue(message.contains("unable to get local issuer certificate"), message)
        XCTAssertNotNil(outcome.serverError)
    }

    func testClientWithoutVerificationAcceptsAnyServer() throws {
        let client = try TLSContext(clientCAFile: nil, verifyPeer: false)
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: client, serverName: "other.example")
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertNil(pair.client.peerPrincipal)
    }

    // MARK: client certificates

    private func mTLSServer(_ mode: TLSServerSettings.ClientAuth) throws -> TLSContext {
        try fixtures.serverContext {
            $0.clientAuth = mode
            $0.clientCAPath = fixtures.caPath
        }
    }

    func testRequireWithoutCertificateFailsTheHandshake() throws {
        for version: Int32 in [0x0303, 0x0304] {
            let (pair, outcome) = try connect(
                server: mTLSServer(.require), client: clientContext(maximumVersion: version))
            let message = try XCTUnwrap(outcome.serverError, "\(version)")
            XCTAssertTrue(message.contains("peer did not return a certificate"), message)
            // TLS 1.3: the client finished first and learns it from the alert on its first read.
            if outcome.clientError == nil {
                var buffer = [UInt8](repeating: 0, count: 64)
                XCTAssertThrowsError(try buffer.withUnsafeMutableBytes { try pair.client.read(into: $0) }) { error in
                    XCTAssertTrue("\(error)".contains("certificate required"), "\(error)")
                }
            }
        }
    }

    func testRequireWithForeignCertificateFails() throws {
        let client = try clientContext(certificate: fixtures.foreignClientPath, key: fixtures.foreignClientKeyPath)
        let (_, outcome) = try connect(server: mTLSServer(.require), client: client)
        let message = try XCTUnwrap(outcome.serverError)
        XCTAssertTrue(message.contains("certificate verify failed"), message)
        XCTAssertTrue(message.contains("unable to get local issuer certificate"), message)
    }

    func testOptionalWithForeignCertificateFails() throws {
        let client = try clientContext(certificate: fixtures.foreignClientPath, key: fixtures.foreignClientKeyPath)
        let (_, outcome) = try connect(server: mTLSServer(.optional), client: client)
        XCTAssertNotNil(outcome.serverError)
    }

    func testRequireWithValidCertificatesGivesPrincipals() throws {
        let cases: [(String, String, String)] = [
            (fixtures.clientDNSPath, fixtures.clientDNSKeyPath, "agent-one.example"),
            (fixtures.clientURIPath, fixtures.clientURIKeyPath, "spiffe://example.org/agent-two"),
            (fixtures.clientCNPath, fixtures.clientCNKeyPath, "cn-only-agent"),
        ]
        for (certificate, key, principal) in cases {
            for version: Int32 in [0x0303, 0x0304] {
                let client = try clientContext(certificate: certificate, key: key, maximumVersion: version)
                let (pair, outcome) = try connect(server: mTLSServer(.require), client: client)
                XCTAssertTrue(outcome.bothDone, "\(outcome)")
                XCTAssertEqual(try transfer("hi", from: pair.client, to: pair.server), "hi")
                XCTAssertEqual(pair.server.peerPrincipal, principal)
            }
        }
    }

    func testOptionalWithoutCertificateIsAdmittedWithoutPrincipal() throws {
        let (pair, outcome) = try connect(server: mTLSServer(.optional), client: clientContext())
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertEqual(try transfer("hi", from: pair.client, to: pair.server), "hi")
        XCTAssertNil(pair.server.peerPrincipal)
    }

    func testOptionalWithValidCertificateGivesPrincipal() throws {
        let client = try clientContext(certificate: fixtures.clientDNSPath, key: fixtures.clientDNSKeyPath)
        let (pair, outcome) = try connect(server: mTLSServer(.optional), client: client)
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertEqual(try transfer("hi", from: pair.client, to: pair.server), "hi")
        XCTAssertEqual(pair.server.peerPrincipal, "agent-one.example")
    }

    func testClientAuthOffIgnoresAnOfferedCertificate() throws {
        let client = try clientContext(certificate: fixtures.clientDNSPath, key: fixtures.clientDNSKeyPath)
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: client)
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertNil(pair.server.peerPrincipal)
    }

    // MARK: resumption

    private func resumableSession(server: TLSContext, client: TLSContext) throws -> TLSSession {
        let (pair, outcome) = try connect(server: server, client: client)
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        // TLS 1.3 tickets follow the handshake: reading application data processes them.
        XCTAssertEqual(try transfer("hello", from: pair.server, to: pair.client), "hello")
        pair.client.shutdown()
        return try XCTUnwrap(pair.client.resumableSession)
    }

    func testSessionResumesOnASecondConnection() throws {
        let server = try fixtures.serverContext()
        for version: Int32 in [0x0303, 0x0304] {
            let client = try clientContext(maximumVersion: version)
            let session = try resumableSession(server: server, client: client)
            let (pair, outcome) = try connect(server: server, client: client, resuming: session)
            XCTAssertTrue(outcome.bothDone, "\(outcome)")
            XCTAssertTrue(pair.server.isResumed, "version \(version)")
            XCTAssertTrue(pair.client.isResumed, "version \(version)")
            XCTAssertEqual(try transfer("again", from: pair.client, to: pair.server), "again")
        }
    }

    func testResumedMTLSSessionKeepsThePrincipal() throws {
        let server = try mTLSServer(.require)
        let client = try clientContext(certificate: fixtures.clientCNPath, key: fixtures.clientCNKeyPath)
        let session = try resumableSession(server: server, client: client)
        let (pair, outcome) = try connect(server: server, client: client, resuming: session)
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertTrue(pair.server.isResumed)
        XCTAssertEqual(pair.server.peerPrincipal, "cn-only-agent")
    }

    func testANewContextDoesNotResumeTheOldTickets() throws {
        let client = try clientContext()
        let session = try resumableSession(server: fixtures.serverContext(), client: client)
        let (pair, outcome) = try connect(server: fixtures.serverContext(), client: client, resuming: session)
        XCTAssertTrue(outcome.bothDone, "\(outcome)")
        XCTAssertFalse(pair.server.isResumed)
    }
}
