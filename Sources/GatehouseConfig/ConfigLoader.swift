import GatehouseTOML

/// Reads, checks and resolves the configuration: file (TOML), then environment overrides, then API
/// keys from every source, then the cross-key refusals of PRODUCT.md §2.
public enum ConfigLoader {
    /// The file used when neither `--config` nor `$GATEHOUSE_CONFIG` names one (only if it exists).
    public static let defaultPath = "gateway.conf"

    /// Loads the configuration. `path` is an explicit `--config`; nil falls back to
    /// `$GATEHOUSE_CONFIG`, then `./gateway.conf` if it exists, else the environment alone.
    /// An explicit path or `$GATEHOUSE_CONFIG` that cannot be read is an error.
    public static func load(path: String?, environment: [String: String]) throws(ConfigError) -> LoadedConfig {
        var chosen = path
        if chosen == nil, let fromEnvironment = environment["GATEHOUSE_CONFIG"], !fromEnvironment.isEmpty {
            chosen = fromEnvironment
        }
        if chosen == nil, FileAccess.exists(defaultPath) { chosen = defaultPath }
        guard let file = chosen else {
            return try resolve(TOMLTable(), fileName: nil, environment: environment)
        }
        switch FileAccess.contents(of: file) {
        case .success(let bytes):
            return try parse(text: bytes, fileName: file, environment: environment)
        case .failure(let error):
            throw ConfigError(file: file, message: "cannot read the configuration: \(error.message)")
        }
    }

    /// Checks configuration text as if read from `fileName` (used in messages and as `path`).
    public static func parse(text: [UInt8], fileName: String, environment: [String: String]) throws(ConfigError)
        -> LoadedConfig
    {
        let table: TOMLTable
        do {
            table = try TOMLReader.parse(text)
        } catch {
            let column = error.column > 0 ? " (column \(error.column))" : ""
            throw ConfigError(file: fileName, line: error.line > 0 ? error.line : nil, message: error.message + column)
        }
        return try resolve(table, fileName: fileName, environment: environment)
    }

    private static func resolve(_ table: TOMLTable, fileName: String?, environment: [String: String])
        throws(ConfigError)
        -> LoadedConfig
    {
        let context = DecodeContext(fileName: fileName, environment: environment)
        var decoder = ConfigDecoder(context: context)
        var config = try decoder.decode(table)
        try decoder.applyEnvironment(to: &config)
        try decoder.resolveAPIKeys(&config)
        try decoder.validate(&config)
        return LoadedConfig(
            config: config, path: fileName, effectiveSettings: EffectiveSettings.rows(config, context: context),
            warnings: context.warnings)
    }
}
