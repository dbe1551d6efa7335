/// How `tools/call` names are checked against `mcp.tool_name_pattern` (§6.3).
///
/// The default pattern `^[a-zA-Z0-9_-]+$` is checked byte by byte without `Regex`; any other pattern is
/// a compiled `Regex` (or a predicate supplied by the configuration layer). Unlike a regex `$`, the fast
/// path never accepts a trailing newline.
public struct MCPToolNameMatcher: @unchecked Sendable {
    // `@unchecked`: `Regex` is an immutable value whose program is compiled at init and only read
    // afterwards; the predicate is `@Sendable`.
    private enum Storage {
        case standard
        case regex(Regex<AnyRegexOutput>)
        case predicate(@Sendable (String) -> Bool)
    }

    private let storage: Storage
    /// The pattern text, for messages (`"<custom>"` for a predicate).
    public let pattern: String

    /// The seed's pattern text.
    public static let standardPattern = "^[a-zA-Z0-9_-]+$"

    /// `^[a-zA-Z0-9_-]+$`, checked without a regex engine.
    public static let standard = MCPToolNameMatcher(storage: .standard, pattern: standardPattern)

    private init(storage: Storage, pattern: String) {
        self.storage = storage
        self.pattern = pattern
    }

    /// Compiles `pattern` (Swift `Regex` syntax, matched anywhere unless anchored); the standard pattern
    /// gets the fast path. Throws when the pattern does not compile.
    public init(pattern: String) throws {
        if pattern == Self.standardPattern {
            self = .standard
            return
        }
        let regex = try Regex(pattern)
        self.init(storage: .regex(regex), pattern: pattern)
        _ = matches("")  // compile the program now, not on the first request
    }

    /// A matcher that asks `predicate` (for a pattern the configuration layer compiled itself).
    public init(pattern: String = "<custom>", predicate: @escaping @Sendable (String) -> Bool) {
        self.init(storage: .predicate(predicate), pattern: pattern)
    }

    /// Whether `name` is an acceptable tool name.
    public func matches(_ name: String) -> Bool {
        switch storage {
        case .standard:
            return Self.isStandardName(name)
        case .regex(let regex):
            return (try? regex.firstMatch(in: name)) != nil
        case .predicate(let predicate):
            return predicate(name)
        }
    }

    /// One or more of `[A-Za-z0-9_-]`.
    static func isStandardName(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty else { return false }
        for c in utf8 {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }
}
