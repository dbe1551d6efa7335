import GatehouseConfig
import GatehousePolicy
import GatehousePosix
import GatehouseServer
import Glibc

/// `gatehouse run`: serve until SIGTERM/SIGINT; SIGHUP reloads.
enum RunCommand {
    static func run(_ args: [String]) -> Int32 {
        let path: String?
        do {
            try CommandLineInterface.checkArguments(args, flags: ["--config"])
            path = try CommandLineInterface.option("--config", in: args)
        } catch {
            return CommandLineInterface.fail(error.description, code: 2)
        }
        // Before any thread exists, so that every thread inherits the mask.
        ProcessSignal.blockAndIgnorePipe()
        ResourceLimits.raiseOpenFilesLimit()
        let env = CommandLineInterface.environment()
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(path: path, environment: env)
        } catch {
            return CommandLineInterface.fail(error.description, code: 2)
        }
        for w in loaded.warnings { CommandLineInterface.printErr("gatehouse: warning: \(w)") }
        let gateway: Gateway
        do {
            gateway = try Gateway(config: loaded.config)
            if let admin = loaded.config.admin.listen { try gateway.attachAdminServer(admin) }
        } catch let e as GatewayStartError {
            return CommandLineInterface.fail(e.message, code: e.isConfiguration ? 2 : 1)
        } catch {
            return CommandLineInterface.fail("\(error)", code: 1)
        }
        return serve(gateway, config: loaded.config, reload: { try ConfigLoader.load(path: loaded.path, environment: env).config })
    }

    /// The one-line security posture of the `started` event: what protects the upstream, never a secret.
    static func posture(_ gateway: Gateway, _ config: GatewayConfig, scheme: String) -> [(String, LogValue)] {
        let state = gateway.state
        var credentials: [String] = []
        if state.acceptsAPIKeys && !state.apiKeys.isEmpty { credentials.append("api_key(\(state.apiKeys.count))") }
        if state.jwt != nil { credentials.append("jwt") }
        if state.acceptsClientCertificates { credentials.append("mtls") }
        let rl = config.rateLimit
        return [
            ("listen", .string("\(scheme)://\(gateway.boundAddress)")),
            ("workers", .int(Int64(gateway.loops.count))),
            ("tls", .string(state.isTLS ? "on, min \(config.tls.minVersion.rawValue), client certificates \(config.tls.clientAuth.rawValue)" : "off")),
            ("credentials", .string(credentials.joined(separator: ", "))),
            ("rate_limit", .string(rl.enabled ? "\(rl.capacity) burst, \(rl.refillPerSecond)/s per \(rl.per.rawValue), \(rl.backend.rawValue)" : "off")),
            ("cors_origins", .string(config.cors.origins.joined(separator: ", "))),
            ("inspection", .string(config.mcp.paths.isEmpty ? "off" : "on \(config.mcp.paths.joined(separator: ", ")), sanitize \(config.mcp.sanitize.rawValue)")),
            ("upstream", .string(config.upstream.url.description)),
        ]
    }

    /// Runs `gateway` until a stop signal; SIGHUP calls `reload` for a new configuration.
    static func serve(
        _ gateway: Gateway, config: GatewayConfig, reload: () throws -> GatewayConfig, banner: String? = nil
    ) -> Int32 {
        gateway.start()
        let scheme = gateway.state.isTLS ? "https" : "http"
        if let banner {
            let bytes = Array((banner + "\n").utf8)
            _ = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
        } else {
            CommandLineInterface.printErr("gatehouse: listening on \(scheme)://\(gateway.boundAddress)")
        }
        gateway.logs.write(
            SecurityEvent(
                .security(severity: .low, kind: "started", details: posture(gateway, config, scheme: scheme)),
                ipAddress: nil, userAgent: nil, requestID: nil))
        while true {
            guard let signal = ProcessSignal.wait(milliseconds: 1000) else { continue }
            switch signal {
            case .hangup:
                do {
                    let config = try reload()
                    try gateway.apply(config)
                    gateway.logs.write(
                        SecurityEvent(
                            .security(severity: .low, kind: "config_reloaded", details: []),
                            ipAddress: nil, userAgent: nil, requestID: nil))
                } catch {
                    gateway.logs.write(
                        SecurityEvent(
                            .security(severity: .high, kind: "config_rejected", details: [("error", .string("\(error)"))]),
                            ipAddress: nil, userAgent: nil, requestID: nil))
                    CommandLineInterface.printErr("gatehouse: configuration rejected, keeping the old one: \(error)")
                }
            case .terminate, .interrupt:
                let drained = gateway.drain(deadlineMilliseconds: gateway.state.drainTimeoutMilliseconds)
                gateway.logs.write(
                    SecurityEvent(
                        .security(severity: drained ? .low : .medium, kind: "stopped", details: [("drained", .bool(drained))]),
                        ipAddress: nil, userAgent: nil, requestID: nil))
                gateway.stop()
                return 0
            }
        }
    }
}
