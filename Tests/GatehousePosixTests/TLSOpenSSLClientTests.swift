import Foundation
import Glibc
import XCTest

@testable import GatehousePosix

/// A server `TLSConnection` on a loopback socket, driven with poll(2) like the event loop, against
/// `openssl s_client` as an independent client.
final class TLSOpenSSLClientTests: XCTestCase {
    let fixtures = TLSFixtures.shared

    /// What one s_client session showed on both ends.
    struct Run {
        var connection: TLSConnection?
        var serverError: TLSError?
        var output: String
        var serverReceived = ""
        var sawCloseNotify = false
    }

    /// Runs s_client with `arguments` (plus the CA, SNI and strict verification) against a server with
    /// `context`; after a good handshake, exchanges a line each way and lets s_client close.
    private func run(_ context: TLSContext, _ arguments: [String], exchange: Bool = true) throws -> Run {
        let listener = try TLSLoopbackListener()
        let client = try TLSOpenSSLClient(
            port: listener.port,
            arguments: ["-CAfile", fixtures.caPath, "-servername", "localhost", "-verify_return_error"] + arguments)
        guard let fd = listener.accept() else {
            let output = client.finish()
            XCTFail("s_client did not connect: \(output)")
            return Run(output: output)
        }
        defer { _ = close(fd) }
        let connection = try TLSConnection(context: context, fd: fd)
        var result = Run(output: "")
        do {
            let done = try TLSPollDriver.handshake(connection, fd: fd)
            XCTAssertTrue(done, "handshake timed out")
            result.connection = connection
        } catch {
            result.serverError = (error as? TLSError) ?? TLSError("\(error)")
            _ = shutdown(fd, Int32(SHUT_RDWR))
            result.output = client.finish()
            return result
        }
        if exchange {
            try TLSPollDriver.writeAll(connection, fd: fd, "hello from gatehouse\n")
            XCTAssertTrue(client.waitForOutput("hello from gatehouse"), client.text)
            client.send("ping from s_client\n")
            do {
                result.serverReceived = try TLSPollDriver.read(connection, fd: fd, until: "ping from s_client\n").text
            } catch {
                // TLS 1.3: a refused client certificate surfaces on the server's first read.
                result.serverError = (error as? TLSError) ?? TLSError("\(error)")
                _ = shutdown(fd, Int32(SHUT_RDWR))
                result.output = client.finish()
                return result
            }
        }
        if exchange {
            client.closeInput()
            result.sawCloseNotify =
                (try? TLSPollDriver.read(connection, fd: fd, until: "\u{0}", timeout: 5).closed) ?? false
        }
        connection.shutdown()
        _ = shutdown(fd, Int32(SHUT_WR))  // s_client lingers until the server's side closes
        result.output = client.finish()
        return result
    }

    private func assertGood(_ run: Run, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNil(run.serverError, "\(run.serverError.map { "\($0)" } ?? "")\n\(run.output)", file: file, line: line)
        XCTAssertEqual(run.serverReceived, "ping from s_client\n", run.output, file: file, line: line)
        XCTAssertTrue(run.output.contains("Verify return code: 0 (ok)"), run.output, file: file, line: line)
        XCTAssertTrue(run.sawCloseNotify, run.output, file: file, line: line)
    }

    // MARK: versions and suites

