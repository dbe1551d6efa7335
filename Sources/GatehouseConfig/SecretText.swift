/// `enc:<Fernet token>` values (§8): the single place where a configuration string becomes its plain
/// text. Every string read from the file or the environment passes through `reveal`.
enum SecretText {
    static let prefix = "enc:"

    /// Whether `text` is written in the encrypted form.
    static func isEncrypted(_ text: String) -> Bool { text.hasPrefix(prefix) }

    /// The plain text of a configuration string: `text` itself, or the decryption of an `enc:` value
    /// with the key derived from `MCP_ENCRYPTION_PASSWORD` and `MCP_ENCRYPTION_SALT`.
    static func reveal(_ text: String, environment: [String: String]) throws(ValueError) -> String {
        guard isEncrypted(text) else { return text }
        guard let password = environment["MCP_ENCRYPTION_PASSWORD"], !password.isEmpty else {
            throw ValueError("an encrypted (enc:) value needs MCP_ENCRYPTION_PASSWORD")
        }
        guard let salt = environment["MCP_ENCRYPTION_SALT"], !salt.isEmpty else {
            throw ValueError("an encrypted (enc:) value needs MCP_ENCRYPTION_SALT (there is no built-in salt)")
        }
        _ = (password, salt)
        // Fernet decryption arrives with secrets at rest (issue 8); until then refuse rather than use
        // the token text as if it were the secret.
        throw ValueError("encrypted (enc:) values cannot be decrypted yet: this build has no Fernet support")
    }
}
