import Foundation
import XCTest

@testable import GatehouseCrypto

final class SignatureKeyTests: XCTestCase {
    private func refusal(_ make: () throws -> PublicKey) -> String? {
        do {
            _ = try make()
            return nil
        } catch let error as PublicKeyError {
            return error.message
        } catch {
            return "unexpected \(error)"
        }
    }

    func testRSAFromModulusAndExponent() throws {
        let key = try RFCVectors.rsaKey()
        XCTAssertEqual(key.kind, .rsa(bits: 2048))
        // A leading zero byte (a common non-minimal encoding) is accepted and changes nothing.
        let padded = try PublicKey(rsaModulus: [0] + RFCVectors.b64(RFCVectors.rsaN), exponent: [0, 1, 0, 1])
        XCTAssertEqual(padded.kind, .rsa(bits: 2048))
        XCTAssertTrue(
            SignatureVerifier.verify(
                algorithm: .rsaPKCS1(.sha256), key: padded,
                message: Array(RFCVectors.a2Input.utf8),
                signature: RFCVectors.b64(RFCVectors.a2Signature)))
    }

    func testSmallRSAKeysAreRefused() throws {
        let n = RFCVectors.b64(RFCVectors.rsaN)
        XCTAssertEqual(
            refusal { try PublicKey(rsaModulus: Array(n.prefix(128)), exponent: [1, 0, 1]) },
            "RSA modulus of 1024 bits is under 2048")
        XCTAssertEqual(
            refusal { try PublicKey(rsaModulus: [0x7F] + Array(n.dropFirst()), exponent: [1, 0, 1]) },
            "RSA modulus of 2047 bits is under 2048")
        XCTAssertEqual(
            refusal { try PublicKey(rsaModulus: [], exponent: [1, 0, 1]) }, "RSA modulus of 0 bits is under 2048")
        XCTAssertEqual(
            refusal { try PublicKey(rsaModulus: [UInt8](repeating: 0xFF, count: 2049), exponent: [1, 0, 1]) },
            "RSA modulus of 16392 bits is over 16384")
        let pemMessage = refusal { try RFCVectors.fixtureKey("rsa1024.pub.pem") }
        XCTAssertEqual(pemMessage, "RSA modulus of 1024 bits is under 2048")
    }

    func testBadRSAExponentsAreRefused() {
        let n = RFCVectors.b64(RFCVectors.rsaN)
        for e: [UInt8] in [[], [0], [1], [0, 1], [2], [1, 0, 0], [UInt8](repeating: 0xFF, count: 33)] {
            XCTAssertEqual(
                refusal { try PublicKey(rsaModulus: n, exponent: e) },
                "RSA exponent must be odd, above 1 and at most 256 bits", "\(e)")
        }
        XCTAssertNil(refusal { try PublicKey(rsaModulus: n, exponent: [3]) })
    }

    func testECPointsAreValidated() throws {
        let x = RFCVectors.b64(RFCVectors.ecX)
        var y = RFCVectors.b64(RFCVectors.ecY)
        XCTAssertEqual(try RFCVectors.ecKey().kind, .ecP256)
        y[31] ^= 1
        let offCurve = refusal { try PublicKey(curve: .p256, x: x, y: y) }
        XCTAssertNotNil(offCurve)
        XCTAssertTrue(
            offCurve?.hasPrefix("EC key refused") == true || offCurve?.hasPrefix("P-256 point") == true,
            offCurve ?? "")
        XCTAssertEqual(
            refusal { try PublicKey(curve: .p256, x: Array(x.dropFirst()), y: RFCVectors.b64(RFCVectors.ecY)) },
            "P-256 coordinates must be 32 bytes each")
        XCTAssertEqual(
            refusal { try PublicKey(curve: .p384, x: x, y: RFCVectors.b64(RFCVectors.ecY)) },
            "P-384 coordinates must be 48 bytes each")
        // The P-256 point read as a P-384 one (zero-extended) is not on P-384.
        XCTAssertNotNil(
            refusal {
                try PublicKey(
                    curve: .p384, x: [UInt8](repeating: 0, count: 16) + x,
                    y: [UInt8](repeating: 0, count: 16) + RFCVectors.b64(RFCVectors.ecY))
            })
        // (0, 0) is on neither curve.
        XCTAssertNotNil(
            refusal {
                try PublicKey(curve: .p256, x: [UInt8](repeating: 0, count: 32), y: [UInt8](repeating: 0, count: 32))
            })
    }

    func testEd25519Lengths() throws {
        XCTAssertEqual(try RFCVectors.edKey().kind, .ed25519)
        XCTAssertEqual(
            refusal { try PublicKey(ed25519: [UInt8](repeating: 1, count: 31)) }, "Ed25519 key must be 32 bytes")
        XCTAssertEqual(
            refusal { try PublicKey(ed25519: [UInt8](repeating: 1, count: 33)) }, "Ed25519 key must be 32 bytes")
    }

    func testPEMKeys() throws {
        XCTAssertEqual(try RFCVectors.fixtureKey("rsa.pub.pem").kind, .rsa(bits: 2048))
        XCTAssertEqual(try RFCVectors.fixtureKey("ec256.pub.pem").kind, .ecP256)
        XCTAssertEqual(try RFCVectors.fixtureKey("ec384.pub.pem").kind, .ecP384)
        XCTAssertEqual(try RFCVectors.fixtureKey("ed25519.pub.pem").kind, .ed25519)
    }

    func testBadPEMIsRefused() throws {
        XCTAssertTrue(
            refusal { try PublicKey(pem: Array("not a key".utf8)) }?.hasPrefix("not a PEM public key") == true)
        XCTAssertTrue(refusal { try PublicKey(pem: [UInt8]()) }?.hasPrefix("not a PEM public key") == true)
        var pem = try String(
            contentsOf: RFCVectors.fixtures.appendingPathComponent("keys/ec256.pub.pem"), encoding: .utf8)
        pem = pem.replacingOccurrences(of: "PUBLIC KEY", with: "PRIVATE KEY")
        XCTAssertNotNil(refusal { try PublicKey(pem: Array(pem.utf8)) })
        // A key of a curve JWS ES256/ES384 do not use (P-521, made with `openssl ecparam`).
        let p521 = """
            -----BEGIN PUBLIC KEY-----
            MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQBlPKkpJcAGxFTGWSnF2Vw4bo8n6nd
            zuzaC2535rAVQPkTjkdOcb8787KiXY91QiMmI3h/lq1BdfskM1JCoWGePkoBeKpY
            98qXbIYMfHEIS/0W1CH7HObuc8oU37UzikZJxJoJWzt59wyiHXgf+cNH59aYk4P+
            YE3iM/2a/bIlcBhjmmE=
            -----END PUBLIC KEY-----
            """
        let message = refusal { try PublicKey(pem: Array(p521.utf8)) }
        XCTAssertEqual(message, "unsupported EC curve secp521r1")
    }

    func testFailuresLeaveNoStaleErrors() throws {
        // A refused key must not leave libcrypto errors that a later, good operation would report.
        _ = refusal { try PublicKey(pem: Array("junk".utf8)) }
        XCTAssertEqual(try RFCVectors.edKey().kind, .ed25519)
        XCTAssertTrue(
            SignatureVerifier.verify(
                algorithm: .ed25519, key: try RFCVectors.edKey(),
                message: Array(RFCVectors.edInput.utf8),
                signature: RFCVectors.b64(RFCVectors.edSignature)))
    }
}
