import Foundation
import XCTest

@testable import GatehouseCrypto

/// Published vectors of RFC 7515 appendix A.2/A.3 and RFC 8037 appendix A.4, shared by the key tests.
enum RFCVectors {
    static func b64(_ text: String) -> [UInt8] { Encoding.fromBase64URL(Array(text.utf8))! }

    static let payload =
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

    static let rsaN =
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-"
        + "pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2Ca"
        + "pHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54"
        + "h4FRWyuXpoQ"
    static let rsaE = "AQAB"
    static let a2Input = "eyJhbGciOiJSUzI1NiJ9." + payload
    static let a2Signature =
        "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr"
        + "7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--"
        + "xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_Io"
        + "ypGlUPQGe77Rw"

    static let ecX = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
    static let ecY = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
    static let a3Input = "eyJhbGciOiJFUzI1NiJ9." + payload
    static let a3Signature = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

    static let edX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    static let edInput = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    static let edSignature = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

    static func rsaKey() throws -> PublicKey { try PublicKey(rsaModulus: b64(rsaN), exponent: b64(rsaE)) }
    static func ecKey() throws -> PublicKey { try PublicKey(curve: .p256, x: b64(ecX), y: b64(ecY)) }
    static func edKey() throws -> PublicKey { try PublicKey(ed25519: b64(edX)) }

    /// Tests/GatehousePolicyTests/Fixtures/jwt, written by make_vectors.py (PyJWT + cryptography).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("GatehousePolicyTests/Fixtures/jwt")

    static func fixtureKey(_ name: String) throws -> PublicKey {
        let pem = try Data(contentsOf: fixtures.appendingPathComponent("keys/" + name))
        return try PublicKey(pem: [UInt8](pem))
    }
}

final class SignatureVerifierTests: XCTestCase {
    private static func flipped(_ bytes: [UInt8], at index: Int) -> [UInt8] {
        var copy = bytes
        copy[index] ^= 0x01
        return copy
    }

