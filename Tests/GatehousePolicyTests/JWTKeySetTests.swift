import GatehouseCrypto
import XCTest

@testable import GatehousePolicy

final class JWTKeySetTests: XCTestCase {
    // Public halves of the RFC 7515 A.2 (RSA), A.3 (P-256) and RFC 8037 A.2 (Ed25519) example keys.
    private let n =
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
    private let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
    private let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
    private let edX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

    private func rsa(_ extra: String = "") -> String { #"{"kty":"RSA","n":"\#(n)","e":"AQAB"\#(extra)}"# }
    private func ec(_ extra: String = "") -> String { #"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)"\#(extra)}"# }
    private func okp(_ extra: String = "") -> String { #"{"kty":"OKP","crv":"Ed25519","x":"\#(edX)"\#(extra)}"# }

    private func parse(_ keys: String...) throws -> JWKSet {
        try JWKSet.parse(Array(#"{"keys":[\#(keys.joined(separator: ","))]}"#.utf8))
    }

    private func refusal(_ document: String) -> String? {
        do {
            _ = try JWKSet.parse(Array(document.utf8))
            return nil
        } catch {
            return error.message
        }
    }

    private func refusal(keys: String...) -> String? {
        refusal(#"{"keys":[\#(keys.joined(separator: ","))]}"#)
    }

    func testFixtureSet() throws {
        let set = try JWTFixtures.keySet()
        XCTAssertEqual(set.kids, ["rsa-2048", "ec-p256", "ec-p384", "ed-1"])
        XCTAssertEqual(set.keys.map(\.key.kind), [.rsa(bits: 2048), .ecP256, .ecP384, .ed25519])
        XCTAssertEqual(set.keys.map(\.algorithm), [nil, .es256, .es384, .edDSA])
        XCTAssertEqual(
            set.notes,
            [
                #"keys[4] (kid "rsa-enc"): skipped, use "enc""#,
                #"keys[5] (kid "sym"): skipped, kty "oct""#,
                #"keys[6] (kid "x25519"): skipped, curve "X25519""#,
            ])
    }

    func testEachKeyType() throws {
        let set = try parse(rsa(#","kid":"r""#), ec(#","kid":"e""#), okp(#","kid":"o""#))
        XCTAssertEqual(set.kids, ["r", "e", "o"])
        XCTAssertEqual(set.keys.map(\.key.kind), [.rsa(bits: 2048), .ecP256, .ed25519])
        XCTAssertEqual(set.notes, [])
        XCTAssertEqual(set.keys.map(\.use), [nil, nil, nil])
    }

    func testUseAndKeyOps() throws {
        let set = try parse(
            rsa(#","kid":"sig","use":"sig""#), rsa(#","kid":"enc","use":"enc""#),
            ec(#","kid":"ops-verify","key_ops":["verify"]"#), ec(#","kid":"ops-encrypt","key_ops":["encrypt"]"#))
        XCTAssertEqual(set.kids, ["sig", "ops-verify"])
        XCTAssertEqual(
            set.notes,
            [
                #"keys[1] (kid "enc"): skipped, use "enc""#,
                #"keys[3] (kid "ops-encrypt"): skipped, key_ops without "verify""#,
            ])
        XCTAssertEqual(refusal(keys: ec(#","key_ops":"verify""#)), #"keys[0]: "key_ops" must be an array of strings"#)
        XCTAssertEqual(refusal(keys: rsa(#","use":1"#)), #"keys[0]: "use" must be a string"#)
    }

    func testAlgMismatchIsRefused() {
        XCTAssertEqual(
            refusal(keys: rsa(#","kid":"k","alg":"ES256""#)), #"keys[0] (kid "k"): alg "ES256" does not fit a RSA key"#)
        XCTAssertEqual(refusal(keys: ec(#","alg":"ES384""#)), #"keys[0]: alg "ES384" does not fit a EC key on P-256"#)
        XCTAssertEqual(refusal(keys: ec(#","alg":"RS256""#)), #"keys[0]: alg "RS256" does not fit a EC key on P-256"#)
        XCTAssertEqual(
            refusal(keys: okp(#","alg":"ES256""#)), #"keys[0]: alg "ES256" does not fit a OKP key on Ed25519"#)
        XCTAssertEqual(refusal(keys: rsa(#","alg":"HS256""#)), #"keys[0]: alg "HS256" does not fit a RSA key"#)
        XCTAssertEqual(refusal(keys: rsa(#","alg":"EdDSA""#)), #"keys[0]: alg "EdDSA" does not fit a RSA key"#)
    }

    func testAlgHonouredOnLookup() throws {
        let set = try parse(rsa(#","kid":"pss","alg":"PS256""#), rsa(#","kid":"any""#))
        XCTAssertEqual(set.key(kid: "pss", for: .ps256)?.kid, "pss")
        XCTAssertNil(set.key(kid: "pss", for: .rs256))
        XCTAssertNil(set.key(kid: "pss", for: .ps384))
        XCTAssertEqual(set.key(kid: "any", for: .rs512)?.kid, "any")
        XCTAssertEqual(set.key(kid: "any", for: .ps384)?.kid, "any")
        XCTAssertNil(set.key(kid: "any", for: .es256))
        XCTAssertNil(set.key(kid: "missing", for: .rs256))
        XCTAssertTrue(set.contains(kid: "pss"))
        XCTAssertFalse(set.contains(kid: "missing"))
        // Without a kid: the only key that fits, or none when two do.
        XCTAssertEqual(set.key(kid: nil, for: .rs256)?.kid, "any")
        XCTAssertNil(set.key(kid: nil, for: .ps256))
        XCTAssertNil(set.key(kid: nil, for: .edDSA))
    }

    func testUnknownAlgorithmsAndCurvesAreSkipped() throws {
        let set = try parse(
            rsa(#","kid":"oaep","alg":"RSA-OAEP""#), ec(#","kid":"es512","alg":"ES512""#),
            #"{"kty":"EC","kid":"p521","crv":"P-521","x":"AA","y":"AA"}"#,
            #"{"kty":"OKP","kid":"ed448","crv":"Ed448","x":"AA"}"#,
            #"{"kty":"oct","kid":"hmac","alg":"HS256","k":"c2VjcmV0"}"#,
            #"{"kty":"XYZ"}"#, rsa(#","kid":"kept""#))
        XCTAssertEqual(set.kids, ["kept"])
        XCTAssertEqual(
            set.notes,
            [
                #"keys[0] (kid "oaep"): skipped, alg "RSA-OAEP" is not a signature algorithm verified here"#,
                #"keys[1] (kid "es512"): skipped, alg "ES512" is not a signature algorithm verified here"#,
                #"keys[2] (kid "p521"): skipped, curve "P-521""#,
                #"keys[3] (kid "ed448"): skipped, curve "Ed448""#,
                #"keys[4] (kid "hmac"): skipped, kty "oct""#,
                #"keys[5]: skipped, kty "XYZ""#,
            ])
    }

    func testPrivateMembersAreIgnored() throws {
        let set = try parse(
            rsa(#","kid":"r","d":"AQAB","p":"AQAB","q":"AQAB""#),
            okp(#","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A""#))
        XCTAssertEqual(set.keys.count, 2)
        XCTAssertEqual(
            set.notes,
            [
                #"keys[0] (kid "r"): private members ignored (d, p, q)"#,
                "keys[1]: private members ignored (d)",
            ])
    }

    func testMalformedSetsAreRefused() {
        XCTAssertTrue(refusal("")?.hasPrefix("not JSON") == true)
        XCTAssertTrue(refusal(#"{"keys":[]"#)?.hasPrefix("not JSON") == true)
        XCTAssertTrue(refusal(#"{"keys":[],"keys":[]}"#)?.hasPrefix("not JSON: duplicate key") == true)
        XCTAssertEqual(refusal("[]"), "a JWK Set must be a JSON object")
        XCTAssertEqual(refusal("{}"), #"a JWK Set needs a "keys" array"#)
        XCTAssertEqual(refusal(#"{"keys":{}}"#), #"a JWK Set needs a "keys" array"#)
        XCTAssertEqual(refusal(keys: "1"), "keys[0]: not an object")
        XCTAssertEqual(refusal(keys: "{}"), #"keys[0]: no "kty""#)
        XCTAssertEqual(refusal(keys: #"{"kty":1}"#), #"keys[0]: "kty" must be a string"#)
        XCTAssertEqual(
            refusal(keys: #"{"kty":"RSA","kid":2,"n":"AQAB","e":"AQAB"}"#), #"keys[0]: "kid" must be a string"#)
        XCTAssertEqual(refusal(keys: #"{"kty":"RSA","e":"AQAB"}"#), #"keys[0]: no "n""#)
        XCTAssertEqual(refusal(keys: #"{"kty":"RSA","n":"\#(n)=","e":"AQAB"}"#), #"keys[0]: "n" is not base64url"#)
        XCTAssertEqual(refusal(keys: #"{"kty":"RSA","n":"\#(n)","e":"AR"}"#), #"keys[0]: "e" is not base64url"#)
        XCTAssertEqual(
            refusal(keys: #"{"kty":"RSA","n":"\#(n.prefix(168))","e":"AQAB"}"#),
            "keys[0]: RSA modulus of 1008 bits is under 2048")
        XCTAssertEqual(refusal(keys: #"{"kty":"EC","x":"\#(x)","y":"\#(y)"}"#), #"keys[0]: EC key without "crv""#)
        XCTAssertEqual(refusal(keys: #"{"kty":"OKP","x":"\#(edX)"}"#), #"keys[0]: OKP key without "crv""#)
        XCTAssertEqual(
            refusal(keys: #"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#), "keys[0]: Ed25519 key must be 32 bytes")
        let offCurveY = String(y.dropLast()) + (y.last == "0" ? "1" : "0")
        XCTAssertNotNil(refusal(keys: #"{"kty":"EC","kid":"bad","crv":"P-256","x":"\#(x)","y":"\#(offCurveY)"}"#))
        XCTAssertTrue(
            refusal(keys: #"{"kty":"EC","kid":"bad","crv":"P-256","x":"\#(x)","y":"\#(offCurveY)"}"#)?
                .hasPrefix(#"keys[0] (kid "bad"): "#) == true)
        // One bad key refuses the whole set, even after good ones.
        XCTAssertEqual(
            refusal(keys: rsa(), ec(#","alg":"RS256""#)), #"keys[1]: alg "RS256" does not fit a EC key on P-256"#)
    }

    func testEmptySetIsValid() throws {
        let set = try parse()
        XCTAssertEqual(set.kids, [])
        XCTAssertNil(set.key(kid: nil, for: .rs256))
    }
}
