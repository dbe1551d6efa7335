import GatehouseCrypto
import XCTest

@testable import GatehousePolicy

final class BearerCredentialTests: XCTestCase {
    private func failure(_ header: String?) -> AuthFailure? {
        if case .failure(let f) = BearerCredential.parse(authorization: header) { return f }
        return nil
    }

    private func credential(_ header: String?) -> BearerCredential? {
        try? BearerCredential.parse(authorization: header).get()
    }

    func testMissingHeader() {
        XCTAssertEqual(failure(nil), .missingHeader)
        XCTAssertEqual(failure(""), .missingHeader)
        XCTAssertEqual(failure("   "), .missingHeader)
    }

    func testInvalidScheme() {
        XCTAssertEqual(failure("Basic x"), .invalidScheme)
        XCTAssertEqual(failure("Basic"), .invalidScheme)
        XCTAssertEqual(failure("Token abc"), .invalidScheme)
        XCTAssertEqual(failure("Bearerabc"), .invalidScheme)
        XCTAssertEqual(failure("abc"), .invalidScheme)
        XCTAssertEqual(failure("Bearer:abc"), .invalidScheme)
        XCTAssertEqual(failure("Bearér abc"), .invalidScheme)
    }

    func testInvalidFormat() {
        XCTAssertEqual(failure("Bearer"), .invalidFormat)
        XCTAssertEqual(failure("Bearer   "), .invalidFormat)
        XCTAssertEqual(failure("Bearer \t "), .invalidFormat)
        XCTAssertEqual(failure("Bearer a b"), .invalidFormat)
    }

    func testSchemeIsCaseInsensitive() {
        XCTAssertEqual(credential("bearer k"), .apiKey("k"))
        XCTAssertEqual(credential("BEARER k"), .apiKey("k"))
        XCTAssertEqual(credential("BeArEr k"), .apiKey("k"))
        XCTAssertEqual(credential("  Bearer   k  "), .apiKey("k"))
        XCTAssertEqual(credential("Bearer\tk"), .apiKey("k"))
    }

    func testJWTClassification() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
        XCTAssertEqual(credential("Bearer " + jwt), .jwt(jwt))
        XCTAssertEqual(credential("Bearer a.b.c"), .jwt("a.b.c"))
        XCTAssertEqual(credential("Bearer a-_.b_-.c-_"), .jwt("a-_.b_-.c-_"))
        // An unsigned token (alg none) is still a JWT, so it is refused as a token.
        XCTAssertEqual(credential("Bearer a.b."), .jwt("a.b."))
        // Not JWT-shaped: judged as API keys.
        XCTAssertEqual(credential("Bearer a.b"), .apiKey("a.b"))
        XCTAssertEqual(credential("Bearer a.b.c.d"), .apiKey("a.b.c.d"))
        XCTAssertEqual(credential("Bearer .b.c"), .apiKey(".b.c"))
        XCTAssertEqual(credential("Bearer a..c"), .apiKey("a..c"))
        XCTAssertEqual(credential("Bearer a.b+.c"), .apiKey("a.b+.c"))
        XCTAssertEqual(credential("Bearer a.b/.c"), .apiKey("a.b/.c"))
        XCTAssertEqual(credential("Bearer a.b.c="), .apiKey("a.b.c="))
        XCTAssertEqual(credential("Bearer a.é.c"), .apiKey("a.é.c"))
        XCTAssertEqual(credential("Bearer .."), .apiKey(".."))
        XCTAssertEqual(credential("Bearer sk_live_abcdef"), .apiKey("sk_live_abcdef"))
        XCTAssertEqual(BearerCredential.jwt("x").text, "x")
        XCTAssertEqual(BearerCredential.apiKey("y").text, "y")
    }

    func testFailureMessagesReasonsAndChallenges() {
        let table: [(AuthFailure, String, String, Bool, Principal.Kind?)] = [
            (.missingHeader, "Missing Authorization header", "missing_header", false, nil),
            (.invalidScheme, "Invalid authorization scheme", "invalid_scheme", false, nil),
            (.invalidFormat, "Invalid authorization format", "invalid_format", false, nil),
            (.invalidAPIKey, "Invalid API key", "unknown_key", true, .apiKey),
            (.invalidToken(reason: "expired"), "Invalid or expired token", "expired", true, .jwt),
        ]
        for (f, message, reason, presented, method) in table {
            XCTAssertEqual(f.message, message)
            XCTAssertEqual(f.reason, reason)
            XCTAssertEqual(f.tokenPresented, presented)
            XCTAssertEqual(f.method, method)
        }
    }

    /// The one-pass parser against the split-based one it replaced, on random headers built from
    /// pieces that sit on its edges: blanks of both kinds, empty parts, dots, near-miss schemes,
    /// non-ASCII and base64url-invalid bytes.
    func testOnePassParseMatchesSplitReference() {
        let pieces = [
            " ", "  ", "\t", " \t ", "", "Bearer", "bearer", "BEARER", "BeArEr", "Bearer:", "Bearerx", "Bearér",
            "Basic", "bearer\u{0}", "Bear", "er", ".", "..", "a", "a.b", "a.b.c", "a.b.", ".b.c", "a..c", "eyJhbGciOi",
            "-_", "+", "/", "=", "é", "k\u{1F600}", "sk_live_abcdef", "\r", "\n", "\u{A0}", "0", "xyz.abc.def.ghi",
        ]
        var rng = SplitMix64(seed: 0x6265_6172_6572)
        var inputs: [String] = ["", " ", "\t", "Bearer", "Bearer ", " Bearer a.b.c ", "Bearer\ta.b.c\t"]
        for _ in 0..<20_000 {
            var header = ""
            for _ in 0..<Int(rng.next() % 7) { header += pieces[Int(rng.next() % UInt64(pieces.count))] }
            inputs.append(header)
        }
        for header in inputs {
            XCTAssertEqual(
                BearerCredential.parse(authorization: header), Self.referenceParse(header),
                "header \(header.debugDescription)")
        }
        XCTAssertEqual(BearerCredential.parse(authorization: nil), Self.referenceParse(nil))
    }

    /// The byte classes of the JWT shape, for every byte, against the range switch they replaced.
    func testJWTShapeByteClassesMatchReference() {
        for c in UInt8.min...UInt8.max {
            let expected: Bool
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                expected = true
            default:
                expected = false
            }
            let token = Array("ab.cd.".utf8) + [c]
            XCTAssertEqual(BearerCredential.isJWTShaped(token), expected, "byte \(c)")
            XCTAssertEqual(BearerCredential.isJWTShaped([c] + Array(".cd.ef".utf8)), expected, "byte \(c)")
            let scheme = Array("Beare".utf8) + [c]
            let expectedScheme = c == UInt8(ascii: "r") || c == UInt8(ascii: "R")
            XCTAssertEqual(
                BearerCredential.parse(authorization: String(decoding: scheme + Array(" k".utf8), as: UTF8.self)),
                expectedScheme ? .success(.apiKey("k")) : .failure(.invalidScheme), "byte \(c)")
        }
    }

    /// The implementation before the one-pass parser, kept verbatim as the oracle.
    private static func referenceParse(_ authorization: String?) -> Result<BearerCredential, AuthFailure> {
        guard let authorization else { return .failure(.missingHeader) }
        let parts = authorization.utf8.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
        guard let scheme = parts.first else { return .failure(.missingHeader) }
        guard referenceIsBearer(scheme) else { return .failure(.invalidScheme) }
        guard parts.count == 2 else { return .failure(.invalidFormat) }
        let credential = String(Substring(parts[1]))
        return .success(BearerCredential.isJWTShaped(parts[1]) ? .jwt(credential) : .apiKey(credential))
    }

    private static func referenceIsBearer<C: Collection>(_ scheme: C) -> Bool where C.Element == UInt8 {
        guard scheme.count == 6 else { return false }
        for (c, b) in zip(scheme, "bearer".utf8) where c | 0x20 != b { return false }
        return true
    }
}

