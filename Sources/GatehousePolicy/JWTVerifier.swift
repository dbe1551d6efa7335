import GatehouseCrypto
import GatehouseJSON

/// The outcome of checking one JWT.
public enum JWTVerification: Sendable, Equatable {
    /// Authentic and current. `expiresAt` is the token's `exp` (seconds since the epoch, rounded up),
    /// the instant after which a cached copy of this result must not be used.
    case valid(Principal, expiresAt: Int64)
    /// Refused; `reason` is the log's reason word (see `JWTVerifier`).
    case invalid(reason: String)
    /// Signed with a key whose `kid` is not in the current JWK Set: the caller may refetch the set
    /// (rate-limited) and verify again, then refuse with reason `unknown_kid`.
    case unknownKeyID(String)

    /// The 401 failure of a refusal (`Invalid or expired token` with the reason), nil when valid.
    public var authFailure: AuthFailure? {
        failureReason.map { .invalidToken(reason: $0) }
    }

    /// The log reason of a refusal (`unknown_kid` for `.unknownKeyID`), nil when valid.
    public var failureReason: String? {
        switch self {
        case .valid: return nil
        case .invalid(let reason): return reason
        case .unknownKeyID: return "unknown_kid"
        }
    }
}

/// Verifies compact-JWS JWTs against the configured secret, JWK Set and claim rules (contract §5).
///
/// Checks, in order, each refusal with its log reason:
/// 1. `too_large`: more than `maxTokenBytes` bytes.
/// 2. `malformed`: not three dot-separated segments, a segment that is not strict base64url (padding,
///    `+`/`/`, whitespace and non-zero trailing bits refused), a header that is not a JSON object
///    (duplicate keys refused by the reader), `alg` missing or not a string, `kid` not a string.
/// 3. `alg_none`: `alg` is `none` in any letter case.
/// 4. `alg_not_allowed`: `alg` is not one of ours (exact case) or not in `algorithms`.
/// 5. `crit`: any `crit` header, even an empty one — no extension is understood here (RFC 7515 §4.1.11).
/// 6. `typ`: a `typ` other than `JWT` or `at+jwt` (case-insensitive, `application/` prefix allowed).
/// 7. `key_confusion`: an HMAC `alg` with no secret configured (so an HMAC token never meets a key
///    that is public, such as an RSA key's PEM), or a public-key `alg` with no JWK Set.
/// 8. `unknown_kid` (as `.unknownKeyID`): the header's `kid` is not in the set. Without a `kid`, the only
///    key that fits the algorithm is used; none or several → `.invalid("unknown_kid")`.
///    `key_mismatch`: the `kid` exists but its key cannot verify this `alg` (kind, curve or JWK `alg`).
/// 9. `bad_signature`: the signature does not verify (HMAC compared in constant time; ES256/384 only in
///    raw r‖s form).
/// 10. `malformed`: the payload is not a JSON object, or a claim has the wrong type (`exp`/`nbf`/`iat`
///    not numbers, `sub`/`iss`/the subject claim/`scope` not strings, `aud` neither a string nor an array
///    of strings, permissions not an array of strings). The payload is only parsed once the signature
///    has verified, so unauthenticated bytes never reach the claim code.
/// 11. `missing_exp`, `expired` (`now - leeway >= exp`), `not_yet_valid` (`nbf > now + leeway`),
///    `iat_future` (`iat > now + leeway`), `wrong_issuer`, `wrong_audience` (missing claims included),
///    `missing_subject` (neither the subject claim nor `user_id` is a non-empty string).
///
/// `jku`, `x5u`, `x5c` and `jwk` headers are ignored: keys come only from the configuration, never from
/// the token. Time comes only from the injected clock. `verify` never throws and never traps.
public final class JWTVerifier: Sendable {
    public let settings: JWTSettingsRuntime
    public let keys: JWKSet?
    private let clock: any Clock

    public init(settings: JWTSettingsRuntime, keys: JWKSet?, clock: any Clock) {
        self.settings = settings
        self.keys = keys
        self.clock = clock
    }

    /// Checks `token` (the bearer credential, without the scheme).
    public func verify(_ token: String) -> JWTVerification {
        var text = token
        return text.withUTF8 { verify(bytes: $0) }
    }

