/// Why a document was refused, and the byte offset where the reader noticed.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset into the input.
    public var offset: Int
    /// What was wrong, e.g. `duplicate key "method"`, `nesting deeper than 64`.
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(message) at byte \(offset)" }
}