/// A small seeded generator (SplitMix64), so a failing random input can be replayed.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class APIKeyStoreTests: XCTestCase {
    let ciKey = "ci-secret-key-0123456789"
    let plainKey = "plain-key-abcdefghijklmnop"

    private func makeStore() -> APIKeyStore {
        APIKeyStore(entries: [
            APIKeyEntry(name: "ci-bot", digest: Digest.sha256(ciKey.utf8), permissions: ["tools:call"]),
            APIKeyEntry(plainKey: plainKey, name: nil, permissions: ["*"]),
        ])
    }

    func testRightKeyGivesPrincipal() {
        let store = makeStore()
        XCTAssertEqual(
            store.authenticate(key: ciKey), Principal(name: "ci-bot", kind: .apiKey, permissions: ["tools:call"]))
        let unnamed = store.authenticate(key: plainKey)
        let expected = "key:" + String(Encoding.hex(Digest.sha256(plainKey.utf8)).prefix(8))
        XCTAssertEqual(unnamed, Principal(name: expected, kind: .apiKey, permissions: ["*"]))
        XCTAssertEqual(unnamed?.name.count, 12)
        XCTAssertFalse(store.isEmpty)
        XCTAssertEqual(store.count, 2)
    }

    func testWrongKeyGivesNil() {
        let store = makeStore()
        XCTAssertNil(store.authenticate(key: "wrong"))
        XCTAssertNil(store.authenticate(key: ""))
        XCTAssertNil(store.authenticate(key: ciKey + " "))
        XCTAssertNil(store.authenticate(key: String(ciKey.dropLast())))
        XCTAssertNil(store.authenticate(digest: []))
        XCTAssertNil(APIKeyStore(entries: []).authenticate(key: ciKey))
        XCTAssertTrue(APIKeyStore(entries: []).isEmpty)
    }

    func testEmptyNameFallsBackToDigestName() {
        let entry = APIKeyEntry(plainKey: "k", name: "", permissions: [])
        XCTAssertTrue(entry.principalName.hasPrefix("key:"))
    }

    func testDuplicateDigestFirstWins() {
        let d = Digest.sha256("same".utf8)
        let store = APIKeyStore(entries: [
            APIKeyEntry(name: "first", digest: d, permissions: ["a"]),
            APIKeyEntry(name: "second", digest: d, permissions: ["b"]),
        ])
        XCTAssertEqual(store.authenticate(key: "same")?.name, "first")
    }

    func testDigestFromHashText() {
        // SHA-256("abc").
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        XCTAssertEqual(APIKeyEntry.digest(fromHashText: "sha256:" + hex), Digest.sha256("abc".utf8))
        XCTAssertEqual(APIKeyEntry.digest(fromHashText: "SHA256:" + hex.uppercased()), Digest.sha256("abc".utf8))
        XCTAssertNil(APIKeyEntry.digest(fromHashText: hex))
        XCTAssertNil(APIKeyEntry.digest(fromHashText: "sha256:" + hex.dropLast()))
        XCTAssertNil(APIKeyEntry.digest(fromHashText: "sha256:" + hex.dropLast() + "g"))
        XCTAssertNil(APIKeyEntry.digest(fromHashText: "sha512:" + hex))
    }
}
