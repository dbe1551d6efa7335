import GatehouseConfig
import GatehousePosix
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
        if args.contains("--production") { return productionChecklist(loaded) }
        return 0
    }

    /// `--production`: the §9 checklist, one `[ok]`/`[FAIL]` line per item, then warnings and a summary;
    /// 1 when an item fails. The certificate's notAfter comes from the server TLS context built here,
    /// because the configuration layer does not load certificates.
    static func productionChecklist(_ loaded: LoadedConfig) -> Int32 {
        var notAfter: Int64? = nil
        var certificateError: String? = nil
        let tls = loaded.config.tls
        if tls.isEnabled {
            let clientAuth: TLSServerSettings.ClientAuth
            switch tls.clientAuth {
            case .off: clientAuth = .off
            case .optional: clientAuth = .optional
            case .require: clientAuth = .require
            }
            do {
                let context = try TLSContext(
                    server: TLSServerSettings(
                        certificatePath: tls.cert, privateKeyPath: tls.key, minimumVersion: tls.minVersion.rawValue,
                        ciphers: tls.ciphers, clientCAPath: tls.clientCA, clientAuth: clientAuth))
                notAfter = context.certificateNotAfter
                if notAfter == nil { certificateError = "cannot read the certificate's expiry date" }
            } catch {
                certificateError = "tls: \(error.message)"
            }
        }
        let observations = ProductionChecklist.Observations.gather(
            for: loaded, now: wallClockMilliseconds() / 1000, certificateNotAfter: notAfter,
            certificateError: certificateError)
        let checklist = ProductionChecklist(loaded, observations: observations)
        print("production checklist:")
        for line in checklist.lines { print(line) }
        return checklist.isPassed ? 0 : 1
    }
}
