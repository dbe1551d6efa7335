import GatehouseCrypto
import GatehouseJSON

/// A JWK Set (RFC 7517 §5) reduced to the keys that can verify JWS signatures here.
///
/// Parsing is strict about what it keeps and tolerant about what it skips, so that an identity
/// provider's set that also publishes encryption keys or curves unknown here still loads:
/// - kept: `kty` RSA (2048–16384 bits), EC on P-256/P-384, OKP Ed25519, with `use` absent or `sig`,
///   `key_ops` absent or containing `verify`, and `alg` absent or one of ours that fits the key;
/// - skipped with a note: another `kty` (`oct` keys are never used: an HMAC key from a fetched set would
///   let its publisher, or whoever can spoof it, mint tokens), another curve, `use` other than `sig`,
///   `key_ops` without `verify`, an `alg` that is not a JWS signature algorithm of this gateway;
/// - refused (the whole set, with the key's index): a key that is not an object, a member of the wrong
///   type, bad base64url, a point off its curve, an RSA key under 2048 bits, and an `alg` that
///   contradicts the key (`"alg":"ES256"` on an RSA key) — an operator's mistake worth hearing about.
/// Private members (`d`, `p`, `q`, …) are ignored with a note: only the public half is read.
public final class JWKSet: Sendable {
    public let keys: [JWTKey]
    /// Why entries were skipped or members ignored, for the log and `gatehouse doctor`.
    public let notes: [String]

    public init(keys: [JWTKey], notes: [String] = []) {
        self.keys = keys
        self.notes = notes
    }

    /// The `kid`s of the kept keys, in order (keys without one are left out).
    public var kids: [String] { keys.compactMap(\.kid) }

    /// The key to verify a token signed with `alg` whose header names `kid`: the key with that `kid`
    /// that verifies `alg`; without a `kid`, the only key that verifies `alg` (nil when there are none or
    /// several: guessing among several would make the key choice depend on set order).
    public func key(kid: String?, for alg: JWTAlgorithm) -> JWTKey? {
        if let kid {
            return keys.first { $0.kid == kid && $0.verifies(alg) }
        }
        var found: JWTKey? = nil
        for key in keys where key.verifies(alg) {
            if found != nil { return nil }
            found = key
        }
        return found
    }

    /// Whether a key with this `kid` is in the set, whatever its algorithm.
    public func contains(kid: String) -> Bool {
        keys.contains { $0.kid == kid }
    }

    /// Parses a JWK Set document (`{"keys":[…]}`) with the strict JSON reader.
    public static func parse(_ bytes: [UInt8]) throws(JWKSetError) -> JWKSet {
        let document: JSONValue
        do {
            document = try JSONReader.parse(bytes, maxDepth: 16)
        } catch {
            throw JWKSetError("not JSON: \(error)")
        }
        guard case .object(let top) = document else { throw JWKSetError("a JWK Set must be a JSON object") }
        guard case .array(let entries)? = top["keys"] else {
            throw JWKSetError("a JWK Set needs a \"keys\" array")
        }
        var keys: [JWTKey] = []
        var notes: [String] = []
        for (index, entry) in entries.enumerated() {
            guard case .object(let jwk) = entry else { throw JWKSetError("keys[\(index)]: not an object") }
            let label = (jwk["kid"]?.stringValue).map { "keys[\(index)] (kid \"\($0)\")" } ?? "keys[\(index)]"
            do {
                switch try JWKParser.parse(jwk) {
                case .key(let key, let ignored):
                    keys.append(key)
                    if !ignored.isEmpty {
                        notes.append("\(label): private members ignored (\(ignored.joined(separator: ", ")))")
                    }
                case .skipped(let why):
                    notes.append("\(label): skipped, \(why)")
                }
            } catch {
                throw JWKSetError("\(label): \(error.message)")
            }
        }
        return JWKSet(keys: keys, notes: notes)
    }
}

