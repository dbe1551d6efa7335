/// A validated regular expression (Swift's `Regex` syntax) together with the pattern text it came from.
///
/// `@unchecked Sendable`: `Regex` is an immutable value whose compiled program is created once at
/// load (the initializer runs a match to force it) and only read afterwards.
public struct ToolNamePattern: @unchecked Sendable, CustomStringConvertible {
    public let pattern: String
    public let regex: Regex<AnyRegexOutput>

    /// Compiles `pattern`; nil when it is not a valid regular expression.
    public init?(validating pattern: String) {
        do throws(ValueError) { try self.init(pattern) } catch { return nil }
    }

    /// Compiles `pattern`; the error says why the pattern is invalid.
    init(_ pattern: String) throws(ValueError) {
        do {
            regex = try Regex(pattern)
        } catch {
            throw ValueError("invalid regular expression: \(error)")
        }
        self.pattern = pattern
        _ = matches("")
    }

    /// The seed's pattern, `^[a-zA-Z0-9_-]+$`.
    public static let standard: ToolNamePattern = {
        // A literal pattern known to compile; a failure here is a bug in this file.
        do throws(ValueError) { return try ToolNamePattern("^[a-zA-Z0-9_-]+$") } catch {
            fatalError("built-in tool name pattern: \(error.message)")
        }
    }()

    /// Whether the pattern matches somewhere in `name` (anchor it with `^…$` to match the whole name).
    public func matches(_ name: String) -> Bool {
        (try? regex.firstMatch(in: name)) != nil
    }

    public var description: String { pattern }
}
