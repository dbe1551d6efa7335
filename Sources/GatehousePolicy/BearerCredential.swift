/// The bearer credential of an Authorization header value, classified (§5): three base64url segments
/// joined by dots → `.jwt`, anything else → `.apiKey`.
public enum BearerCredential: Sendable, Equatable {
    case apiKey(String), jwt(String)

    /// Splits `Authorization: <scheme> <credential>`. The scheme is compared case-insensitively with
    /// `Bearer`; spaces and tabs around and between the parts are ignored; exactly one credential must follow.
    public static func parse(authorization: String?) -> Result<BearerCredential, AuthFailure> {
        guard let authorization else { return .failure(.missingHeader) }
        let parts = authorization.utf8.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
        // An empty or blank value is treated like an absent header, as the seed's `if not header` did.
        guard let scheme = parts.first else { return .failure(.missingHeader) }
        guard isBearer(scheme) else { return .failure(.invalidScheme) }
        guard parts.count == 2 else { return .failure(.invalidFormat) }
        let credential = String(Substring(parts[1]))
        return .success(isJWTShaped(parts[1]) ? .jwt(credential) : .apiKey(credential))
    }

    /// Whether `bytes` is three base64url segments joined by dots. The header and payload segments must
    /// be non-empty; the signature may be empty so that an unsigned (`alg: none`) token is still judged
    /// as a JWT and refused as one.
    public static func isJWTShaped<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var segment = 0
        var segmentLength = 0
        for c in bytes {
            if c == UInt8(ascii: ".") {
                if segmentLength == 0 || segment == 2 { return false }
                segment += 1
                segmentLength = 0
                continue
            }
            guard isBase64URL(c) else { return false }
            segmentLength += 1
        }
        return segment == 2
    }

    /// The credential text, whatever its kind.
    public var text: String {
        switch self {
        case .apiKey(let s), .jwt(let s): return s
        }
    }

    private static func isBase64URL(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    private static func isBearer<C: Collection>(_ scheme: C) -> Bool where C.Element == UInt8 {
        guard scheme.count == 6 else { return false }
        for (c, b) in zip(scheme, "bearer".utf8) where c | 0x20 != b { return false }
        return true
    }
}
