import XCTest

@testable import GatehouseCrypto

final class EncodingTests: XCTestCase {
    private func decodeURL(_ text: String) -> [UInt8]? { Encoding.fromBase64URL(Array(text.utf8)) }
    private func decodePadded(_ text: String) -> [UInt8]? { Encoding.fromBase64URLPadded(Array(text.utf8)) }
    private func decodeStd(_ text: String) -> [UInt8]? { Encoding.fromBase64(Array(text.utf8)) }

    func testHex() {
        XCTAssertEqual(Encoding.hex([UInt8]()), "")
        XCTAssertEqual(Encoding.hex([0x00, 0x01, 0xAB, 0xFF] as [UInt8]), "0001abff")
        XCTAssertEqual(Encoding.fromHex("0001abff"), [0x00, 0x01, 0xAB, 0xFF])
        XCTAssertEqual(Encoding.fromHex("0001ABFF"), [0x00, 0x01, 0xAB, 0xFF])
        XCTAssertEqual(Encoding.fromHex(""), [])
        XCTAssertNil(Encoding.fromHex("abc"))
        XCTAssertNil(Encoding.fromHex("zz"))
        XCTAssertNil(Encoding.fromHex("0g"))
        XCTAssertNil(Encoding.fromHex(" 00"))
        XCTAssertNil(Encoding.fromHex("0x00"))
        let all = [UInt8](0...255)
        XCTAssertEqual(Encoding.fromHex(Encoding.hex(all)), all)
    }

    /// RFC 4648 §10 test vectors.
    func testBase64RFC4648Vectors() {
        let vectors: [(String, String)] = [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ]
        for (plain, encoded) in vectors {
            let bytes = Array(plain.utf8)
            XCTAssertEqual(Encoding.base64(bytes), encoded)
            XCTAssertEqual(Encoding.base64URL(bytes, padded: true), encoded)
            let unpadded = String(encoded.prefix { $0 != "=" })
            XCTAssertEqual(Encoding.base64URL(bytes), unpadded)
            XCTAssertEqual(decodeStd(encoded), bytes)
            XCTAssertEqual(decodePadded(encoded), bytes)
            XCTAssertEqual(decodeURL(unpadded), bytes)
        }
    }

    func testBase64URLAlphabet() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF]
        XCTAssertEqual(Encoding.base64URL(bytes), "-_-_")
        XCTAssertEqual(Encoding.base64(bytes), "+/+/")
        XCTAssertEqual(decodeURL("-_-_"), bytes)
        XCTAssertEqual(decodeStd("+/+/"), bytes)
        // Each alphabet refuses the other's characters.
        XCTAssertNil(decodeURL("+/+/"))
        XCTAssertNil(decodeStd("-_-_"))
        XCTAssertNil(decodePadded("+/+/"))
    }

    func testBase64URLRefusesPaddingWhitespaceAndBadCharacters() {
        XCTAssertNil(decodeURL("Zg=="))
        XCTAssertNil(decodeURL("Zm8="))
        XCTAssertNil(decodeURL("Zm9v "))
        XCTAssertNil(decodeURL(" Zm9v"))
        XCTAssertNil(decodeURL("Zm\n9v"))
        XCTAssertNil(decodeURL("Zm9v."))
        XCTAssertNil(decodeURL("Zm9v!"))
        XCTAssertNil(decodeURL("Zm9vé"))
        XCTAssertNil(decodeURL("Z"), "a single leftover character cannot encode a byte")
        XCTAssertNil(decodeURL("Zm9vY"))
    }

    func testBase64RefusesNonCanonicalEncodings() {
        // "Zg" is canonical for "f"; "Zh".."Zv" carry non-zero unused bits.
        XCTAssertEqual(decodeURL("Zg"), Array("f".utf8))
        XCTAssertNil(decodeURL("Zh"))
        XCTAssertNil(decodeURL("Zv"))
        XCTAssertEqual(decodeURL("Zm8"), Array("fo".utf8))
        XCTAssertNil(decodeURL("Zm9"))
        XCTAssertNil(decodePadded("Zh=="))
        XCTAssertNil(decodeStd("Zm9="))
    }

    func testPaddedDecodersNeedExactPadding() {
        XCTAssertNil(decodePadded("Zg"))
        XCTAssertNil(decodePadded("Zg="))
        XCTAssertNil(decodePadded("Zg==="))
        XCTAssertNil(decodePadded("Zg=A"))
        XCTAssertNil(decodePadded("Z==="))
        XCTAssertNil(decodePadded("Zm9v===="))
        XCTAssertNil(decodePadded("=Zm9"))
        XCTAssertNil(decodePadded("Zm=v"))
        XCTAssertNil(decodeStd("Zg"))
        XCTAssertNil(decodeStd("Zm9vYg="))
        XCTAssertEqual(decodeStd(""), [])
    }

    func testRoundTripsEveryLength() {
        var state: UInt32 = 12345
        for length in 0..<100 {
            var bytes = [UInt8]()
            for _ in 0..<length {
                state = state &* 1_103_515_245 &+ 12345
                bytes.append(UInt8(truncatingIfNeeded: state >> 16))
            }
            XCTAssertEqual(decodeURL(Encoding.base64URL(bytes)), bytes)
            XCTAssertEqual(decodePadded(Encoding.base64URL(bytes, padded: true)), bytes)
            XCTAssertEqual(decodeStd(Encoding.base64(bytes)), bytes)
        }
    }
}
