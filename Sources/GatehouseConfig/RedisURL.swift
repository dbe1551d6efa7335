/// A `redis://` (or TLS `rediss://`) URL: `redis://[[user]:password@]host[:port][/db]`.
public struct RedisURL: Sendable, Equatable {
    public var host: String
    public var port: UInt16
    public var database: Int
    public var username: String?
    public var password: String?
    public var usesTLS: Bool

    public init(
        host: String, port: UInt16 = 6379, database: Int = 0, username: String? = nil, password: String? = nil,
        usesTLS: Bool = false
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
        self.usesTLS = usesTLS
    }

    static let expected = "expected a URL like \"redis://127.0.0.1:6379/0\""

    init(parsing text: String) throws(ValueError) {
        let rest: Substring
        if text.hasPrefix("redis://") {
            usesTLS = false
            rest = text.dropFirst(8)
        } else if text.hasPrefix("rediss://") {
            usesTLS = true
            rest = text.dropFirst(9)
        } else {
            throw ValueError(Self.expected)
        }
        var hostPart = rest
        var databaseText: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            hostPart = rest[..<slash]
            databaseText = rest[rest.index(after: slash)...]
        }
        username = nil
        password = nil
        if let at = hostPart.lastIndex(of: "@") {
            let credentials = hostPart[..<at]
            hostPart = hostPart[hostPart.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                username = user.isEmpty ? nil : String(user)
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                password = String(credentials)
            }
        }
        do throws(ValueError) {
            let address = try ListenAddress(
                parsing: hostPart.contains(":") || hostPart.hasPrefix("[") ? String(hostPart) : hostPart + ":6379")
            host = address.host
            port = address.port
        } catch {
            throw ValueError(Self.expected)
        }
        if databaseText.isEmpty {
            database = 0
        } else {
            guard databaseText.utf8.count <= 5, databaseText.utf8.allSatisfy(IPAddress.isDigit),
                let db = Int(databaseText)
            else {
                throw ValueError(Self.expected)
            }
            database = db
        }
    }

    /// The URL with the password replaced by `***`, for display.
    public var maskedDescription: String {
        var text = usesTLS ? "rediss://" : "redis://"
        if username != nil || password != nil {
            text += (username ?? "") + (password != nil ? ":***" : "") + "@"
        }
        text += host.contains(":") ? "[\(host)]" : host
        return text + ":\(port)/\(database)"
    }
}
