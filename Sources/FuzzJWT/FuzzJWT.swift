import FuzzSupport
import GatehouseCrypto
import GatehouseJSON
import GatehousePolicy

/// libFuzzer target for `JWTVerifier` with a fixed configuration: an HMAC secret and a JWK Set holding
/// the RFC 7515 A.2 RSA key, the A.3 P-256 key and the RFC 8037 Ed25519 key, the clock at the RFC
/// tokens' time. The first input byte picks what the rest is:
/// - 0 (and any byte not below): a bearer token. The verdict is deterministic; a valid token is three
///   canonical base64url segments with an allowed, non-`none` `alg` and no `crit`, and changing its
///   signature's first character makes it invalid.
/// - 1: a claims object, signed here with the secret (HS256). The verdict is never about the key or
///   the signature; a valid one names the subject claim's string; the same claims signed with another
///   secret are `bad_signature`.
/// - 2: a header object, signed here with valid claims. A valid verdict needs an allowed HMAC `alg`
///   (exact case), no `crit` and an accepted `typ`; `alg` "none" in any case is always `alg_none`.
@main
enum FuzzJWT {
    static let secret = Array("fuzz-secret-0123456789abcdef-0123456789".utf8)
    static let now: Int64 = 1_300_819_000

    static let jwks = """
        {"keys":[
         {"kty":"RSA","kid":"rsa1","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"},
         {"kty":"EC","kid":"ec1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
         {"kty":"OKP","kid":"ed1","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}
        """

    static let allowed: Set<JWTAlgorithm> = [.hs256, .hs384, .rs256, .es256, .edDSA]

    static func makeVerifier(secret: [UInt8]) -> JWTVerifier {
        // `try!`: the key set above is a constant known to parse.
        let keys = try! JWKSet.parse(Array(jwks.utf8))
        return JWTVerifier(
            settings: JWTSettingsRuntime(algorithms: allowed, secret: secret, subjectClaim: "iss", maxTokenBytes: 4096),
            keys: keys, clock: ManualClock(nowSeconds: now))
    }

    static let verifier = makeVerifier(secret: secret)

    static func main() {
        FuzzDriver.run { input in
            guard let selector = input.first else { return }
            let rest = Array(input.dropFirst())
            switch selector {
            case 1: checkClaims(rest)
            case 2: checkHeader(rest)
            default: checkToken(String(decoding: rest, as: UTF8.self))
            }
        }
    }

    static func checkToken(_ token: String) {
        let verdict = verifier.verify(token)
        FuzzDriver.require(verifier.verify(token) == verdict, "verdict is not deterministic")
        guard case .valid = verdict else { return }
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        FuzzDriver.require(segments.count == 3, "valid with \(segments.count) segments")
        for segment in segments {
            guard let decoded = Encoding.fromBase64URL(segment.utf8) else {
                FuzzDriver.fail("valid with bad base64url")
            }
            FuzzDriver.require(Encoding.base64URL(decoded) == String(segment), "valid with non-canonical base64url")
        }
        // `!`: the segment decoded just above.
        let header = try? JSONReader.parse(Encoding.fromBase64URL(segments[0].utf8)!)
        guard let alg = header?["alg"]?.stringValue.flatMap(JWTAlgorithm.init(rawValue:)) else {
            FuzzDriver.fail("valid without a known alg")
        }
        FuzzDriver.require(allowed.contains(alg), "valid with alg \(alg) outside the list")
        FuzzDriver.require(header?["crit"] == nil, "valid with crit")
        var tampered = Array(segments[2].utf8)
        if !tampered.isEmpty {
            tampered[0] = tampered[0] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let forged = segments[0] + "." + segments[1] + "." + String(decoding: tampered, as: UTF8.self)
            if case .valid = verifier.verify(forged) { FuzzDriver.fail("a changed signature still verifies") }
        }
    }

    static let claimReasons: Set<String> = [
        "malformed", "missing_exp", "expired", "not_yet_valid", "iat_future", "wrong_issuer", "wrong_audience",
        "missing_subject", "too_large",
    ]

    static func checkClaims(_ bytes: [UInt8]) {
        guard case .object(let claims)? = try? JSONReader.parse(bytes, maxDepth: 32) else { return }
        let members = claims.members.map { ($0.key, $0.value) }
        let token = JWTSigner.sign(claims: members, algorithm: .hs256, secret: secret)
        let verdict = verifier.verify(token)
        switch verdict {
        case .valid(let principal, let expiresAt):
            FuzzDriver.require(principal.kind == .jwt, "principal kind")
            FuzzDriver.require(
                principal.name == claims["iss"]?.stringValue || principal.name == claims["user_id"]?.stringValue,
                "principal \(principal.name) is not the subject claim")
            FuzzDriver.require(!principal.name.isEmpty, "empty principal")
            FuzzDriver.require(expiresAt > now - 30, "valid but expired at \(expiresAt)")
        case .invalid(let reason):
            FuzzDriver.require(claimReasons.contains(reason), "claims-only token refused for \(reason)")
        case .unknownKeyID:
            FuzzDriver.fail("HMAC token asked for a key id")
        }
        let forged = JWTSigner.sign(
            claims: members, algorithm: .hs256, secret: Array("another-secret-0123456789abcdef-01234".utf8))
        let forgedVerdict = verifier.verify(forged)
        FuzzDriver.require(
            forgedVerdict == .invalid(reason: "bad_signature") || forgedVerdict == .invalid(reason: "too_large"),
            "a token signed with another secret got \(forgedVerdict)")
    }

    static func checkHeader(_ bytes: [UInt8]) {
        guard case .object(let header)? = try? JSONReader.parse(bytes, maxDepth: 16) else { return }
        let claims: [(String, JSONValue)] = [("iss", "joe"), ("exp", .integer(now + 600))]
        let token = JWTSigner.sign(header: header.members.map { ($0.key, $0.value) }, claims: claims, secret: secret)
        let verdict = verifier.verify(token)
        let algText = header["alg"]?.stringValue
        if let algText, algText.lowercased() == "none" {
            FuzzDriver.require(verdict == .invalid(reason: "alg_none"), "alg \(algText) got \(verdict)")
        }
        guard case .valid = verdict else { return }
        guard let algText, let alg = JWTAlgorithm(rawValue: algText), alg.isHMAC, allowed.contains(alg) else {
            FuzzDriver.fail("valid with alg \(String(describing: algText))")
        }
        FuzzDriver.require(header["crit"] == nil, "valid with crit")
        if let kid = header["kid"] { FuzzDriver.require(kid.stringValue != nil, "valid with a non-string kid") }
    }
}
