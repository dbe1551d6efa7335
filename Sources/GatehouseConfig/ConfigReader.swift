import GatehouseTOML

/// What one load has learned besides the values: where each key came from (for error locations and
/// `gatehouse check`), which values were encrypted, and the warnings to print.
final class DecodeContext {
    /// Where the effective value of a key came from.
    enum Origin {
        case file(line: Int?)
        case environment(String)
    }

    let fileName: String?
    let environment: [String: String]
    private(set) var origins: [String: Origin] = [:]
    /// Keys whose value was written `enc:` (masked for display).
    var encryptedKeys: Set<String> = []
    /// Header names (lower case) the file's `[headers]` sets.
    var fileHeaderNames: Set<String> = []
    /// How many API keys each source contributed, for display.
    var apiKeyCounts: (list: Int, file: Int, named: Int, environment: Int) = (0, 0, 0, 0)
    var warnings: [String] = []

    init(fileName: String?, environment: [String: String]) {
        self.fileName = fileName
        self.environment = environment
    }

    func recordFile(_ key: String, line: Int?) { origins[key] = .file(line: line) }

    func recordEnvironment(_ key: String, variable: String) { origins[key] = .environment(variable) }

    func origin(of key: String) -> Origin? { origins[key] }

    /// An error about the effective value of `key`, located where that value came from: the file and
    /// line, the environment variable, or (for a default) the file alone.
    func error(at key: String, _ message: String) -> ConfigError {
        switch origins[key] {
        case .environment(let variable)?:
            return ConfigError(key: variable, message: message)
        case .file(let line)?:
            return ConfigError(file: fileName, line: line, key: key, message: message)
        case nil:
            return ConfigError(file: fileName, key: key, message: message)
        }
    }

    /// A non-empty environment variable (an empty one counts as unset, the container convention).
    func variable(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }
}

/// One TOML table being decoded: typed accessors that record where each value came from and turn
/// refusals into `ConfigError`s carrying the file, line and dotted key.
struct Section {
    let table: TOMLTable
    /// Dotted path of this table ("" for the root).
    let path: String
    let context: DecodeContext

