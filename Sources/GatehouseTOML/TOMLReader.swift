/// Reads a TOML 1.0.0 document into a `TOMLTable`.
///
/// Whole-file reader for operator files: it validates UTF-8, refuses everything the specification
/// refuses, and never traps on any input. Nesting (tables, arrays, inline tables) is limited to
/// `maximumNestingDepth` levels so a hostile file cannot exhaust the stack.
public enum TOMLReader {
    /// The deepest nesting of tables and arrays accepted.
    public static let maximumNestingDepth = 64

    /// Parses UTF-8 bytes (a leading byte order mark is allowed).
    public static func parse(_ bytes: [UInt8]) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(bytes: bytes)
        return try parser.parseDocument()
    }

    /// Parses text.
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        try parse(Array(text.utf8))
    }
}
