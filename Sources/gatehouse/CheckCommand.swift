import GatehouseConfig
import GatehouseServer

/// `gatehouse check`: validate, then print every effective setting with its source.
enum CheckCommand {
    static func run(_ args: [String]) -> Int32 {
        let path: String?
        do {
            try CommandLineInterface.checkArguments(args, flags: ["--config"], switches: ["--production"])
            path = try CommandLineInterface.option("--config", in: args)
        } catch {
            return CommandLineInterface.fail(error.description, code: 2)
        }
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(path: path, environment: CommandLineInterface.environment())
            _ = try Gateway.makeState(loaded.config)
        } catch {
            return CommandLineInterface.fail("\(error)", code: 2)
        }
        print("configuration: \(loaded.path ?? "(none: environment and defaults)") is valid")
        let width = loaded.effectiveSettings.map(\.key.count).max() ?? 0
        for row in loaded.effectiveSettings {
            let source: String
            switch row.source {
            case .file: source = "file"
            case .environment: source = "env"
            case .defaultValue: source = "default"
            }
            let pad = String(repeating: " ", count: max(0, width - row.key.count))
            print("  \(row.key)\(pad) = \(row.value)  (\(source))")
        }
        for w in loaded.warnings { print("warning: \(w)") }
        if args.contains("--production") {
            print("production checklist: arrives with the secrets-at-rest work (issue 8); not evaluated")
        }
        return 0
    }
}