    func testRFC7515A2RS256() throws {
        let key = try RFCVectors.rsaKey()
        let signature = RFCVectors.b64(RFCVectors.a2Signature)
        let message = Array(RFCVectors.a2Input.utf8)
        XCTAssertTrue(
            SignatureVerifier.verify(algorithm: .rsaPKCS1(.sha256), key: key, message: message, signature: signature))
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .rsaPKCS1(.sha256), key: key, message: message,
                signature: Self.flipped(signature, at: 100)))
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .rsaPKCS1(.sha256), key: key, message: message + [0x20],
                signature: signature))
        // The same bytes are not a PSS signature, nor a SHA-384 one.
        XCTAssertFalse(
            SignatureVerifier.verify(algorithm: .rsaPSS(.sha256), key: key, message: message, signature: signature))
        XCTAssertFalse(
            SignatureVerifier.verify(algorithm: .rsaPKCS1(.sha384), key: key, message: message, signature: signature))
    }

    func testRFC7515A3ES256() throws {
        let key = try RFCVectors.ecKey()
        let signature = RFCVectors.b64(RFCVectors.a3Signature)
        let message = Array(RFCVectors.a3Input.utf8)
        XCTAssertTrue(SignatureVerifier.verify(algorithm: .ecdsaP256, key: key, message: message, signature: signature))
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .ecdsaP256, key: key, message: message,
                signature: Self.flipped(signature, at: 40)))
        // The DER form of the same signature is refused: JWS carries raw r‖s only.
        let der = try XCTUnwrap(SignatureVerifier.derECDSASignature(signature, half: 32))
        XCTAssertFalse(SignatureVerifier.verify(algorithm: .ecdsaP256, key: key, message: message, signature: der))
        XCTAssertFalse(
            SignatureVerifier.verify(algorithm: .ecdsaP384, key: key, message: message, signature: signature))
    }

    func testRFC8037Ed25519() throws {
        let key = try RFCVectors.edKey()
        let signature = RFCVectors.b64(RFCVectors.edSignature)
        let message = Array(RFCVectors.edInput.utf8)
        XCTAssertTrue(SignatureVerifier.verify(algorithm: .ed25519, key: key, message: message, signature: signature))
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .ed25519, key: key, message: message,
                signature: Self.flipped(signature, at: 63)))
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .ed25519, key: key, message: message,
                signature: Array(signature.prefix(63))))
        XCTAssertFalse(SignatureVerifier.verify(algorithm: .ed25519, key: key, message: message, signature: [UInt8]()))
    }

    func testMessageAsSubstringOrSlice() throws {
        let key = try RFCVectors.edKey()
        let signature = RFCVectors.b64(RFCVectors.edSignature)
        let padded = Array(("xx" + RFCVectors.edInput + "yy").utf8)
        XCTAssertTrue(
            SignatureVerifier.verify(
                algorithm: .ed25519, key: key, message: padded[2..<(padded.count - 2)],
                signature: signature[...]))
    }

    func testKeyOfTheWrongKindNeverVerifies() throws {
        let rsa = try RFCVectors.rsaKey()
        let ec = try RFCVectors.ecKey()
        let ed = try RFCVectors.edKey()
        let es = RFCVectors.b64(RFCVectors.a3Signature)
        let rs = RFCVectors.b64(RFCVectors.a2Signature)
        let edSig = RFCVectors.b64(RFCVectors.edSignature)
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .ecdsaP256, key: rsa, message: Array(RFCVectors.a3Input.utf8), signature: es))
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .rsaPKCS1(.sha256), key: ec, message: Array(RFCVectors.a2Input.utf8), signature: rs))
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .ed25519, key: ec, message: Array(RFCVectors.edInput.utf8), signature: edSig))
        XCTAssertFalse(
            SignatureVerifier.verify(
                algorithm: .ecdsaP256, key: ed, message: Array(RFCVectors.edInput.utf8), signature: edSig))
        XCTAssertTrue(SignatureAlgorithm.rsaPSS(.sha512).accepts(.rsa(bits: 4096)))
        XCTAssertFalse(SignatureAlgorithm.ecdsaP384.accepts(.ecP256))
        XCTAssertFalse(SignatureAlgorithm.ed25519.accepts(.ecP256))
    }

    func testECDSASignatureShapes() throws {
        let key = try RFCVectors.ecKey()
        let message = Array(RFCVectors.a3Input.utf8)
        let signature = RFCVectors.b64(RFCVectors.a3Signature)
        for bad in [
            [UInt8](), Array(signature.prefix(63)), signature + [0], signature + signature,
            [UInt8](repeating: 0, count: 64),
        ] {
            XCTAssertFalse(SignatureVerifier.verify(algorithm: .ecdsaP256, key: key, message: message, signature: bad))
        }
        // r = 0 or s = 0 is never a signature.
        XCTAssertNil(
            SignatureVerifier.derECDSASignature(
                [UInt8](repeating: 0, count: 32) + [UInt8](repeating: 1, count: 32), half: 32))
        XCTAssertNil(
            SignatureVerifier.derECDSASignature(
                [UInt8](repeating: 1, count: 32) + [UInt8](repeating: 0, count: 32), half: 32))
        XCTAssertNil(SignatureVerifier.derECDSASignature([UInt8](repeating: 1, count: 63), half: 32))
    }

    func testDEREncodingOfRawSignatures() {
        // Leading zeros dropped, a zero byte added before a high bit.
        var raw = [UInt8](repeating: 0, count: 64)
        raw[31] = 0x05
        raw[32] = 0x80
        let der = SignatureVerifier.derECDSASignature(raw, half: 32)
        XCTAssertEqual(der, [0x30, 3 + 35, 0x02, 1, 0x05, 0x02, 33, 0x00, 0x80] + [UInt8](repeating: 0, count: 31))
        // P-384 worst case: both halves with the high bit set still fit the short length form.
        let wide = SignatureVerifier.derECDSASignature([UInt8](repeating: 0xFF, count: 96), half: 48)
        XCTAssertEqual(wide?.count, 2 + 2 * (2 + 49))
        XCTAssertEqual(wide?[1], 102)
    }

    /// Signatures made by Python's `cryptography` (signatures.json): each verifies or not as recorded.
    func testPythonVectors() throws {
        let data = try Data(contentsOf: RFCVectors.fixtures.appendingPathComponent("signatures.json"))
        let vectors = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertGreaterThan(vectors.count, 20)
        var seen: Set<String> = []
        for vector in vectors {
            let alg = try XCTUnwrap(vector["alg"] as? String)
            let scheme: SignatureAlgorithm
            switch alg {
            case "RS256": scheme = .rsaPKCS1(.sha256)
            case "RS384": scheme = .rsaPKCS1(.sha384)
            case "RS512": scheme = .rsaPKCS1(.sha512)
            case "PS256": scheme = .rsaPSS(.sha256)
            case "PS384": scheme = .rsaPSS(.sha384)
            case "PS512": scheme = .rsaPSS(.sha512)
            case "ES256": scheme = .ecdsaP256
            case "ES384": scheme = .ecdsaP384
            case "EdDSA": scheme = .ed25519
            default: return XCTFail("unknown alg \(alg)")
            }
            let key = try RFCVectors.fixtureKey(try XCTUnwrap(vector["key"] as? String))
            let message = Array(try XCTUnwrap(vector["message"] as? String).utf8)
            let signature = RFCVectors.b64(try XCTUnwrap(vector["signature"] as? String))
            let valid = try XCTUnwrap(vector["valid"] as? Bool)
            XCTAssertEqual(
                SignatureVerifier.verify(algorithm: scheme, key: key, message: message, signature: signature), valid,
                "\(alg) \(vector["note"] ?? "")")
            if valid { seen.insert(alg) }
        }
        XCTAssertEqual(seen, ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"])
    }

    func testConcurrentVerificationsShareOneKey() throws {
        let key = try RFCVectors.rsaKey()
        let signature = RFCVectors.b64(RFCVectors.a2Signature)
        let message = Array(RFCVectors.a2Input.utf8)
        let failures = ManagedAtomicCounter()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let sig = i % 2 == 0 ? signature : Self.flipped(signature, at: i)
            let ok = SignatureVerifier.verify(algorithm: .rsaPKCS1(.sha256), key: key, message: message, signature: sig)
            if ok != (i % 2 == 0) { failures.increment() }
        }
        XCTAssertEqual(failures.value, 0)
    }
}

/// A counter the concurrent test can bump from any thread.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
