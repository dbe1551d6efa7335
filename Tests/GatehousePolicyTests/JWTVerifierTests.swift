import Foundation
import GatehouseCrypto
import GatehouseJSON
import XCTest

@testable import GatehousePolicy

final class JWTVerifierTests: XCTestCase {
    private var document: JWTFixtures.Document!

    override func setUpWithError() throws {
        document = try JWTFixtures.load()
    }

    private func reason(_ result: JWTVerification) -> String {
        result.failureReason ?? "valid"
    }

    // MARK: - PyJWT vectors

    /// Every vector of tokens.json gives the recorded outcome under the standard configuration, except
    /// the key-confusion token, which is about a gateway without a secret (below).
    func testEveryPyJWTVector() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertGreaterThan(document.vectors.count, 60)
        for vector in document.vectors where vector.name != "key-confusion-hs256-rsa-pem" {
            let result = verifier.verify(vector.token)
            XCTAssertEqual(reason(result), vector.expect, vector.name)
            if case .valid(let principal, let expiresAt) = result {
                XCTAssertEqual(principal.kind, .jwt, vector.name)
                XCTAssertEqual(expiresAt, document.now + 3600, vector.name)
                if let sub = vector.sub { XCTAssertEqual(principal.name, sub, vector.name) }
                if let permissions = vector.permissions {
                    XCTAssertEqual(principal.permissions, permissions, vector.name)
                }
            }
            if case .unknownKeyID(let kid) = result { XCTAssertEqual(kid, vector.kid, vector.name) }
        }
    }

    func testOutcomesMapToTheContract401() {
        let p = Principal(name: "a", kind: .jwt, permissions: [])
        XCTAssertNil(JWTVerification.valid(p, expiresAt: 1).authFailure)
        XCTAssertEqual(JWTVerification.invalid(reason: "expired").authFailure, .invalidToken(reason: "expired"))
        XCTAssertEqual(JWTVerification.unknownKeyID("k").authFailure, .invalidToken(reason: "unknown_kid"))
        XCTAssertEqual(JWTVerification.unknownKeyID("k").authFailure?.message, "Invalid or expired token")
        XCTAssertEqual(JWTVerification.invalid(reason: "alg_none").authFailure?.method, .jwt)
    }

    func testEveryAlgorithmVerifies() throws {
        let verifier = try JWTFixtures.verifier(document)
        for alg in JWTAlgorithm.allCases {
            let vector = document.vector("valid-" + alg.rawValue)
            XCTAssertEqual(
                verifier.verify(vector.token),
                .valid(
                    Principal(name: "alice-" + alg.rawValue, kind: .jwt, permissions: ["tools:call", "read", "write"]),
                    expiresAt: document.now + 3600), alg.rawValue)
        }
    }

    func testAlgorithmOutsideTheAllowListIsRefused() throws {
        for alg in JWTAlgorithm.allCases {
            let others = Set(JWTAlgorithm.allCases).subtracting([alg])
            let verifier = try JWTFixtures.verifier(document, algorithms: others)
            XCTAssertEqual(
                verifier.verify(document.vector("valid-" + alg.rawValue).token), .invalid(reason: "alg_not_allowed"))
        }
    }

    func testAlgNoneInEverySpelling() throws {
        let verifier = try JWTFixtures.verifier(document)
        for name in ["alg-none", "alg-None", "alg-NONE"] {
            XCTAssertEqual(verifier.verify(document.vector(name).token), .invalid(reason: "alg_none"), name)
        }
        // Even signed, and even when the token carries a signature segment.
        let signed = JWTSigner.sign(
            header: [("alg", "nOnE")], claims: [("sub", "x"), ("exp", .integer(document.now + 60))],
            secret: document.secret)
        XCTAssertEqual(verifier.verify(signed), .invalid(reason: "alg_none"))
    }

    /// HS256 signed with the RSA public key's PEM as the HMAC secret: the classic key-confusion attack.
    func testKeyConfusion() throws {
        let token = document.vector("key-confusion-hs256-rsa-pem").token
        // A gateway with RS256 keys and no secret, even with HS256 wrongly listed: refused as key confusion.
        let noSecret = try JWTFixtures.verifier(document, algorithms: [.hs256, .rs256], secret: [])
        XCTAssertEqual(noSecret.verify(token), .invalid(reason: "key_confusion"))
        // The usual configuration for public keys: HS256 is simply not allowed.
        let publicOnly = try JWTFixtures.verifier(document, algorithms: [.rs256], secret: [])
        XCTAssertEqual(publicOnly.verify(token), .invalid(reason: "alg_not_allowed"))
        // Even when the PEM itself were the configured secret, it would only be compared as a secret,
        // never derived from the JWK Set: with the real secret the signature is simply wrong.
        let withSecret = try JWTFixtures.verifier(document)
        XCTAssertEqual(withSecret.verify(token), .invalid(reason: "bad_signature"))
    }

    func testPublicKeyAlgorithmWithoutKeySet() throws {
        let verifier = try JWTFixtures.verifier(document, keys: .some(nil))
        XCTAssertEqual(verifier.verify(document.vector("valid-RS256").token), .invalid(reason: "key_confusion"))
        XCTAssertEqual(verifier.verify(document.vector("valid-EdDSA").token), .invalid(reason: "key_confusion"))
        XCTAssertEqual(reason(verifier.verify(document.vector("valid-HS256").token)), "valid")
    }

    func testUnknownKidAsksForARefetch() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(verifier.verify(document.vector("unknown-kid").token), .unknownKeyID("rotated-2"))
        // After the rotation (a set that has the new key), the same token verifies.
        let other = try JWTFixtures.bytes("keys/rsa-other.pub.pem")
        let rotated = JWKSet(
            keys: try JWKSet.parse(try JWTFixtures.bytes("jwks.json")).keys
                + [JWTKey(kid: "rotated-2", algorithm: .rs256, key: try PublicKey(pem: other))])
        let after = try JWTFixtures.verifier(document, keys: rotated)
        XCTAssertEqual(reason(after.verify(document.vector("unknown-kid").token)), "valid")
        // An empty set (a JWKS that could not be fetched yet) also asks for a refetch.
        let empty = try JWTFixtures.verifier(document, keys: JWKSet(keys: []))
        XCTAssertEqual(empty.verify(document.vector("valid-RS256").token), .unknownKeyID("rsa-2048"))
        XCTAssertEqual(empty.verify(document.vector("valid-RS256-no-kid").token), .invalid(reason: "unknown_kid"))
    }

    func testKidWithoutAMatchingKeyType() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(
            verifier.verify(document.vector("es256-wrong-curve-kid").token), .invalid(reason: "key_mismatch"))
    }

    func testNoKidNeedsExactlyOneKeyOfTheType() throws {
        let set = try JWTFixtures.keySet()
        let rsa = try XCTUnwrap(set.keys.first { $0.kid == "rsa-2048" })
        let twoRSA = JWKSet(keys: set.keys + [JWTKey(kid: "rsa-copy", algorithm: nil, key: rsa.key)])
        let verifier = try JWTFixtures.verifier(document, keys: twoRSA)
        XCTAssertEqual(verifier.verify(document.vector("valid-RS256-no-kid").token), .invalid(reason: "unknown_kid"))
        XCTAssertEqual(reason(verifier.verify(document.vector("valid-RS256").token)), "valid")
        XCTAssertEqual(reason(verifier.verify(document.vector("valid-ES256-no-kid").token)), "valid")
    }

    func testHeaderURLsAndEmbeddedKeysAreNeverUsed() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(reason(verifier.verify(document.vector("valid-jku-ignored").token)), "valid")
        XCTAssertEqual(reason(verifier.verify(document.vector("valid-x5u-ignored").token)), "valid")
        // Signed by the attacker's key, which the header points at or embeds: refused.
        XCTAssertEqual(
            verifier.verify(document.vector("embedded-jwk-ignored").token), .invalid(reason: "bad_signature"))
        XCTAssertEqual(verifier.verify(document.vector("jku-to-attacker-key").token), .invalid(reason: "bad_signature"))
    }

    func testES256SignatureInDERFormIsRefused() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(verifier.verify(document.vector("es256-der-signature").token), .invalid(reason: "bad_signature"))
    }

    // MARK: - RFC 7515 examples through the whole verifier

    /// A.1–A.3 share a payload without `sub`: `{"iss":"joe","exp":1300819380,"http://example.com/is_root":true}`.
    private func rfcVerifier(keys: JWKSet?, secret: [UInt8] = []) -> JWTVerifier {
        JWTVerifier(
            settings: JWTSettingsRuntime(algorithms: [.hs256, .rs256, .es256], secret: secret, subjectClaim: "iss"),
            keys: keys, clock: ManualClock(nowSeconds: 1_300_819_000))
    }

    private let rfcPayload =
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

    func testRFC7515A1HS256() throws {
        let key = try XCTUnwrap(
            Encoding.fromBase64URL(
                Array("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow".utf8)))
        let token =
            "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + rfcPayload + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        let joe = JWTVerification.valid(Principal(name: "joe", kind: .jwt, permissions: []), expiresAt: 1_300_819_380)
        XCTAssertEqual(rfcVerifier(keys: nil, secret: key).verify(token), joe)
        XCTAssertEqual(rfcVerifier(keys: nil, secret: key + [0]).verify(token), .invalid(reason: "bad_signature"))
        // Its default subject claim is absent: no principal.
        let plain = JWTVerifier(
            settings: JWTSettingsRuntime(secret: key), keys: nil, clock: ManualClock(nowSeconds: 1_300_819_000))
        XCTAssertEqual(plain.verify(token), .invalid(reason: "missing_subject"))
    }

    func testRFC7515A2RS256AndA3ES256() throws {
        let jwks = """
            {"keys":[
             {"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"},
             {"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
              "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}
            ]}
            """
        let set = try JWKSet.parse(Array(jwks.utf8))
        XCTAssertEqual(set.notes, ["keys[1]: private members ignored (d)"])
        let verifier = rfcVerifier(keys: set)
        let a2 =
            "eyJhbGciOiJSUzI1NiJ9." + rfcPayload
            + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
        let a3 =
            "eyJhbGciOiJFUzI1NiJ9." + rfcPayload
            + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
        let joe = JWTVerification.valid(Principal(name: "joe", kind: .jwt, permissions: []), expiresAt: 1_300_819_380)
        XCTAssertEqual(verifier.verify(a2), joe)
        XCTAssertEqual(verifier.verify(a3), joe)
        // The RFC's tokens expired in 2011.
        let today = JWTVerifier(settings: verifier.settings, keys: set, clock: ManualClock(nowSeconds: document.now))
        XCTAssertEqual(today.verify(a2), .invalid(reason: "expired"))
    }

    // MARK: - Structure and base64url

    /// A valid HS256 token cut into its three segments.
    private func segments() -> [String] {
        document.vector("valid-HS256").token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    func testMalformedStructure() throws {
        let verifier = try JWTFixtures.verifier(document)
        let s = segments()
        let cases = [
            "", ".", "..", "...", s[0], s[0] + "." + s[1], s.joined(separator: ".") + ".",
            "." + s.joined(separator: "."),
            s[0] + ".." + s[2], "." + s[1] + "." + s[2], s.joined(separator: ".") + "." + s[2],
            s[0] + "." + s[1] + "." + s[2] + " ", " " + s.joined(separator: "."),
        ]
        for token in cases {
            XCTAssertEqual(verifier.verify(token), .invalid(reason: "malformed"), token)
        }
    }

    /// Strict base64url in every segment: padding, the standard alphabet, whitespace, a length that
    /// no encoding has, and non-canonical trailing bits are all `malformed`.
    func testStrictBase64URL() throws {
        let verifier = try JWTFixtures.verifier(document)
        let s = segments()
        XCTAssertEqual(reason(verifier.verify(s.joined(separator: "."))), "valid")
        for index in 0..<3 {
            var variants: [String] = [
                s[index] + "=", s[index] + "==", s[index] + "\n",
                // A length no base64 text has (4n + 1 characters).
                s[index] + String(repeating: "A", count: (5 - s[index].count % 4) % 4), "+" + s[index].dropFirst(),
                "/" + s[index].dropFirst(), s[index].prefix(4) + " " + s[index].dropFirst(4), s[index] + "%3D",
            ]
            // The same bytes with a non-zero unused low bit in the last character.
            if s[index].count % 4 != 0, let tweaked = Self.withTrailingBitSet(s[index]) { variants.append(tweaked) }
            for variant in variants {
                var parts = s
                parts[index] = variant
                XCTAssertEqual(
                    verifier.verify(parts.joined(separator: ".")), .invalid(reason: "malformed"),
                    "segment \(index): \(variant)")
            }
        }
    }

    /// `segment` with its last character's unused low bits set: decoders that ignore them would read the
    /// same bytes (the "malleable base64" issue).
    private static func withTrailingBitSet(_ segment: String) -> String? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        guard let last = segment.last, let value = alphabet.firstIndex(of: last) else { return nil }
        return String(segment.dropLast()) + String(alphabet[value | 1])
    }

    func testMalformedHeadersAndPayloads() throws {
        let verifier = try JWTFixtures.verifier(document)
        for name in [
            "alg-missing", "alg-number", "kid-number", "header-array", "header-not-json", "duplicate-alg-header",
            "duplicate-sub-payload", "payload-array", "payload-not-json", "exp-string", "exp-bool", "sub-number",
            "permissions-string", "permissions-mixed", "scope-array",
        ] {
            XCTAssertEqual(verifier.verify(document.vector(name).token), .invalid(reason: "malformed"), name)
        }
        // Unauthenticated payloads are not even parsed: garbage after a header that verifies is a bad signature.
        let s = segments()
        XCTAssertEqual(verifier.verify(s[0] + ".e30." + s[2]), .invalid(reason: "bad_signature"))
    }

    func testCritAndTyp() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(verifier.verify(document.vector("crit").token), .invalid(reason: "crit"))
        XCTAssertEqual(verifier.verify(document.vector("crit-empty").token), .invalid(reason: "crit"))
        XCTAssertEqual(verifier.verify(document.vector("typ-other").token), .invalid(reason: "typ"))
        XCTAssertEqual(verifier.verify(document.vector("typ-number").token), .invalid(reason: "typ"))
        for typ in ["JWT", "jwt", "at+jwt", "AT+JWT", "application/jwt", "application/at+jwt"] {
            XCTAssertEqual(
                reason(verifier.verify(mint(header: [("alg", "HS256"), ("typ", .string(typ))]))), "valid", typ)
        }
        for typ in ["JWS", "application/json", "", "jwt ", "JOSE"] {
            XCTAssertEqual(
                verifier.verify(mint(header: [("alg", "HS256"), ("typ", .string(typ))])), .invalid(reason: "typ"), typ)
        }
    }

    func testAlgNamesAreCaseSensitive() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(verifier.verify(document.vector("alg-lowercase").token), .invalid(reason: "alg_not_allowed"))
        XCTAssertEqual(verifier.verify(document.vector("alg-unknown").token), .invalid(reason: "alg_not_allowed"))
        XCTAssertEqual(verifier.verify(mint(header: [("alg", "EDDSA")])), .invalid(reason: "alg_not_allowed"))
        XCTAssertEqual(verifier.verify(mint(header: [("alg", "ES512")])), .invalid(reason: "alg_not_allowed"))
    }

    func testTooLarge() throws {
        XCTAssertEqual(
            try JWTFixtures.verifier(document).verify(document.vector("too-large").token), .invalid(reason: "too_large")
        )
        let token = document.vector("valid-HS256").token
        let exact = JWTVerifier(
            settings: JWTSettingsRuntime(secret: document.secret, maxTokenBytes: token.utf8.count),
            keys: nil, clock: ManualClock(nowSeconds: document.now))
        XCTAssertEqual(reason(exact.verify(token)), "valid")
        let oneLess = JWTVerifier(
            settings: JWTSettingsRuntime(secret: document.secret, maxTokenBytes: token.utf8.count - 1),
            keys: nil, clock: ManualClock(nowSeconds: document.now))
        XCTAssertEqual(oneLess.verify(token), .invalid(reason: "too_large"))
        XCTAssertEqual(JWTSettingsRuntime().maxTokenBytes, 8192)
        // A token of 8192 bytes exactly is accepted by default, 8193 is not.
        let verifier = JWTVerifier(
            settings: JWTSettingsRuntime(secret: document.secret), keys: nil,
            clock: ManualClock(nowSeconds: document.now))
        let base = claims()
        let probe = JWTSigner.hs256(claims: base + [("pad", "")], secret: document.secret)
        let fill = 8192 - probe.utf8.count
        // Each 3 bytes of padding claim become 4 base64url characters; aim at exactly 8192.
        for extra in 0...3 {
            let t = JWTSigner.hs256(
                claims: base + [("pad", .string(String(repeating: "x", count: fill * 3 / 4 + extra)))],
                secret: document.secret)
            if t.utf8.count <= 8192 {
                XCTAssertEqual(reason(verifier.verify(t)), "valid", "\(t.utf8.count)")
            } else {
                XCTAssertEqual(verifier.verify(t), .invalid(reason: "too_large"), "\(t.utf8.count)")
            }
        }
    }

    // MARK: - Time claims with a manual clock

    private func claims(exp: Int64? = nil, nbf: Int64? = nil, iat: Int64? = nil) -> [(String, JSONValue)] {
        var c: [(String, JSONValue)] = [
            ("sub", "alice"), ("iss", .string(document.issuer)), ("aud", .string(document.audience)),
        ]
        if let exp { c.append(("exp", .integer(exp))) } else { c.append(("exp", .integer(document.now + 3600))) }
        if let nbf { c.append(("nbf", .integer(nbf))) }
        if let iat { c.append(("iat", .integer(iat))) }
        return c
    }

    private func mint(
        header: [(String, JSONValue)] = [("alg", "HS256"), ("typ", "JWT")], claims: [(String, JSONValue)]? = nil
    ) -> String {
        JWTSigner.sign(header: header, claims: claims ?? self.claims(), secret: document.secret)
    }

    func testExpiryLeewayBoundary() throws {
        let clock = ManualClock(nowSeconds: 0)
        let verifier = try JWTFixtures.verifier(document, clock: clock, leeway: 30)
        let exp: Int64 = 1_000_000
        let token = mint(claims: claims(exp: exp))
        clock.nowSeconds = exp - 1
        XCTAssertEqual(
            verifier.verify(token), .valid(Principal(name: "alice", kind: .jwt, permissions: []), expiresAt: exp))
        clock.nowSeconds = exp + 29
        XCTAssertEqual(reason(verifier.verify(token)), "valid")
        clock.nowSeconds = exp + 30
        XCTAssertEqual(verifier.verify(token), .invalid(reason: "expired"))
        clock.advance(by: 1_000)
        XCTAssertEqual(verifier.verify(token), .invalid(reason: "expired"))
        // Without leeway the token dies at exp itself.
        let strict = try JWTFixtures.verifier(document, clock: clock, leeway: 0)
        clock.nowSeconds = exp - 1
        XCTAssertEqual(reason(strict.verify(token)), "valid")
        clock.nowSeconds = exp
        XCTAssertEqual(strict.verify(token), .invalid(reason: "expired"))
    }

    func testNotBeforeLeewayBoundary() throws {
        let clock = ManualClock(nowSeconds: 0)
        let verifier = try JWTFixtures.verifier(document, clock: clock, leeway: 30)
        let nbf: Int64 = 1_000_000
        let token = mint(claims: claims(exp: nbf + 3600, nbf: nbf))
        clock.nowSeconds = nbf - 31
        XCTAssertEqual(verifier.verify(token), .invalid(reason: "not_yet_valid"))
        clock.nowSeconds = nbf - 30
        XCTAssertEqual(reason(verifier.verify(token)), "valid")
        clock.nowSeconds = nbf
        XCTAssertEqual(reason(verifier.verify(token)), "valid")
    }

    func testIssuedAtLeewayBoundary() throws {
        let clock = ManualClock(nowSeconds: 0)
        let verifier = try JWTFixtures.verifier(document, clock: clock, leeway: 30)
        let iat: Int64 = 1_000_000
        let token = mint(claims: claims(exp: iat + 3600, iat: iat))
        clock.nowSeconds = iat - 31
        XCTAssertEqual(verifier.verify(token), .invalid(reason: "iat_future"))
        clock.nowSeconds = iat - 30
        XCTAssertEqual(reason(verifier.verify(token)), "valid")
    }

    func testFractionalAndExtremeNumericDates() throws {
        let clock = ManualClock(nowSeconds: 1_000)
        let verifier = try JWTFixtures.verifier(document, clock: clock, leeway: 0)
        func token(exp: String) -> String {
            mint(claims: [
                ("sub", "a"), ("iss", .string(document.issuer)), ("aud", .string(document.audience)),
                ("exp", .number(exp)),
            ])
        }
        // 1000.5 has not passed at 1000 (rounded up to 1001), it has at 1001.
        XCTAssertEqual(reason(verifier.verify(token(exp: "1000.5"))), "valid")
        XCTAssertEqual(reason(verifier.verify(token(exp: "1.0005e3"))), "valid")
        clock.nowSeconds = 1_001
        XCTAssertEqual(verifier.verify(token(exp: "1000.5")), .invalid(reason: "expired"))
        XCTAssertEqual(reason(verifier.verify(token(exp: "1e18"))), "valid")
        XCTAssertEqual(reason(verifier.verify(token(exp: "1e30"))), "valid")  // saturates, never overflows
        XCTAssertEqual(verifier.verify(token(exp: "-1e30")), .invalid(reason: "expired"))
        XCTAssertEqual(verifier.verify(token(exp: "1e400")), .invalid(reason: "malformed"))  // no finite value
        // Saturating leeway arithmetic at the ends of Int64.
        let huge = try JWTFixtures.verifier(document, clock: ManualClock(nowSeconds: .min), leeway: 30)
        XCTAssertEqual(huge.verify(token(exp: "-9223372036854775808")), .invalid(reason: "expired"))
        let late = try JWTFixtures.verifier(document, clock: ManualClock(nowSeconds: .max), leeway: .max)
        XCTAssertEqual(reason(late.verify(mint(claims: claims(exp: .max, nbf: .max, iat: .max)))), "valid")
        XCTAssertEqual(late.verify(mint(claims: claims(exp: 0))), .invalid(reason: "expired"))
    }

    func testTimeClaimReasons() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(verifier.verify(document.vector("expired").token), .invalid(reason: "expired"))
        XCTAssertEqual(verifier.verify(document.vector("nbf-future").token), .invalid(reason: "not_yet_valid"))
        XCTAssertEqual(verifier.verify(document.vector("iat-future").token), .invalid(reason: "iat_future"))
        XCTAssertEqual(verifier.verify(document.vector("missing-exp").token), .invalid(reason: "missing_exp"))
    }

    // MARK: - Issuer, audience, subject, permissions

    func testIssuerAndAudience() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(verifier.verify(document.vector("wrong-iss").token), .invalid(reason: "wrong_issuer"))
        XCTAssertEqual(verifier.verify(document.vector("missing-iss").token), .invalid(reason: "wrong_issuer"))
        XCTAssertEqual(verifier.verify(document.vector("wrong-aud").token), .invalid(reason: "wrong_audience"))
        XCTAssertEqual(verifier.verify(document.vector("wrong-aud-array").token), .invalid(reason: "wrong_audience"))
        XCTAssertEqual(verifier.verify(document.vector("missing-aud").token), .invalid(reason: "wrong_audience"))
        XCTAssertEqual(reason(verifier.verify(document.vector("valid-aud-array").token)), "valid")
        // Not configured: not checked (empty strings are "not configured").
        let open = JWTVerifier(
            settings: JWTSettingsRuntime(secret: document.secret, issuer: "", audience: ""), keys: nil,
            clock: ManualClock(nowSeconds: document.now))
        for name in ["wrong-iss", "missing-iss", "wrong-aud", "missing-aud"] {
            XCTAssertEqual(reason(open.verify(document.vector(name).token)), "valid", name)
        }
        // Compared exactly: no case folding, no trailing-slash normalisation.
        for aud in [document.audience.uppercased(), document.audience + "/", " " + document.audience] {
            var c = claims()
            c[2] = ("aud", .string(aud))
            XCTAssertEqual(verifier.verify(mint(claims: c)), .invalid(reason: "wrong_audience"), aud)
        }
    }

    func testSubjectAndPermissions() throws {
        let verifier = try JWTFixtures.verifier(document)
        XCTAssertEqual(verifier.verify(document.vector("missing-subject").token), .invalid(reason: "missing_subject"))
        XCTAssertEqual(verifier.verify(document.vector("empty-subject").token), .invalid(reason: "missing_subject"))
        guard case .valid(let bob, _) = verifier.verify(document.vector("valid-user-id").token) else {
            return XCTFail()
        }
        XCTAssertEqual(bob.name, "bob")
        guard case .valid(let bare, _) = verifier.verify(document.vector("valid-no-permissions").token) else {
            return XCTFail()
        }
        XCTAssertEqual(bare.permissions, [])

        var c = claims()
        c.append(("permissions", ["tools:call", "admin", "tools:call"]))
        c.append(("scope", "  read admin   write "))
        guard case .valid(let p, _) = verifier.verify(mint(claims: c)) else { return XCTFail() }
        XCTAssertEqual(p.permissions, ["tools:call", "admin", "read", "write"])

        // A configured subject and permissions claim.
        let custom = JWTVerifier(
            settings: JWTSettingsRuntime(secret: document.secret, subjectClaim: "email", permissionsClaim: "roles"),
            keys: nil, clock: ManualClock(nowSeconds: document.now))
        let token = mint(claims: [
            ("sub", "s-1"), ("email", "e@example.com"), ("roles", ["admin"]), ("permissions", ["x"]),
            ("exp", .integer(document.now + 60)),
        ])
        XCTAssertEqual(
            custom.verify(token),
            .valid(
                Principal(name: "e@example.com", kind: .jwt, permissions: ["admin"]),
                expiresAt: document.now + 60))
        let wrongType = mint(claims: [("email", 5), ("exp", .integer(document.now + 60))])
        XCTAssertEqual(custom.verify(wrongType), .invalid(reason: "malformed"))
        let userIDFallback = mint(claims: [("sub", "s-1"), ("user_id", "u-1"), ("exp", .integer(document.now + 60))])
        guard case .valid(let u, _) = custom.verify(userIDFallback) else { return XCTFail() }
        XCTAssertEqual(u.name, "u-1")
    }

    func testBadSignatures() throws {
        let verifier = try JWTFixtures.verifier(document)
        for name in document.vectors.map(\.name)
        where name.hasPrefix("bad-signature") || name.hasPrefix("payload-changed") {
            XCTAssertEqual(verifier.verify(document.vector(name).token), .invalid(reason: "bad_signature"), name)
        }
        for name in ["wrong-secret", "wrong-key-known-kid", "empty-signature"] {
            XCTAssertEqual(verifier.verify(document.vector(name).token), .invalid(reason: "bad_signature"), name)
        }
        // A signature from another HMAC size, or truncated, never matches.
        let s = segments()
        let hs512 = JWTSigner.sign(header: [("alg", "HS512")], claims: claims(), secret: document.secret)
        let sig512 = String(hs512.split(separator: ".")[2])
        XCTAssertEqual(verifier.verify(s[0] + "." + s[1] + "." + sig512), .invalid(reason: "bad_signature"))
        XCTAssertEqual(verifier.verify(s[0] + "." + s[1] + "." + s[2].dropLast(3)), .invalid(reason: "bad_signature"))
    }

    func testSignerRoundTrip() throws {
        let token = JWTSigner.hs256(
            claims: [("sub", "cli"), ("permissions", ["a", "b"]), ("exp", .integer(document.now + 60))],
            secret: document.secret)
        let parts = token.split(separator: ".").map { String($0) }
        XCTAssertEqual(parts.count, 3)
        XCTAssertEqual(
            Encoding.fromBase64URL(Array(parts[0].utf8)).map { String(decoding: $0, as: UTF8.self) },
            #"{"alg":"HS256","typ":"JWT"}"#)
        XCTAssertEqual(
            Encoding.fromBase64URL(Array(parts[1].utf8)).map { String(decoding: $0, as: UTF8.self) },
            #"{"sub":"cli","permissions":["a","b"],"exp":\#(document.now + 60)}"#)
        let verifier = JWTVerifier(
            settings: JWTSettingsRuntime(secret: document.secret), keys: nil,
            clock: ManualClock(nowSeconds: document.now))
        XCTAssertEqual(
            verifier.verify(token),
            .valid(
                Principal(name: "cli", kind: .jwt, permissions: ["a", "b"]),
                expiresAt: document.now + 60))
        for alg in [JWTAlgorithm.hs384, .hs512] {
            let t = JWTSigner.sign(
                claims: [("sub", "x"), ("exp", .integer(document.now + 60))], algorithm: alg, secret: document.secret)
            let v = JWTVerifier(
                settings: JWTSettingsRuntime(algorithms: [alg], secret: document.secret), keys: nil,
                clock: ManualClock(nowSeconds: document.now))
            XCTAssertEqual(reason(v.verify(t)), "valid", alg.rawValue)
        }
    }

    /// Random mutations of valid tokens never trap and never turn into a valid token for another subject.
    func testMutationsNeverTrap() throws {
        let verifier = try JWTFixtures.verifier(document)
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ".utf8)
        for vector in document.vectors where vector.expect == "valid" {
            for _ in 0..<40 {
                var bytes = Array(vector.token.utf8)
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[position] = alphabet.randomElement(using: &generator)!  // non-empty literal
                case 1: bytes.remove(at: position)
                default: bytes.insert(alphabet.randomElement(using: &generator)!, at: position)  // non-empty literal
                }
                let mutated = String(decoding: bytes, as: UTF8.self)
                if case .valid(let principal, _) = verifier.verify(mutated) {
                    // Only an unused-bit-free re-encoding of the same bytes could still verify; the subject stays.
                    XCTAssertEqual(principal.name, vector.sub ?? "alice", vector.name)
                }
            }
        }
    }
}

