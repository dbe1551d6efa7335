/// The bearer credential of an Authorization header value, classified (§5): three base64url segments
/// joined by dots → `.jwt`, anything else → `.apiKey`.
public enum BearerCredential: Sendable, Equatable {
    case apiKey(String), jwt(String)

    /// Splits `Authorization: <scheme> <credential>`. The scheme is compared case-insensitively with
    /// `Bearer`; spaces and tabs around and between the parts are ignored; exactly one credential must follow.
    ///
    /// One pass over the UTF-8 bytes, the credential classified as it is scanned, so the only allocation
    /// is the credential's own `String` (none for credentials of up to 15 bytes): no array of parts, no
    /// intermediate substrings.
    public static func parse(authorization: String?) -> Result<BearerCredential, AuthFailure> {
        guard var authorization else { return .failure(.missingHeader) }
        // `withUTF8` gives the bytes of a native string in place (it only copies a bridged one).
        return authorization.withUTF8 { bytes -> Result<BearerCredential, AuthFailure> in
            let n = bytes.count
            var i = skipBlanks(bytes, from: 0)
            // An empty or blank value is treated like an absent header, as the seed's `if not header` did.
            guard i < n else { return .failure(.missingHeader) }
            let schemeStart = i
            i = skipWord(bytes, from: i)
            guard isBearer(UnsafeBufferPointer(rebasing: bytes[schemeStart..<i])) else {
                return .failure(.invalidScheme)
            }
            let credentialStart = skipBlanks(bytes, from: i)
            guard credentialStart < n else { return .failure(.invalidFormat) }
            let (credentialEnd, isJWT) = scanCredential(bytes, from: credentialStart)
            guard skipBlanks(bytes, from: credentialEnd) == n else { return .failure(.invalidFormat) }
            let credential = UnsafeBufferPointer(rebasing: bytes[credentialStart..<credentialEnd])
            // The cuts are at ASCII blanks, so the credential is whole UTF-8 and decodes unchanged.
            let text = String(decoding: credential, as: UTF8.self)
            return .success(isJWT ? .jwt(text) : .apiKey(text))
        }
    }

    /// Space and horizontal tab: what separates the scheme from the credential.
    @inline(__always)
    private static func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    /// The position of the first non-blank byte at or after `start` (`bytes.count` when none).
    private static func skipBlanks(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start
        while i < bytes.count, isBlank(bytes[i]) { i += 1 }
        return i
    }

    /// The position of the first blank byte at or after `start` (`bytes.count` when none).
    private static func skipWord(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start
        while i < bytes.count, !isBlank(bytes[i]) { i += 1 }
        return i
    }

    /// The end of the credential that starts at `start` (the next blank, or the end) and whether it is
    /// JWT-shaped: the rule of `isJWTShaped`, applied in the same pass that finds the end.
    private static func scanCredential(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int)
        -> (end: Int, isJWT: Bool)
    {
        var i = start
        var dots = 0
        var segmentLength = 0
        var isShaped = true
        while i < bytes.count {
            let c = bytes[i]
            if isBase64URL(c) {
                segmentLength += 1
            } else if c == UInt8(ascii: ".") {
                // An empty header or payload segment, or a fourth segment: not a JWT.
                if segmentLength == 0 || dots == 2 { isShaped = false }
                dots += 1
                segmentLength = 0
            } else if isBlank(c) {
                break
            } else {
                isShaped = false
            }
            i += 1
        }
        return (i, isShaped && dots == 2)
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

    /// `[A-Za-z0-9_-]`, by arithmetic rather than a chain of ranges: a token is checked byte by byte on
    /// every request. Setting bit 5 maps exactly `A-Z` and `a-z` onto `a-z`.
    @inline(__always)
    private static func isBase64URL(_ c: UInt8) -> Bool {
        (c | 0x20) &- UInt8(ascii: "a") < 26 || c &- UInt8(ascii: "0") < 10 || c == UInt8(ascii: "-")
            || c == UInt8(ascii: "_")
    }

    /// `Bearer` in any letter case. Setting bit 5 lowercases a letter and maps no other byte onto one.
    private static func isBearer(_ scheme: UnsafeBufferPointer<UInt8>) -> Bool {
        guard scheme.count == 6 else { return false }
        let bearer: StaticString = "bearer"
        let b = bearer.utf8Start
        for k in 0..<6 where scheme[k] | 0x20 != b[k] { return false }
        return true
    }
}
