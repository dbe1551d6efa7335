import GatehouseCrypto
import GatehouseJSON

/// Mints HMAC-signed JWTs: for `gatehouse token` and for tests. The gateway itself never signs.
public enum JWTSigner {
    /// A compact HS256 JWT of `claims` (in the given order) with header `{"alg":"HS256","typ":"JWT"}`.
    public static func hs256(claims: [(String, JSONValue)], secret: [UInt8]) -> String {
        sign(claims: claims, algorithm: .hs256, secret: secret)
    }

    /// A compact JWT of `claims` signed with the HMAC `algorithm` (HS256/384/512; a public-key
    /// algorithm is a programming error).
    public static func sign(claims: [(String, JSONValue)], algorithm: JWTAlgorithm, secret: [UInt8]) -> String {
        precondition(algorithm.isHMAC, "JWTSigner signs with HMAC only")
        return sign(header: [("alg", .string(algorithm.rawValue)), ("typ", "JWT")], claims: claims, secret: secret)
    }

    /// A compact JWT with the given header members, signed with the HMAC its `alg` names (HS256 when
    /// the header names no HMAC algorithm, so that tests can mint tokens with odd headers).
    public static func sign(header: [(String, JSONValue)], claims: [(String, JSONValue)], secret: [UInt8]) -> String {
        let headerObject = JSONObject(header)
        let digest = headerObject["alg"]?.stringValue.flatMap(JWTAlgorithm.init(rawValue:))?.hmacDigest ?? .sha256
        let signingInput =
            Encoding.base64URL(JSONWriter.serialize(.object(headerObject))) + "."
            + Encoding.base64URL(JSONWriter.serialize(.object(JSONObject(claims))))
        let mac = Digest.hmac(digest, key: secret, message: signingInput.utf8)
        return signingInput + "." + Encoding.base64URL(mac)
    }
}