/// The vectors of Fixtures/jwt (minted by make_vectors.py with PyJWT) and verifiers configured like them.
enum JWTFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/jwt")

    /// One token of tokens.json.
    struct Vector {
        var name: String
        var token: String
        var expect: String
        var sub: String?
        var permissions: [String]?
        var kid: String?
    }

    struct Document {
        var now: Int64
        var secret: [UInt8]
        var issuer: String
        var audience: String
        var vectors: [Vector]

        func vector(_ name: String) -> Vector {
            guard let found = vectors.first(where: { $0.name == name }) else { fatalError("no vector \(name)") }
            return found
        }
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func load() throws -> Document {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try bytes("tokens.json"))) as? [String: Any])
        let tokens = try XCTUnwrap(object["tokens"] as? [[String: Any]])
        return Document(
            now: Int64(try XCTUnwrap(object["now"] as? Int)),
            secret: Array(try XCTUnwrap(object["secret"] as? String).utf8),
            issuer: try XCTUnwrap(object["issuer"] as? String),
            audience: try XCTUnwrap(object["audience"] as? String),
            vectors: try tokens.map {
                Vector(
                    name: try XCTUnwrap($0["name"] as? String), token: try XCTUnwrap($0["token"] as? String),
                    expect: try XCTUnwrap($0["expect"] as? String), sub: $0["sub"] as? String,
                    permissions: $0["permissions"] as? [String], kid: $0["kid"] as? String)
            })
    }

    static func keySet() throws -> JWKSet { try JWKSet.parse(try bytes("jwks.json")) }

    /// The verifier every vector's `expect` is written for: all algorithms, the secret, the JWK Set,
    /// issuer and audience required, 30 s leeway, the clock at `now`.
    static func verifier(
        _ document: Document, algorithms: Set<JWTAlgorithm> = Set(JWTAlgorithm.allCases), secret: [UInt8]? = nil,
        keys: JWKSet?? = nil, clock: (any Clock)? = nil, leeway: Int64 = 30
    ) throws -> JWTVerifier {
        JWTVerifier(
            settings: JWTSettingsRuntime(
                algorithms: algorithms, secret: secret ?? document.secret, issuer: document.issuer,
                audience: document.audience, leewaySeconds: leeway),
            keys: try keys ?? keySet(), clock: clock ?? ManualClock(nowSeconds: document.now))
    }
}