    func dotted(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The line of `key`, else of the table itself.
    func line(of key: String) -> Int? {
        if let line = table.line(of: key), line > 0 { return line }
        return table.line > 0 ? table.line : nil
    }

    func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: context.fileName, line: line(of: key), key: dotted(key), message: message)
    }

    /// An error about the table as a whole (a missing field, a conflict between its keys).
    func tableError(_ message: String) -> ConfigError {
        ConfigError(
            file: context.fileName, line: table.line > 0 ? table.line : nil, key: path.isEmpty ? nil : path,
            message: message)
    }

    /// Refuses the first key (in file order) that is not in `known`.
    func checkKeys(_ known: [String]) throws(ConfigError) {
        for key in table.keys where !known.contains(key) {
            var message = "unknown key"
            if let suggestion = ConfigSchema.suggestion(for: key, in: path, siblings: known) {
                message += " (did you mean \(suggestion)?)"
            }
            throw error(key, message)
        }
    }

    /// The raw value of `key`, recording that the file sets it.
    func value(_ key: String) -> TOMLValue? {
        guard let value = table[key] else { return nil }
        context.recordFile(dotted(key), line: line(of: key))
        return value
    }

    /// `key`'s value passed through `convert`; nil when the table does not set it.
    func decode<T>(_ key: String, _ convert: (TOMLValue) throws(ValueError) -> T) throws(ConfigError) -> T? {
        guard let raw = value(key) else { return nil }
        do {
            return try convert(raw)
        } catch {
            throw self.error(key, error.message)
        }
    }

    // MARK: Typed accessors

    func string(_ key: String) throws(ConfigError) -> String? {
        try decode(key) { v throws(ValueError) in try reveal(v, key: key) }
    }

    func strings(_ key: String) throws(ConfigError) -> [String]? {
        try decode(key) { v throws(ValueError) in
            guard case .array(let items) = v else { throw mismatch("an array of strings", v) }
            var out: [String] = []
            for item in items {
                guard case .string = item else { throw mismatch("an array of strings", item) }
                out.append(try reveal(item, key: key))
            }
            return out
        }
    }

    func bool(_ key: String) throws(ConfigError) -> Bool? {
        try decode(key) { v throws(ValueError) in
            guard case .boolean(let b) = v else { throw mismatch("true or false", v) }
            return b
        }
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        try decode(key) { v throws(ValueError) in
            guard case .integer(let n) = v else { throw mismatch("an integer", v) }
            guard n >= Int64(range.lowerBound), n <= Int64(range.upperBound) else { throw ValueError(rangeText(range)) }
            return Int(n)
        }
    }

    /// An integer or a float, greater than zero and finite.
    func positiveNumber(_ key: String) throws(ConfigError) -> Double? {
        try decode(key) { v throws(ValueError) in
            let number: Double
            switch v {
            case .integer(let n): number = Double(n)
            case .float(let d): number = d
            default: throw mismatch("a number", v)
            }
            guard number.isFinite, number > 0 else { throw ValueError("must be a number greater than 0") }
            return number
        }
    }

    func duration(_ key: String, in range: ClosedRange<Duration>? = nil) throws(ConfigError) -> Duration? {
        try decode(key) { v throws(ValueError) in
            guard case .string = v, let duration = DurationText.parse(try reveal(v, key: key)) else {
                throw ValueError(DurationText.expected)
            }
            if let range, !range.contains(duration) {
                throw ValueError(
                    "must be between \(Section.seconds(range.lowerBound)) and \(Section.seconds(range.upperBound))")
            }
            return duration
        }
    }

    /// A size in bytes (integer or `"1MiB"`), at least `minimum`.
    func size(_ key: String, minimum: Int = 1) throws(ConfigError) -> Int? {
        try decode(key) { v throws(ValueError) in
            let size: Int?
            switch v {
            case .integer(let n): size = n >= 0 && n <= Int64(1) << 40 ? Int(n) : nil
            case .string: size = ByteSize.parse(try reveal(v, key: key))
            default: size = nil
            }
            guard let size else { throw ValueError(ByteSize.expected) }
            guard size >= minimum else { throw ValueError("must be at least \(minimum) bytes") }
            return size
        }
    }

    /// One of an enumeration's raw values.
    func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws(ConfigError) -> E?
    where E.RawValue == String {
        try decode(key) { v throws(ValueError) in
            let expected = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            guard case .string = v else { throw mismatch("one of \(expected)", v) }
            guard let value = E(rawValue: try reveal(v, key: key)) else {
                throw ValueError("expected one of \(expected)")
            }
            return value
        }
    }

    /// A string run through `parse`.
    func parsed<T>(_ key: String, _ parse: (String) throws(ValueError) -> T) throws(ConfigError) -> T? {
        try decode(key) { v throws(ValueError) in try parse(try reveal(v, key: key)) }
    }

    /// A sub-table (`[a.b]`, a dotted key, or an inline table).
    func section(_ key: String) throws(ConfigError) -> Section? {
        try decode(key) { v throws(ValueError) in
            guard case .table(let table) = v else { throw mismatch("a table", v) }
            return Section(table: table, path: dotted(key), context: context)
        }
    }

    /// An array of tables (`[[a.b]]` or an array of inline tables); the sections keep `key`'s path.
    func tables(_ key: String) throws(ConfigError) -> [Section]? {
        try decode(key) { v throws(ValueError) in
            guard case .array(let items) = v else { throw mismatch("an array of tables", v) }
            var out: [Section] = []
            for item in items {
                guard case .table(let table) = item else { throw mismatch("an array of tables", item) }
                out.append(Section(table: table, path: dotted(key), context: context))
            }
            return out
        }
    }

    // MARK: Helpers

    /// The plain text of a string value (an `enc:` value decrypted), noting encrypted keys.
    private func reveal(_ value: TOMLValue, key: String) throws(ValueError) -> String {
        guard case .string(let text) = value else { throw mismatch("a string", value) }
        if SecretText.isEncrypted(text) { context.encryptedKeys.insert(dotted(key)) }
        return try SecretText.reveal(text, environment: context.environment)
    }

    private func mismatch(_ expected: String, _ found: TOMLValue) -> ValueError {
        ValueError("expected \(expected), found \(Section.article(found.typeName))")
    }

    /// A bound as seconds (`"300s"`, as the contract writes ranges), or milliseconds below a second.
    static func seconds(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        return fraction == 0 ? "\(whole)s" : DurationText.format(duration)
    }

    static func article(_ noun: String) -> String {
        guard let first = noun.first else { return noun }
        return ("aeiou".contains(first) ? "an " : "a ") + noun
    }

    private func rangeText(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "must be at least \(range.lowerBound)" }
        return "must be between \(range.lowerBound) and \(range.upperBound)"
    }
}
