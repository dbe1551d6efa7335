import GatehouseCrypto

/// One configured API key: its SHA-256 digest (the key itself is never kept), an optional name and
/// its permissions.
public struct APIKeyEntry: Sendable {
    public var name: String?
    public var digest: [UInt8]
    public var permissions: [String]

    public init(name: String?, digest: [UInt8], permissions: [String]) {
        self.name = name
        self.digest = digest
        self.permissions = permissions
    }

    /// An entry for a plain key from a file or the environment: hashed here, the key is not stored.
    public init(plainKey: String, name: String?, permissions: [String]) {
        self.init(name: name, digest: Digest.sha256(plainKey.utf8), permissions: permissions)
    }

    /// The digest of a configuration value written `sha256:<64 hex>` (prefix case-insensitive), or nil
    /// when the value is not in that form.
    public static func digest(fromHashText text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 7 + 64, String(decoding: utf8[0..<7], as: UTF8.self).lowercased() == "sha256:" else {
            return nil
        }
        return Encoding.fromHex(String(decoding: utf8[7...], as: UTF8.self))
    }

    /// The principal name: the configured name, else `key:<first 8 hex of the digest>`.
    public var principalName: String {
        if let name, !name.isEmpty { return name }
        return "key:" + Encoding.hex(digest.prefix(4))
    }
}

/// API keys by SHA-256 digest; lookup compares against every entry in constant time.
public final class APIKeyStore: Sendable {
    private let digests: [[UInt8]]
    private let principals: [Principal]

    public init(entries: [APIKeyEntry]) {
        digests = entries.map(\.digest)
        principals = entries.map { Principal(name: $0.principalName, kind: .apiKey, permissions: $0.permissions) }
    }

    /// The principal of `key`, or nil when it is not configured. Every entry is compared, whatever
    /// matched, so the time taken says nothing about which entry (or how much of a digest) matched.
    public func authenticate(key: String) -> Principal? {
        authenticate(digest: Digest.sha256(key.utf8))
    }

    /// The principal whose key hashes to `digest`, compared like `authenticate(key:)`.
    public func authenticate(digest: [UInt8]) -> Principal? {
        var found = -1
        for (index, candidate) in digests.enumerated() {
            let equal = Digest.constantTimeEquals(candidate, digest)
            // The first match wins for duplicates; the branch only depends on the matching index.
            if equal && found < 0 { found = index }
        }
        return found >= 0 ? principals[found] : nil
    }

    public var isEmpty: Bool { digests.isEmpty }

    public var count: Int { digests.count }
}
