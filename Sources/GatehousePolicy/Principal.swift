/// Who made a request, once authenticated.
public struct Principal: Sendable, Equatable {
    /// The kind of credential that authenticated the principal; the raw value is the log's `method`.
    public enum Kind: String, Sendable { case apiKey = "api_key", jwt, mtls }

    /// Key name, `key:<first 8 hex of digest>`, JWT subject, or certificate SAN/CN.
    public var name: String
    public var kind: Kind
    public var permissions: [String]

    public init(name: String, kind: Kind, permissions: [String]) {
        self.name = name
        self.kind = kind
        self.permissions = permissions
    }
}
