import Foundation
import Glibc
import XCTest

@testable import GatehousePosix

/// Building contexts: every refusal carries a message that says what and why.
final class TLSContextTests: XCTestCase {
    let fixtures = TLSFixtures.shared

    private func refusal(_ settings: TLSServerSettings, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try TLSContext(server: settings)
            XCTFail("context was accepted", file: file, line: line)
            return ""
        } catch {
            return error.message
        }
    }

    private var valid: TLSServerSettings {
        TLSServerSettings(certificatePath: fixtures.serverChainPath, privateKeyPath: fixtures.serverKeyPath)
    }

    func testDefaultsFollowTheProduct() {
        let settings = TLSServerSettings()
        XCTAssertEqual(settings.minimumVersion, "1.2")
        XCTAssertEqual(
            settings.ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS")
        XCTAssertEqual(settings.clientCAPath, "")
        XCTAssertEqual(settings.clientAuth, .off)
    }

    func testValidServerContextReportsNotAfter() throws {
        let context = try TLSContext(server: valid)
        XCTAssertTrue(context.isServer)
        XCTAssertFalse(context.verifiesPeer)
        let notAfter = try XCTUnwrap(context.certificateNotAfter)
        let expected = Int64(Date().timeIntervalSince1970) + 30 * 86_400
        XCTAssertLessThan(abs(notAfter - expected), 3_600)
    }

    func testMismatchedCertificateAndKeyRefused() {
        var settings = valid
        settings.privateKeyPath = fixtures.clientDNSKeyPath
        let message = refusal(settings)
        XCTAssertTrue(message.hasPrefix("certificate and key do not match"), message)
        XCTAssertTrue(message.contains(fixtures.serverChainPath), message)
    }

    func testMissingCertificateRefusedNamingThePath() {
        var settings = valid
        settings.certificatePath = fixtures.directory + "/nope.pem"
        let message = refusal(settings)
        XCTAssertEqual(message, "cannot read certificate \(fixtures.directory)/nope.pem: No such file or directory")
    }

    func testMissingKeyRefusedNamingThePath() {
        var settings = valid
        settings.privateKeyPath = fixtures.directory + "/nope.key"
        XCTAssertEqual(
            refusal(settings), "cannot read private key \(fixtures.directory)/nope.key: No such file or directory")
    }

    func testUnreadableKeyRefused() throws {
        // As root, mode 000 still reads: a directory is unreadable as a file for everyone.
        var settings = valid
        settings.privateKeyPath = fixtures.directory
        XCTAssertEqual(refusal(settings), "cannot read private key \(fixtures.directory): it is a directory")
        if getuid() != 0 {
            let path = fixtures.directory + "/locked.key"
            try FileManager.default.copyItem(atPath: fixtures.serverKeyPath, toPath: path)
            chmod(path, 0)
            settings.privateKeyPath = path
            XCTAssertEqual(refusal(settings), "cannot read private key \(path): Permission denied")
        }
    }

    func testGarbageCertificateRefusedWithOpenSSLReason() throws {
        let path = fixtures.directory + "/garbage.pem"
        try "not a certificate\n".write(toFile: path, atomically: true, encoding: .utf8)
        var settings = valid
        settings.certificatePath = path
        let message = refusal(settings)
        XCTAssertTrue(message.hasPrefix("cannot load certificate chain \(path): "), message)
        XCTAssertTrue(message.contains("no start line"), message)
        settings = valid
        settings.privateKeyPath = path
        let keyMessage = refusal(settings)
        XCTAssertTrue(keyMessage.hasPrefix("cannot load private key \(path)"), keyMessage)
    }

    func testEmptyPathsRefused() {
        XCTAssertEqual(refusal(TLSServerSettings()), "TLS certificate and key paths required when HTTPS is enabled")
    }

    func testBadMinimumVersionRefused() {
        var settings = valid
        settings.minimumVersion = "1.1"
        XCTAssertEqual(refusal(settings), "tls.min_version must be \"1.2\" or \"1.3\", not \"1.1\"")
    }

    func testCipherListSelectingNothingRefused() {
        var settings = valid
        settings.ciphers = "NOT-A-CIPHER"
        let message = refusal(settings)
        XCTAssertTrue(message.hasPrefix("tls.ciphers selects no usable cipher"), message)
        XCTAssertTrue(message.contains("no cipher match"), message)
    }

    func testClientAuthWithoutCARefused() {
        var settings = valid
        settings.clientAuth = .require
        XCTAssertEqual(refusal(settings), "tls.client_auth requires tls.client_ca (a PEM CA bundle)")
    }

    func testMissingClientCARefused() {
        var settings = valid
        settings.clientAuth = .optional
        settings.clientCAPath = fixtures.directory + "/none.pem"
        XCTAssertEqual(
            refusal(settings), "cannot read client CA file \(fixtures.directory)/none.pem: No such file or directory")
    }

    func testClientCAWithoutCertificatesRefused() throws {
        let path = fixtures.directory + "/empty-ca.pem"
        try "\n".write(toFile: path, atomically: true, encoding: .utf8)
        var settings = valid
        settings.clientAuth = .require
        settings.clientCAPath = path
        let message = refusal(settings)
        XCTAssertTrue(message.contains(path), message)
    }

    func testClientContextRefusesMissingCAFile() {
        XCTAssertThrowsError(try TLSContext(clientCAFile: "/nonexistent/ca.pem", verifyPeer: true)) { error in
            XCTAssertEqual(
                (error as? TLSError)?.message, "cannot read CA file /nonexistent/ca.pem: No such file or directory")
        }
    }

    func testClientContextWithSystemStore() throws {
        let context = try TLSContext(clientCAFile: nil, verifyPeer: true)
        XCTAssertFalse(context.isServer)
        XCTAssertTrue(context.verifiesPeer)
        XCTAssertNil(context.certificateNotAfter)
    }

    func testClientContextWithMismatchedCertificateRefused() {
        XCTAssertThrowsError(
            try TLSContext(
                clientCAFile: fixtures.caPath, verifyPeer: true, certificatePath: fixtures.clientDNSPath,
                privateKeyPath: fixtures.clientURIKeyPath)
        ) { error in
            let message = (error as? TLSError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("certificate and key do not match"), message)
        }
    }
}
