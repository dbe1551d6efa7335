import Foundation
import Glibc
import XCTest

@testable import GatehousePosix

/// The demo certificate: made with libcrypto, accepted by OpenSSL clients and curl with `--cacert`.
final class TLSSelfSignedCertificateTests: XCTestCase {
    let fixtures = TLSFixtures.shared

    private func freshDirectory() -> String {
        fixtures.directory + "/self-signed-\(UInt32.random(in: 0...UInt32.max))"
    }

    func testWritesCertificateAndPrivateKeyFiles() throws {
        let directory = freshDirectory()
        let paths = try SelfSignedCertificate.write(to: directory)
        XCTAssertEqual(paths.certificatePath, directory + "/cert.pem")
        XCTAssertEqual(paths.keyPath, directory + "/key.pem")
        let keyMode = try XCTUnwrap(
            FileManager.default.attributesOfItem(atPath: paths.keyPath)[.posixPermissions] as? Int)
        XCTAssertEqual(keyMode, 0o600)
        let directoryMode = try XCTUnwrap(
            FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int)
        XCTAssertEqual(directoryMode, 0o700)
        let text = try fixtures.runOpenSSL(["x509", "-in", paths.certificatePath, "-noout", "-text"])
        XCTAssertTrue(text.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"), text)
        XCTAssertTrue(text.contains("CA:FALSE"), text)
        XCTAssertTrue(text.contains("TLS Web Server Authentication"), text)
        XCTAssertTrue(text.contains("NIST CURVE: P-256"), text)
        XCTAssertTrue(text.contains("Subject: CN = localhost"), text)
        XCTAssertTrue(text.contains("ecdsa-with-SHA256"), text)
        let key = try fixtures.runOpenSSL(["pkey", "-in", paths.keyPath, "-noout", "-text"])
        XCTAssertTrue(key.contains("P-256"), key)
    }

    func testValidityAndCommonName() throws {
        let paths = try SelfSignedCertificate.write(to: freshDirectory(), commonName: "gatehouse.test", days: 3)
        let context = try TLSContext(
            server: TLSServerSettings(certificatePath: paths.certificatePath, privateKeyPath: paths.keyPath))
        let notAfter = try XCTUnwrap(context.certificateNotAfter)
        XCTAssertLessThan(abs(notAfter - (Int64(Date().timeIntervalSince1970) + 3 * 86_400)), 120)
        let text = try fixtures.runOpenSSL(["x509", "-in", paths.certificatePath, "-noout", "-text"])
        XCTAssertTrue(text.contains("DNS:gatehouse.test, DNS:localhost"), text)
    }

    func testRewritingReplacesTheFiles() throws {
        let directory = freshDirectory()
        let first = try SelfSignedCertificate.write(to: directory)
        let firstText = try String(contentsOfFile: first.certificatePath, encoding: .utf8)
        chmod(first.keyPath, 0o644)
        let second = try SelfSignedCertificate.write(to: directory)
        XCTAssertNotEqual(try String(contentsOfFile: second.certificatePath, encoding: .utf8), firstText)
        let keyMode = try XCTUnwrap(
            FileManager.default.attributesOfItem(atPath: second.keyPath)[.posixPermissions] as? Int)
        XCTAssertEqual(keyMode, 0o600)
    }

    func testRefusals() {
        XCTAssertThrowsError(try SelfSignedCertificate.write(to: freshDirectory(), days: 0)) { error in
            XCTAssertEqual((error as? TLSError)?.message, "certificate validity must be 1...3650 days, not 0")
        }
        XCTAssertThrowsError(try SelfSignedCertificate.write(to: freshDirectory(), commonName: "")) { error in
            XCTAssertEqual((error as? TLSError)?.message, "certificate common name must be 1...64 printable bytes")
        }
        XCTAssertThrowsError(try SelfSignedCertificate.write(to: freshDirectory(), commonName: "a\nb"))
        XCTAssertThrowsError(try SelfSignedCertificate.write(to: "/dev/null/demo")) { error in
            XCTAssertEqual((error as? TLSError)?.message, "cannot create directory /dev/null/demo: Not a directory")
        }
    }

    func testOwnClientTrustsItAsItsOwnAnchor() throws {
        let paths = try SelfSignedCertificate.write(to: freshDirectory())
        let server = try TLSContext(
            server: TLSServerSettings(certificatePath: paths.certificatePath, privateKeyPath: paths.keyPath))
        let client = try TLSContext(clientCAFile: paths.certificatePath, verifyPeer: true)
        for name in ["localhost", "127.0.0.1"] {
            let sockets = TLSSocketPair()
            let serverConnection = try TLSConnection(context: server, fd: sockets.server)
            let clientConnection = try TLSConnection(context: client, fd: sockets.client, serverName: name)
            let outcome = TLSPump.handshake(server: serverConnection, client: clientConnection)
            XCTAssertTrue(outcome.bothDone, "\(name): \(outcome)")
        }
    }

    func testCurlWithCACertReachesTheServer() throws {
        let paths = try SelfSignedCertificate.write(to: freshDirectory())
        let context = try TLSContext(
            server: TLSServerSettings(certificatePath: paths.certificatePath, privateKeyPath: paths.keyPath))
        let listener = try TLSLoopbackListener()
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = [
            "--silent", "--show-error", "--max-time", "10", "--cacert", paths.certificatePath,
            "--resolve", "localhost:\(listener.port):127.0.0.1", "https://localhost:\(listener.port)/healthz",
        ]
        let output = Pipe()
        curl.standardOutput = output
        curl.standardError = output
        try curl.run()
        let fd = try XCTUnwrap(listener.accept())
        defer { _ = close(fd) }
        let connection = try TLSConnection(context: context, fd: fd)
        XCTAssertTrue(try TLSPollDriver.handshake(connection, fd: fd))
        XCTAssertEqual(connection.alpn, "http/1.1")
        let request = try TLSPollDriver.read(connection, fd: fd, until: "\r\n\r\n")
        XCTAssertTrue(request.text.hasPrefix("GET /healthz HTTP/1.1\r\n"), request.text)
        let body = "{\"status\":\"ok\"}"
        try TLSPollDriver.writeAll(
            connection, fd: fd,
            "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        connection.shutdown()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        curl.waitUntilExit()
        XCTAssertEqual(curl.terminationStatus, 0, text)
        XCTAssertEqual(text, body)
    }
}
