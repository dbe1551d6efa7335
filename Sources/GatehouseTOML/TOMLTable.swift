/// A table: keys in definition order, with the source line of each key (for `file:line: key: message`
/// errors).
///
/// Two tables are equal when they hold the same keys with equal values; definition order and line
/// numbers do not take part (TOML tables are unordered maps, and a comment added above a key must not
/// make a reloaded configuration look different).
public struct TOMLTable: Sendable, Equatable {
    /// A value with the line of its key.
    private struct Entry: Sendable, Equatable {
        var value: TOMLValue
        var line: Int
    }

    private var orderedKeys: [String] = []
    private var entries: [String: Entry] = [:]

    /// The line where this table was opened: its `[header]`, its first dotted-key use, the `{` of an
    /// inline table; 0 for the root table and for tables built in code.
    public private(set) var line: Int

    /// An empty table.
    public init() {
        self.line = 0
    }

    /// An empty table opened at `line`.
    public init(line: Int) {
        self.line = line
    }

    /// The keys in definition order.
    public var keys: [String] { orderedKeys }

    /// The number of keys.
    public var count: Int { orderedKeys.count }

    /// Whether the table has no keys.
    public var isEmpty: Bool { orderedKeys.isEmpty }

    /// The value of `key`, or nil when the table does not define it.
    public subscript(key: String) -> TOMLValue? {
        entries[key]?.value
    }

    /// The 1-based line where `key` was defined in this table (for a sub-table: its `[header]` line or
    /// its first dotted-key use; for an array of tables: its first `[[header]]`).
    public func line(of key: String) -> Int? {
        entries[key]?.line
    }

    /// Sets `value` for `key`, defined at `line`; a new key goes last in the definition order.
    public mutating func setValue(_ value: TOMLValue, forKey key: String, line: Int = 0) {
        if entries.updateValue(Entry(value: value, line: line), forKey: key) == nil {
            orderedKeys.append(key)
        }
    }

    /// Removes `key` and returns its value. Handy for "take every known key, then report what is
    /// left as unknown".
    @discardableResult
    public mutating func removeValue(forKey key: String) -> TOMLValue? {
        guard let entry = entries.removeValue(forKey: key) else { return nil }
        orderedKeys.removeAll { $0 == key }
        return entry.value
    }

    public static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        for (key, entry) in lhs.entries {
            guard let other = rhs.entries[key], other.value == entry.value else { return false }
        }
        return true
    }
}
