import GatehouseCrypto

/// One accepted API key, resolved at load from any source (`auth.api_keys`, `MCP_API_KEYS`,
/// `auth.api_keys_file`, `[[auth.api_key]]`). Only the SHA-256 digest is kept, never the key.
public struct APIKeyConfig: Sendable, Equatable {
    public var name: String?
    /// SHA-256 of the key's UTF-8 bytes (32 bytes).
    public var digest: [UInt8]
    public var permissions: [String]

    public init(name: String?, digest: [UInt8], permissions: [String]) {
        self.name = name
        self.digest = digest
        self.permissions = permissions
    }

    /// The principal the key authenticates as: its name, or `key:<first 8 hex of the digest>`.
    public var principal: String {
        if let name { return name }
        return "key:" + Encoding.hex(digest.prefix(4))
    }

    static let hashPrefix = "sha256:"

    /// The digest of `text`: `sha256:<64 hex>` taken as is (prefix in any case), anything else is a
    /// plain key and hashed. `isPlain` says which it was.
    static func digest(of text: String) throws(ValueError) -> (digest: [UInt8], isPlain: Bool) {
        if text.utf8.count >= 7, text.prefix(7).lowercased() == hashPrefix {
            let hex = text.dropFirst(7)
            guard hex.utf8.count == 64, let digest = Encoding.fromHex(hex) else {
                throw ValueError("expected \"sha256:\" followed by 64 hex digits")
            }
            return (digest, false)
        }
        guard !text.isEmpty else { throw ValueError("an API key cannot be empty") }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw ValueError("an API key must be visible ASCII without spaces")
        }
        return (Digest.sha256(text.utf8), true)
    }

    /// Whether `name` can be a principal name: visible ASCII, no spaces (it travels in a header and logs).
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128 && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }
}
