/// Where an effective setting's value came from.
public enum ValueSource: String, Sendable {
    case file, environment
    case defaultValue = "default"
}

/// A configuration as loaded: the values, where they came from, and what deserves a warning.
public struct LoadedConfig: Sendable {
    public var config: GatewayConfig
    /// The file read; nil when running from the environment alone.
    public var path: String?
    /// One row per known key, in §2 order: the dotted key, the effective value rendered for display
    /// (secrets masked as `***`, API keys shown as a count) and where it came from — for `gatehouse check`.
    public var effectiveSettings: [(key: String, value: String, source: ValueSource)]
    /// Things that work but should not stay so, e.g. plain-text API keys in the file.
    public var warnings: [String]

    public init(
        config: GatewayConfig, path: String?, effectiveSettings: [(key: String, value: String, source: ValueSource)],
        warnings: [String]
    ) {
        self.config = config
        self.path = path
        self.effectiveSettings = effectiveSettings
        self.warnings = warnings
    }
}