/// Why a JWK Set was refused.
public struct JWKSetError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// One JWK object → a `JWTKey`, a reason to skip it, or an error.
enum JWKParser {
    /// What became of one JWK.
    enum Outcome {
        /// The key, and the private members that were present and ignored.
        case key(JWTKey, ignoredPrivateMembers: [String])
        case skipped(String)
    }

    private static let privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth"]

    static func parse(_ jwk: JSONObject) throws(JWKSetError) -> Outcome {
        guard let kty = try string(jwk, "kty") else { throw JWKSetError("no \"kty\"") }
        let kid = try string(jwk, "kid")
        let use = try string(jwk, "use")
        if let use, use != "sig" { return .skipped("use \"\(use)\"") }
        if let ops = jwk["key_ops"] {
            guard case .array(let list) = ops, list.allSatisfy({ $0.stringValue != nil }) else {
                throw JWKSetError("\"key_ops\" must be an array of strings")
            }
            if !list.contains(where: { $0.stringValue == "verify" }) { return .skipped("key_ops without \"verify\"") }
        }
        var algorithm: JWTAlgorithm? = nil
        if let alg = try string(jwk, "alg") {
            guard let known = JWTAlgorithm(rawValue: alg) else {
                return .skipped("alg \"\(alg)\" is not a signature algorithm verified here")
            }
            if known.isHMAC {
                if kty == "oct" { return .skipped("kty \"oct\"") }
                throw JWKSetError("alg \"\(alg)\" does not fit a \(kty) key")
            }
            algorithm = known
        }

        let publicKey: PublicKey
        do {
            switch kty {
            case "RSA":
                publicKey = try PublicKey(rsaModulus: try bytes(jwk, "n"), exponent: try bytes(jwk, "e"))
            case "EC":
                guard let crv = try string(jwk, "crv") else { throw JWKSetError("EC key without \"crv\"") }
                guard let curve = PublicKey.Curve(rawValue: crv) else { return .skipped("curve \"\(crv)\"") }
                publicKey = try PublicKey(curve: curve, x: try bytes(jwk, "x"), y: try bytes(jwk, "y"))
            case "OKP":
                guard let crv = try string(jwk, "crv") else { throw JWKSetError("OKP key without \"crv\"") }
                guard crv == "Ed25519" else { return .skipped("curve \"\(crv)\"") }
                publicKey = try PublicKey(ed25519: try bytes(jwk, "x"))
            default:
                return .skipped("kty \"\(kty)\"")
            }
        } catch let error as PublicKeyError {
            throw JWKSetError(error.message)
        } catch let error as JWKSetError {
            throw error
        } catch {
            throw JWKSetError("\(error)")
        }

        let key = JWTKey(kid: kid, algorithm: algorithm, use: use, key: publicKey)
        if let algorithm, !key.verifies(algorithm) {
            throw JWKSetError("alg \"\(algorithm.rawValue)\" does not fit a \(kty) key\(curveSuffix(jwk))")
        }
        let ignored = privateMembers.filter { jwk[$0] != nil }
        return .key(key, ignoredPrivateMembers: ignored)
    }

    private static func curveSuffix(_ jwk: JSONObject) -> String {
        jwk["crv"]?.stringValue.map { " on \($0)" } ?? ""
    }

    /// A string member, nil when absent; any other type is an error.
    private static func string(_ jwk: JSONObject, _ name: String) throws(JWKSetError) -> String? {
        guard let value = jwk[name] else { return nil }
        guard case .string(let s) = value else { throw JWKSetError("\"\(name)\" must be a string") }
        return s
    }

    /// A required base64url member, decoded strictly.
    private static func bytes(_ jwk: JSONObject, _ name: String) throws(JWKSetError) -> [UInt8] {
        guard let text = try string(jwk, name) else { throw JWKSetError("no \"\(name)\"") }
        guard let decoded = Encoding.fromBase64URL(text.utf8) else {
            throw JWKSetError("\"\(name)\" is not base64url")
        }
        return decoded
    }
}
