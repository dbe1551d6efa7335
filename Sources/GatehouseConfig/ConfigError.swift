/// A configuration that cannot be used, with where the fault is: the file and line, and the dotted
/// key (or the environment variable) that holds the bad value.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var file: String?
    public var line: Int?
    public var key: String?
    public var message: String

    public init(file: String? = nil, line: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// `gateway.conf:12: auth.jwt.leeway: expected a duration like "30s"`; absent parts are left out
    /// (`MCP_JWT_SECRET: …`, `gateway.conf:3: …`, `gateway.conf: …`).
    public var description: String {
        var text = ""
        if let file {
            text += file
            if let line { text += ":\(line)" }
            text += ": "
        } else if let line {
            text += "line \(line): "
        }
        if let key { text += key + ": " }
        return text + message
    }
}

/// Why a single value was refused, before the reader adds the file, line and key.
struct ValueError: Error, Sendable {
    var message: String

    init(_ message: String) { self.message = message }
}