    private func verify(bytes: UnsafeBufferPointer<UInt8>) -> JWTVerification {
        guard bytes.count <= settings.maxTokenBytes else { return .invalid(reason: "too_large") }
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")),
            let secondDot = bytes[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
            !bytes[(secondDot + 1)...].contains(UInt8(ascii: "."))
        else { return .invalid(reason: "malformed") }
        let headerText = bytes[..<firstDot]
        let payloadText = bytes[(firstDot + 1)..<secondDot]
        let signatureText = bytes[(secondDot + 1)...]
        guard !headerText.isEmpty, !payloadText.isEmpty,
            let headerBytes = Encoding.fromBase64URL(headerText),
            let payloadBytes = Encoding.fromBase64URL(payloadText),
            let signature = Encoding.fromBase64URL(signatureText),
            case .object(let header)? = try? JSONReader.parse(headerBytes, maxDepth: 16)
        else { return .invalid(reason: "malformed") }

        // Header.
        guard case .string(let algText)? = header["alg"] else { return .invalid(reason: "malformed") }
        if Self.isNone(algText) { return .invalid(reason: "alg_none") }
        guard let alg = JWTAlgorithm(rawValue: algText), settings.algorithms.contains(alg) else {
            return .invalid(reason: "alg_not_allowed")
        }
        if header["crit"] != nil { return .invalid(reason: "crit") }
        if let typ = header["typ"], !Self.isAcceptedType(typ) { return .invalid(reason: "typ") }
        var kid: String? = nil
        if let kidValue = header["kid"] {
            guard case .string(let k) = kidValue else { return .invalid(reason: "malformed") }
            kid = k
        }

        // Key and signature, over the bytes as received.
        let signingInput = UnsafeBufferPointer(rebasing: bytes[..<secondDot])
        if let digest = alg.hmacDigest {
            guard !settings.secret.isEmpty else { return .invalid(reason: "key_confusion") }
            let expected = Digest.hmac(digest, key: settings.secret, message: signingInput)
            guard Digest.constantTimeEquals(expected, signature) else { return .invalid(reason: "bad_signature") }
        } else {
            guard let keys, let scheme = alg.signatureAlgorithm else { return .invalid(reason: "key_confusion") }
            guard let key = keys.key(kid: kid, for: alg) else {
                guard let kid else { return .invalid(reason: "unknown_kid") }
                return keys.contains(kid: kid) ? .invalid(reason: "key_mismatch") : .unknownKeyID(kid)
            }
            guard SignatureVerifier.verify(algorithm: scheme, key: key.key, message: signingInput, signature: signature)
            else { return .invalid(reason: "bad_signature") }
        }

        // Claims, only now that they are known to be authentic.
        guard case .object(let claims)? = try? JSONReader.parse(payloadBytes, maxDepth: 32) else {
            return .invalid(reason: "malformed")
        }
        return check(claims)
    }

    private func check(_ claims: JSONObject) -> JWTVerification {
        // Types first, so that a wrongly typed claim is `malformed` whatever else is wrong.
        guard let exp = Self.numericDate(claims["exp"]), let nbf = Self.numericDate(claims["nbf"]),
            let iat = Self.numericDate(claims["iat"]),
            let issuer = Self.optionalString(claims["iss"]), let audiences = Self.audiences(claims["aud"]),
            Self.optionalString(claims["sub"]) != nil, let subject = Self.optionalString(claims[settings.subjectClaim]),
            let userID = Self.optionalString(claims["user_id"]),
            let granted = Self.stringArray(claims[settings.permissionsClaim]),
            let scope = Self.optionalString(claims["scope"])
        else { return .invalid(reason: "malformed") }

        let now = clock.nowSeconds
        let leeway = settings.leewaySeconds
        guard let exp else { return .invalid(reason: "missing_exp") }
        if now.subtractingSaturating(leeway) >= exp { return .invalid(reason: "expired") }
        if let nbf, nbf > now.addingSaturating(leeway) { return .invalid(reason: "not_yet_valid") }
        if let iat, iat > now.addingSaturating(leeway) { return .invalid(reason: "iat_future") }
        if let expected = settings.issuer, issuer != expected { return .invalid(reason: "wrong_issuer") }
        if let expected = settings.audience, !(audiences ?? []).contains(expected) {
            return .invalid(reason: "wrong_audience")
        }
        guard let name = [subject, userID].lazy.compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            return .invalid(reason: "missing_subject")
        }

        var permissions: [String] = []
        for permission in (granted ?? []) + (scope ?? "").split(separator: " ").map(String.init)
        where !permissions.contains(permission) {
            permissions.append(permission)
        }
        return .valid(Principal(name: name, kind: .jwt, permissions: permissions), expiresAt: exp)
    }

    // MARK: - Header and claim readers

    /// `none` in any letter case: every spelling is the unsigned-token attack.
    private static func isNone(_ alg: String) -> Bool {
        alg.utf8.count == 4 && alg.utf8.elementsEqual("none".utf8, by: { $0 | 0x20 == $1 })
    }

    /// `JWT` or `at+jwt` (RFC 9068), any case, optionally with the `application/` prefix (RFC 7515 §4.1.9).
    private static func isAcceptedType(_ typ: JSONValue) -> Bool {
        guard case .string(let text) = typ else { return false }
        var value = Substring(text.lowercased())
        if value.hasPrefix("application/") { value = value.dropFirst("application/".count) }
        return value == "jwt" || value == "at+jwt"
    }

    /// A NumericDate (RFC 7519 §2) rounded up to whole seconds: `.some(nil)` when absent, nil when present
    /// but not a finite number. Rounding up keeps `now >= exp` and `nbf > now` exact for fractions.
    private static func numericDate(_ value: JSONValue?) -> Int64?? {
        guard let value else { return .some(nil) }
        if let exact = value.intValue { return .some(Int64(exact)) }
        guard let seconds = value.doubleValue else { return nil }
        let up = seconds.rounded(.up)
        if up >= 9.2e18 { return .some(Int64.max) }
        if up <= -9.2e18 { return .some(Int64.min) }
        return .some(Int64(up))
    }

    /// `.some(nil)` when absent, the string when a string, nil for another type.
    private static func optionalString(_ value: JSONValue?) -> String?? {
        guard let value else { return .some(nil) }
        guard case .string(let s) = value else { return nil }
        return .some(s)
    }

    /// `aud` as a list: a string is one audience, an array must hold only strings.
    private static func audiences(_ value: JSONValue?) -> [String]?? {
        guard let value else { return .some(nil) }
        if case .string(let s) = value { return .some([s]) }
        return stringArray(value)
    }

    private static func stringArray(_ value: JSONValue?) -> [String]?? {
        guard let value else { return .some(nil) }
        guard case .array(let items) = value else { return nil }
        var strings: [String] = []
        strings.reserveCapacity(items.count)
        for item in items {
            guard case .string(let s) = item else { return nil }
            strings.append(s)
        }
        return .some(strings)
    }
}

extension Int64 {
    fileprivate func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    fileprivate func subtractingSaturating(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : difference
    }
}