    func testTLS13AcceptedWithTheConfiguredSuites() throws {
        let context = try fixtures.serverContext()
        let run = try run(context, ["-tls1_3", "-alpn", "http/1.1"])
        assertGood(run)
        XCTAssertEqual(run.connection?.protocolVersion, "TLSv1.3")
        XCTAssertEqual(run.connection?.cipher, "TLS_AES_256_GCM_SHA384")
        XCTAssertEqual(run.connection?.alpn, "http/1.1")
        XCTAssertTrue(run.output.contains("New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"), run.output)
        XCTAssertTrue(run.output.contains("ALPN protocol: http/1.1"), run.output)

        let chacha = try self.run(context, ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"])
        assertGood(chacha)
        XCTAssertEqual(chacha.connection?.cipher, "TLS_CHACHA20_POLY1305_SHA256")

        let ccm = try self.run(context, ["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256"])
        XCTAssertNotNil(ccm.serverError, ccm.output)
    }

    func testTLS12AcceptedWithTheConfiguredCipherList() throws {
        let context = try fixtures.serverContext()
        let run = try run(context, ["-tls1_2", "-alpn", "http/1.1"])
        assertGood(run)
        XCTAssertEqual(run.connection?.protocolVersion, "TLSv1.2")
        XCTAssertEqual(run.connection?.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384")
        XCTAssertEqual(run.connection?.alpn, "http/1.1")
        XCTAssertTrue(run.output.contains("Compression: NONE"), run.output)

        let cbc = try self.run(context, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"])
        let message = try XCTUnwrap(cbc.serverError?.message, cbc.output)
        XCTAssertTrue(message.contains("no shared cipher"), message)
    }

    func testTLS10And11Refused() throws {
        let context = try fixtures.serverContext()
        for flag in ["-tls1", "-tls1_1"] {
            let run = try run(context, [flag, "-cipher", "DEFAULT@SECLEVEL=0"])
            let message = try XCTUnwrap(run.serverError?.message, "\(flag) accepted: \(run.output)")
            XCTAssertTrue(message.contains("unsupported protocol"), message)
        }
    }

    func testMinimumVersion13RefusesTLS12() throws {
        let context = try fixtures.serverContext { $0.minimumVersion = "1.3" }
        let refused = try run(context, ["-tls1_2"])
        let message = try XCTUnwrap(refused.serverError?.message, refused.output)
        XCTAssertTrue(message.contains("unsupported protocol"), message)
        assertGood(try run(context, ["-tls1_3"]))
    }

    func testKeyExchangeGroups() throws {
        let context = try fixtures.serverContext()
        let shown = ["X25519": "X25519", "P-256": "ECDH, prime256v1", "P-384": "ECDH, secp384r1"]
        for (group, text) in shown {
            let run = try run(context, ["-groups", group])
            assertGood(run)
            XCTAssertTrue(run.output.contains("Server Temp Key: \(text)"), run.output)
        }
        let refused = try run(context, ["-groups", "P-521"])
        XCTAssertNotNil(refused.serverError, refused.output)
    }

    // MARK: ALPN

    func testH2OnlyClientGetsNoALPN() throws {
        let run = try run(fixtures.serverContext(), ["-alpn", "h2"])
        assertGood(run)
        XCTAssertNil(run.connection?.alpn)
        XCTAssertTrue(run.output.contains("No ALPN negotiated"), run.output)
    }

    func testHTTP11PreferredOverH2() throws {
        let run = try run(fixtures.serverContext(), ["-alpn", "h2,http/1.1"])
        assertGood(run)
        XCTAssertEqual(run.connection?.alpn, "http/1.1")
    }

    func testNoALPNOffered() throws {
        let run = try run(fixtures.serverContext(), [])
        assertGood(run)
        XCTAssertNil(run.connection?.alpn)
    }

    // MARK: client certificates

    private func mTLS(_ mode: TLSServerSettings.ClientAuth) throws -> TLSContext {
        try fixtures.serverContext {
            $0.clientAuth = mode
            $0.clientCAPath = fixtures.caPath
        }
    }

    func testRequireWithoutCertificateFails() throws {
        for version in ["-tls1_2", "-tls1_3"] {
            let run = try run(mTLS(.require), [version])
            let message = try XCTUnwrap(run.serverError?.message, run.output)
            XCTAssertTrue(message.contains("peer did not return a certificate"), message)
            XCTAssertTrue(run.output.contains("Acceptable client certificate CA names"), run.output)
            XCTAssertTrue(run.output.contains("CN = Gatehouse Test Root CA"), run.output)
        }
    }

    func testRequireWithForeignCertificateFails() throws {
        for version in ["-tls1_2", "-tls1_3"] {
            let run = try run(
                mTLS(.require), [version, "-cert", fixtures.foreignClientPath, "-key", fixtures.foreignClientKeyPath])
            let message = try XCTUnwrap(run.serverError?.message, run.output)
            XCTAssertTrue(message.contains("unable to get local issuer certificate"), message)
            XCTAssertNil(run.connection?.peerPrincipal)
        }
    }

    func testRequireWithRightCertificateGivesPrincipal() throws {
        for version in ["-tls1_2", "-tls1_3"] {
            let run = try run(
                mTLS(.require), [version, "-cert", fixtures.clientURIPath, "-key", fixtures.clientURIKeyPath])
            assertGood(run)
            XCTAssertEqual(run.connection?.peerPrincipal, "spiffe://example.org/agent-two")
        }
    }

    func testOptionalWithoutCertificateIsAdmitted() throws {
        let run = try run(mTLS(.optional), [])
        assertGood(run)
        XCTAssertNil(run.connection?.peerPrincipal)
        let withCertificate = try self.run(
            mTLS(.optional), ["-cert", fixtures.clientCNPath, "-key", fixtures.clientCNKeyPath])
        assertGood(withCertificate)
        XCTAssertEqual(withCertificate.connection?.peerPrincipal, "cn-only-agent")
    }

    // MARK: resumption and renegotiation

    func testSessionResumptionWithSavedSession() throws {
        let context = try fixtures.serverContext()
        for version in ["-tls1_2", "-tls1_3"] {
            let sessionFile = fixtures.directory + "/session\(version).pem"
            let first = try run(context, [version, "-sess_out", sessionFile])
            assertGood(first)
            XCTAssertEqual(first.connection?.isResumed, false)
            let second = try run(context, [version, "-sess_in", sessionFile])
            assertGood(second)
            XCTAssertEqual(second.connection?.isResumed, true, second.output)
            XCTAssertTrue(second.output.contains("Reused, TLSv1."), second.output)
        }
    }

    func testSessionIdCacheResumesWithoutTickets() throws {
        let context = try fixtures.serverContext()
        let sessionFile = fixtures.directory + "/session-no-ticket.pem"
        assertGood(try run(context, ["-tls1_2", "-no_ticket", "-sess_out", sessionFile]))
        let second = try run(context, ["-tls1_2", "-no_ticket", "-sess_in", sessionFile])
        assertGood(second)
        XCTAssertEqual(second.connection?.isResumed, true, second.output)
    }

    func testClientRenegotiationIsRefused() throws {
        let listener = try TLSLoopbackListener()
        let client = try TLSOpenSSLClient(
            port: listener.port, arguments: ["-CAfile", fixtures.caPath, "-servername", "localhost", "-tls1_2"])
        let fd = try XCTUnwrap(listener.accept())
        defer { _ = close(fd) }
        let connection = try TLSConnection(context: fixtures.serverContext(), fd: fd)
        XCTAssertTrue(try TLSPollDriver.handshake(connection, fd: fd))
        try TLSPollDriver.writeAll(connection, fd: fd, "ready\n")
        XCTAssertTrue(client.waitForOutput("ready"), client.text)
        client.send("R\n")  // s_client: renegotiate
        let outcome = try? TLSPollDriver.read(connection, fd: fd, until: "never", timeout: 2)
        let output = client.finish()
        XCTAssertTrue(output.contains("RENEGOTIATING"), output)
        XCTAssertTrue(output.contains("no renegotiation"), output)
        XCTAssertEqual(outcome?.text ?? "", "")
    }
}
