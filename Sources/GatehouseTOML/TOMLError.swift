/// A syntax error with its position.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line.
    public var line: Int
    /// 1-based column, counted in Unicode scalars from the start of the line.
    public var column: Int
    /// What is wrong, e.g. "duplicate key 'listen'", "unterminated string".
    public var message: String

    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    /// "line 12, column 5: message".
    public var description: String {
        "line \(line), column \(column): \(message)"
    }
}
