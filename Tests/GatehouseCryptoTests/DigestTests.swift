import XCTest

@testable import GatehouseCrypto

final class DigestTests: XCTestCase {
    private func hex(_ bytes: [UInt8]) -> String { Encoding.hex(bytes) }
    private func bytes(_ hex: String) -> [UInt8] { Encoding.fromHex(hex)! }

    /// FIPS 180-2 examples plus the empty message and one million "a".
    func testSHA2KnownVectors() {
        let vectors: [([UInt8], String, String, String)] = [
            (
                [], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
            ),
            (
                Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            ),
            (
                Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
                "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6b0455a8520bc4e6f5fe95b1fe3c8452b",
                "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"
            ),
            (
                [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000),
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
                "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985",
                "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
            ),
        ]
        for (message, sha256, sha384, sha512) in vectors {
            XCTAssertEqual(hex(Digest.sha256(message)), sha256)
            XCTAssertEqual(hex(Digest.hash(.sha256, message)), sha256)
            XCTAssertEqual(hex(Digest.hash(.sha384, message)), sha384)
            XCTAssertEqual(hex(Digest.hash(.sha512, message)), sha512)
        }
    }

    func testNonContiguousInputHashesTheSame() {
        let message = Array("abc".utf8)
        XCTAssertEqual(Digest.sha256(message), Digest.sha256("abc".utf8))
        XCTAssertEqual(Digest.sha256(message), Digest.sha256(message[...]))
        XCTAssertEqual(Digest.sha256(message), Digest.sha256(message.lazy.map { $0 }))
        XCTAssertEqual(Digest.Algorithm.sha256.outputSize, 32)
        XCTAssertEqual(Digest.Algorithm.sha384.outputSize, 48)
        XCTAssertEqual(Digest.Algorithm.sha512.outputSize, 64)
    }

    /// RFC 4231 test cases 1–7 (case 5 compares the first 128 bits, as the RFC does).
    func testHMACRFC4231() {
        let largeKey = [UInt8](repeating: 0xAA, count: 131)
        let cases: [(key: [UInt8], data: [UInt8], sha256: String, sha384: String, sha512: String, truncate: Int?)] = [
            (
                [UInt8](repeating: 0x0B, count: 20), Array("Hi There".utf8),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
                nil
            ),
            (
                Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
                nil
            ),
            (
                [UInt8](repeating: 0xAA, count: 20), [UInt8](repeating: 0xDD, count: 50),
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
                "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
                "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
                nil
            ),
            (
                Array(1...25), [UInt8](repeating: 0xCD, count: 50),
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
                "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
                "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
                nil
            ),
            (
                [UInt8](repeating: 0x0C, count: 20), Array("Test With Truncation".utf8),
                "a3b6167473100ee06e0c796c2955552b", "3abf34c3503b2a23a46efc619baef897",
                "415fad6271580a531d4179bc891d87a6", 16
            ),
            (
                largeKey, Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
                nil
            ),
            (
                largeKey,
                Array(
                    ("This is a test using a larger than block-size key and a larger than block-size data. "
                        + "The key needs to be hashed before being used by the HMAC algorithm.").utf8),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
                "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
                nil
            ),
        ]
        for (index, c) in cases.enumerated() {
            for (algorithm, expected) in [(Digest.Algorithm.sha256, c.sha256), (.sha384, c.sha384), (.sha512, c.sha512)] {
                var mac = Digest.hmac(algorithm, key: c.key, message: c.data)
                XCTAssertEqual(mac.count, algorithm.outputSize)
                if let truncate = c.truncate { mac = Array(mac.prefix(truncate)) }
                XCTAssertEqual(hex(mac), expected, "RFC 4231 case \(index + 1), \(algorithm)")
            }
        }
    }

    func testHMACWithEmptyKeyAndMessage() {
        // HMAC-SHA256("", "") — a well-known value.
        XCTAssertEqual(
            hex(Digest.hmac(.sha256, key: [UInt8](), message: [UInt8]())),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    func testConstantTimeEquals() {
        XCTAssertTrue(Digest.constantTimeEquals([UInt8](), [UInt8]()))
        XCTAssertTrue(Digest.constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        XCTAssertFalse(Digest.constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        XCTAssertFalse(Digest.constantTimeEquals([0, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        XCTAssertFalse(Digest.constantTimeEquals([1, 2] as [UInt8], [1, 2, 3] as [UInt8]))
        XCTAssertFalse(Digest.constantTimeEquals([UInt8](), [0] as [UInt8]))
    }

    func testSecureRandom() {
        XCTAssertEqual(SecureRandom.bytes(0), [])
        XCTAssertEqual(SecureRandom.bytes(32).count, 32)
        XCTAssertNotEqual(SecureRandom.bytes(32), SecureRandom.bytes(32))
        XCTAssertNotEqual(SecureRandom.uint64(), SecureRandom.uint64())
    }
}
