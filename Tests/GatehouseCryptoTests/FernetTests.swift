import Foundation
import XCTest

@testable import GatehouseCrypto

/// Fernet tokens and the password-derived key of PRODUCT.md §8: round trips, every refusal (tampering,
/// another key, TTL, malformed text), and fixed vectors produced by Python's `cryptography` and hashlib.
final class FernetTests: XCTestCase {
    private let key = try! FernetKey(encoded: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=")  // the spec's key
    private let iv = Array(UInt8(0)..<16)
    private let now: Int64 = 499_162_800  // 1985-10-26T08:20:00Z, the spec's time

    private func reason(_ body: () throws(FernetError) -> [UInt8]) -> FernetError.Reason? {
        do {
            _ = try body()
            return nil
        } catch {
            return error.reason
        }
    }

    // MARK: PBKDF2

    /// RFC 7914 §11 (PBKDF2-HMAC-SHA256), the 80000-iteration case included.
    func testPBKDF2SHA256KnownVectors() {
        XCTAssertEqual(
            Encoding.hex(
                PBKDF2.deriveKey(password: Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1, length: 64)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        )
        XCTAssertEqual(
            Encoding.hex(
                PBKDF2.deriveKey(
                    password: Array("Password".utf8), salt: Array("NaCl".utf8), iterations: 80000, length: 64)),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        )
    }

    func testPBKDF2AcceptsEmptyPasswordAndSalt() {
        // hashlib.pbkdf2_hmac('sha256', b'', b'', 1, 32)
        XCTAssertEqual(
            Encoding.hex(PBKDF2.deriveKey(password: [UInt8](), salt: [UInt8](), iterations: 1, length: 32)),
            "f7ce0b653d2d72a4108cf5abe912ffdd777616dbbb27a70e8204f3ae2d0f6fad")
    }

    // MARK: Keys

    /// `hashlib.pbkdf2_hmac('sha256', 'pässword'.encode(), b'gatehouse-salt', 100000, 32)`, and a token
    /// Python's Fernet made with that key (`_encrypt_from_parts(..., 499162800, bytes(range(16)))`):
    /// the UTF-8 bytes of password and salt, as in the seed.
    func testPasswordDerivedKeyMatchesPython() throws {
        let derived = FernetKey.derive(password: Array("pässword".utf8), salt: Array("gatehouse-salt".utf8))
        XCTAssertEqual(derived.encoded, "8G0lp86zkgOHJrjy5Xa0EUQ4oIOyqOVteTOpdgZMcqQ=")
        let python =
            "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODxn0tGUsG7ZT4QjiFVtHwSBabW39YZG42Dlr9_6vGDIqnuGzZpGV-rdo5INqMvVzqepqUoUreu1X4hwwnt4u3Vrfz6mu8tbBsD3sCv0MbtPk"
        let fernet = Fernet(key: derived)
        XCTAssertEqual(
            String(decoding: try fernet.decrypt(python), as: UTF8.self), "the plain secret value 0123456789")
        XCTAssertEqual(fernet.encrypt(Array("the plain secret value 0123456789".utf8), now: now, iv: iv), python)
    }

    func testKeyRefusesWrongSizesAndText() {
        for count in [0, 16, 31, 33, 64] {
            XCTAssertThrowsError(try FernetKey([UInt8](repeating: 1, count: count))) {
                XCTAssertEqual(($0 as? FernetError)?.reason, .invalidKey)
            }
        }
        for text in ["", "not base64!", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4", "AAAA"] {
            XCTAssertThrowsError(try FernetKey(encoded: text), text)
        }
        XCTAssertEqual(key.signingKey.count, 16)
        XCTAssertEqual(key.encryptionKey.count, 16)
        XCTAssertEqual(key.encoded, "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=")
    }

    // MARK: Round trips

    func testRoundTripsEveryLengthAcrossBlockBoundaries() throws {
        let fernet = Fernet(key: key)
        for length in 0...49 {
            let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let token = fernet.encrypt(plaintext)
            XCTAssertEqual(try fernet.decrypt(token), plaintext, "length \(length)")
            XCTAssertTrue(token.hasPrefix("gAAAAA"))
            XCTAssertEqual(token.utf8.count % 4, 0)
            let raw = try XCTUnwrap(Encoding.fromBase64URLPadded(token.utf8))
            XCTAssertEqual(raw.count, 57 + (length / 16 + 1) * 16)
        }
    }

    func testFreshIVEveryTime() {
        let fernet = Fernet(key: key)
        XCTAssertNotEqual(fernet.encrypt(Array("same".utf8), now: now), fernet.encrypt(Array("same".utf8), now: now))
    }

    func testTimestampIsBigEndianSeconds() throws {
        let token = Fernet(key: key).encrypt([UInt8](), now: 0x0102_0304_0506_0708, iv: iv)
        let raw = try XCTUnwrap(Encoding.fromBase64URLPadded(token.utf8))
        XCTAssertEqual(Array(raw[0..<25]), [0x80, 1, 2, 3, 4, 5, 6, 7, 8] + iv)
    }

    // MARK: Refusals

    func testEveryFlippedBitIsRefused() throws {
        let fernet = Fernet(key: key)
        let token = fernet.encrypt(Array("a secret of some length".utf8), now: now, iv: iv)
        let raw = try XCTUnwrap(Encoding.fromBase64URLPadded(token.utf8))
        for index in raw.indices {
            for bit in [0, 3, 7] {
                var tampered = raw
                tampered[index] ^= 1 << UInt8(bit)
                let text = Encoding.base64URL(tampered, padded: true)
                let expected: FernetError.Reason = index == 0 ? .malformed : .badSignature
                XCTAssertEqual(reason { () throws(FernetError) in try fernet.decrypt(text) }, expected, "byte \(index)")
            }
        }
    }

    func testAnotherKeyIsRefused() {
        let token = Fernet(key: key).encrypt(Array("x".utf8))
        let right = FernetKey.derive(password: Array("right".utf8), salt: Array("salt".utf8), iterations: 1000)
        let wrong = FernetKey.derive(password: Array("wrong".utf8), salt: Array("salt".utf8), iterations: 1000)
        let otherSalt = FernetKey.derive(password: Array("right".utf8), salt: Array("pepper".utf8), iterations: 1000)
        XCTAssertEqual(reason { () throws(FernetError) in try Fernet(key: wrong).decrypt(token) }, .badSignature)
        let byRight = Fernet(key: right).encrypt(Array("x".utf8))
        XCTAssertEqual(try Fernet(key: right).decrypt(byRight), Array("x".utf8))
        XCTAssertEqual(reason { () throws(FernetError) in try Fernet(key: wrong).decrypt(byRight) }, .badSignature)
        XCTAssertEqual(reason { () throws(FernetError) in try Fernet(key: otherSalt).decrypt(byRight) }, .badSignature)
    }

    func testTTL() throws {
        let fernet = Fernet(key: key)
        let token = fernet.encrypt(Array("x".utf8), now: now)
        XCTAssertEqual(try fernet.decrypt(token, ttl: 60, now: now + 60), Array("x".utf8))  // boundary: still valid
        XCTAssertEqual(reason { () throws(FernetError) in try fernet.decrypt(token, ttl: 60, now: now + 61) }, .expired)
        // Up to 60 s of clock skew is tolerated; beyond it the token is from the future.
        XCTAssertEqual(try fernet.decrypt(token, ttl: 60, now: now - 60), Array("x".utf8))
        XCTAssertEqual(
            reason { () throws(FernetError) in try fernet.decrypt(token, ttl: 60, now: now - 61) }, .fromTheFuture)
        // Without a TTL the time is not checked at all (as Python's decrypt(token)).
        XCTAssertEqual(try fernet.decrypt(token, now: now + 10 * 365 * 86_400), Array("x".utf8))
        XCTAssertEqual(try fernet.decrypt(token, now: 0), Array("x".utf8))
    }

    func testExtremeTimestampsDoNotTrap() throws {
        let fernet = Fernet(key: key)
        let far = fernet.encrypt(Array("x".utf8), now: -1)  // stamp 0xffff_ffff_ffff_ffff
        XCTAssertEqual(reason { () throws(FernetError) in try fernet.decrypt(far, ttl: 60, now: now) }, .fromTheFuture)
        let max = fernet.encrypt(Array("x".utf8), now: Int64.max)
        XCTAssertEqual(try fernet.decrypt(max, ttl: Int64.max, now: Int64.max), Array("x".utf8))
    }

    func testMalformedTextIsRefused() {
        let fernet = Fernet(key: key)
        let good = fernet.encrypt(Array("hello".utf8), now: now, iv: iv)
        let cases = [
            "", "gAAAAA==", String(good.dropLast()), good + "=", good + "\n", " " + good,
            good.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/"),
            String(good.prefix(while: { $0 != "=" })),  // padding removed
            Encoding.base64URL([0x81] + Array(repeating: 0, count: 72), padded: true),  // wrong version
            Encoding.base64URL([0x80] + Array(repeating: 0, count: 56), padded: true),  // no ciphertext
            Encoding.base64URL([0x80] + Array(repeating: 0, count: 80), padded: true),  // not whole blocks
        ]
        for text in cases where text != good {
            let r = reason { () throws(FernetError) in try fernet.decrypt(text) }
            XCTAssertNotNil(r, text)
            if text.hasSuffix("=") == false, !text.isEmpty, text.count % 4 == 0 {
                XCTAssertNotEqual(r, .badPadding, text)
            }
        }
        XCTAssertEqual(FernetError(.badSignature).description, "invalid Fernet token")
        XCTAssertEqual(FernetError(.malformed).description, FernetError(.expired).description)
    }

    /// A token whose HMAC is right but whose plaintext padding is not (only someone with the key can
    /// build one) is refused, not returned.
    func testBadPaddingUnderAValidSignatureIsRefused() {
        let fernet = Fernet(key: key)
        var body: [UInt8] = [0x80] + Array(repeating: 0, count: 8) + iv + Array(repeating: 0x41, count: 16)
        body += Digest.hmac(.sha256, key: key.signingKey, message: body)
        let text = Encoding.base64URL(body, padded: true)
        XCTAssertEqual(reason { () throws(FernetError) in try fernet.decrypt(text) }, .badPadding)
    }
}
