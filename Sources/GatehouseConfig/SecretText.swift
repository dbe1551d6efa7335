import GatehouseCrypto
import Synchronization

/// `enc:<Fernet token>` values (§8): the single place where a configuration string becomes its plain
/// text. Every string read from the file or the environment passes through `reveal`.
///
/// The key is PBKDF2-HMAC-SHA256(`MCP_ENCRYPTION_PASSWORD`, `MCP_ENCRYPTION_SALT`, 100000, 32 bytes) over
/// the UTF-8 bytes of both variables, read as a Fernet key: the tokens of Python's `cryptography.fernet`
/// with the same password and salt. There is no built-in salt. Errors name the variable or (through the
/// reader) the file, line and key, never the value.
public enum SecretText {
    public static let prefix = "enc:"
    public static let passwordVariable = "MCP_ENCRYPTION_PASSWORD"
    public static let saltVariable = "MCP_ENCRYPTION_SALT"

    /// Whether `text` is written in the encrypted form.
    public static func isEncrypted(_ text: String) -> Bool { text.hasPrefix(prefix) }

    /// The Fernet for the environment's password and salt; an empty variable counts as unset (the
    /// container convention). The PBKDF2 result is remembered for the last password and salt, so a
    /// file with many `enc:` values (and every SIGHUP reload) derives the key once.
    public static func fernet(environment: [String: String]) throws(MissingEncryptionSetting) -> Fernet {
        guard let password = environment[passwordVariable], !password.isEmpty else {
            throw MissingEncryptionSetting(variable: passwordVariable)
        }
        guard let salt = environment[saltVariable], !salt.isEmpty else {
            throw MissingEncryptionSetting(variable: saltVariable)
        }
        return Fernet(key: derivedKey(password: Array(password.utf8), salt: Array(salt.utf8)))
    }

    /// The plain text of a configuration string: `text` itself, or the decryption of an `enc:` value
    /// with the key derived from `MCP_ENCRYPTION_PASSWORD` and `MCP_ENCRYPTION_SALT`.
    static func reveal(_ text: String, environment: [String: String]) throws(ValueError) -> String {
        guard isEncrypted(text) else { return text }
        let fernet: Fernet
        do {
            fernet = try Self.fernet(environment: environment)
        } catch {
            if error.variable == saltVariable {
                throw ValueError("an encrypted (enc:) value needs \(saltVariable) (there is no built-in salt)")
            }
            throw ValueError("an encrypted (enc:) value needs \(error.variable)")
        }
        let plaintext: [UInt8]
        do {
            plaintext = try fernet.decrypt(Array(text.utf8.dropFirst(prefix.utf8.count)))
        } catch {
            throw ValueError(decryptionFailure(error))
        }
        guard let plain = String(validating: plaintext, as: UTF8.self) else {
            throw ValueError("the decrypted enc: value is not UTF-8 text")
        }
        return plain
    }

    /// Why an `enc:` value cannot be read, without a word of the value.
    static func decryptionFailure(_ error: FernetError) -> String {
        switch error.reason {
        case .malformed, .invalidKey:
            return "the enc: value is not a Fernet token (URL-safe base64 with padding after \"enc:\")"
        case .badSignature, .badPadding, .expired, .fromTheFuture:
            return
                "cannot decrypt the enc: value: wrong \(passwordVariable) or \(saltVariable), or an altered token"
        }
    }

    // MARK: Key cache

    /// The last derivation: a digest of the password and salt (not the password itself) and its key.
    private static let lastKey = Mutex<(fingerprint: [UInt8], key: FernetKey)?>(nil)

    static func derivedKey(password: [UInt8], salt: [UInt8]) -> FernetKey {
        // Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
        var material = withUnsafeBytes(of: UInt64(password.count).bigEndian) { Array($0) }
        material += password
        material += salt
        let fingerprint = Digest.sha256(material)
        if let cached = lastKey.withLock({ $0 }), Digest.constantTimeEquals(cached.fingerprint, fingerprint) {
            return cached.key
        }
        let key = FernetKey.derive(password: password, salt: salt)
        lastKey.withLock { $0 = (fingerprint, key) }
        return key
    }
}

/// `MCP_ENCRYPTION_PASSWORD` or `MCP_ENCRYPTION_SALT` is missing (or empty) where an `enc:` value or
/// `gatehouse secret` needs it.
public struct MissingEncryptionSetting: Error, Sendable, CustomStringConvertible {
    /// The environment variable that is missing.
    public var variable: String

    public var description: String {
        variable == SecretText.saltVariable
            ? "\(variable) is not set (there is no built-in salt)" : "\(variable) is not set"
    }
}
