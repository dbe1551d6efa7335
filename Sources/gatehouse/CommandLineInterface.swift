import GatehouseConfig
import GatehouseCrypto
import GatehousePolicy
import GatehousePosix
import GatehouseServer
import Glibc

/// `gatehouse` commands (contract §1): parse arguments, call into the library, map outcomes to exit codes.
enum CommandLineInterface {
    static let version = "0.1.0"

    static let usage = """
        gatehouse \(version) — a security gateway for MCP servers

        Usage:
          gatehouse run [--config PATH]          serve until SIGTERM/SIGINT (drain); SIGHUP reloads
          gatehouse check [--config PATH] [--production]
                                                 validate the configuration, print effective settings
                                                 (--production: the production checklist, exit 1 on a failure)
          gatehouse demo [--port N]              a sample MCP server behind the gateway, with a fresh key
          gatehouse key generate                 print a new API key and its sha256: form
          gatehouse key hash [KEY]               print sha256:<hex> of KEY (or of stdin)
          gatehouse token --sub S [--permissions a,b] [--ttl 24h] [--config PATH]
                                                 mint an HS256 JWT with the configured secret
          gatehouse secret encrypt|decrypt       stdin to stdout as a Fernet token (enc: values), with
                                                 MCP_ENCRYPTION_PASSWORD and MCP_ENCRYPTION_SALT
          gatehouse pin [--config PATH]          write the digests of the upstream's tool definitions
                                                 to mcp.pinned_tools_file
          gatehouse probe URL [--timeout 3s] [--cacert PATH] [--insecure]
                                                 GET URL; exit 0 on a 2xx answer (container health checks)
          gatehouse --version | --help | COMMAND --help

        --config defaults to $GATEHOUSE_CONFIG, then ./gateway.conf; without a file the
        environment alone configures the gateway (MCP_API_KEYS, GATEHOUSE_UPSTREAM, ...).
        Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
        """

    static func main(_ args: [String]) -> Int32 {
        guard let command = args.first else {
            printErr(usage)
            return 2
        }
        let rest = Array(args.dropFirst())
        if rest.contains("--help") || rest.contains("-h") {
            print(help(for: command) ?? usage)
            return 0
        }
        switch command {
        case "--help", "-h", "help":
            print(usage)
            return 0
        case "--version", "-V", "version":
            print("gatehouse \(version)")
            return 0
        case "run": return RunCommand.run(rest)
        case "check": return CheckCommand.run(rest)
        case "demo": return DemoCommand.run(rest)
        case "key": return KeyCommand.run(rest)
        case "token": return TokenCommand.run(rest)
        case "secret": return SecretCommand.run(rest)
        case "probe": return ProbeCommand.run(rest)
        case "pin": return PinCommand.run(rest)
        default:
            return fail("unknown command '\(command)' (see gatehouse --help)", code: 2)
        }
    }

    static func help(for command: String) -> String? {
        switch command {
        case "run":
            return """
                gatehouse run [--config PATH]
                Serve until SIGTERM/SIGINT, which stop accepting and let requests in flight finish (up to
                server.drain_timeout). SIGHUP re-reads the configuration; an invalid one is logged and ignored.
                Exit: 0 clean stop, 1 runtime failure, 2 bad configuration.
                """
        case "check":
            return """
                gatehouse check [--config PATH] [--production]
                Validate the configuration and print every effective setting with its source
                (file, env, default); secrets are masked. With --production, also the production
                checklist: one [ok]/[FAIL] line per item with the reason and the fix, and warnings for
                secret files other users can read. Exit: 0 valid, 1 a checklist item failed, 2 invalid.
                """
        case "demo":
            return """
                gatehouse demo [--port N]
                Start a built-in sample MCP server (tools echo, add, slow) and the gateway in front of it on
                127.0.0.1:N (default 8080) with a fresh API key; print the URL, the key and a curl line.
                """
        case "key":
            return """
                gatehouse key generate     print a new random API key and, on a second line, its sha256:<hex> form
                gatehouse key hash [KEY]   print sha256:<hex> of KEY, or of standard input
                """
        case "token":
            return """
                gatehouse token --sub SUBJECT [--permissions a,b] [--ttl 24h] [--config PATH]
                Mint an HS256 JWT signed with auth.jwt.secret (or MCP_JWT_SECRET), for testing and bootstrap.
                Claims: sub, iat, exp (now + ttl), permissions, and iss/aud when the configuration requires them.
                Exit: 0, or 2 without a secret.
                """
        case "secret":
            return SecretCommand.help
        case "probe":
            return ProbeCommand.help
        case "pin":
            return PinCommand.help
        default:
            return nil
        }
    }

    /// The value after `flag` (`--config x` or `--config=x`), nil when absent; a flag without a value is an error.
    static func option(_ flag: String, in args: [String]) throws(UsageError) -> String? {
        for (i, a) in args.enumerated() {
            if a == flag {
                guard i + 1 < args.count, !args[i + 1].hasPrefix("--") else { throw UsageError("\(flag) needs a value") }
                return args[i + 1]
            }
            if a.hasPrefix(flag + "=") { return String(a.dropFirst(flag.count + 1)) }
        }
        return nil
    }

    /// Refuses arguments a command does not know (a typo must not pass silently).
    static func checkArguments(_ args: [String], flags: Set<String>, switches: Set<String> = []) throws(UsageError) {
        var i = 0
        while i < args.count {
            let a = args[i]
            let name = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
            if flags.contains(name) {
                i += a.contains("=") ? 1 : 2
            } else if switches.contains(a) {
                i += 1
            } else {
                throw UsageError("unexpected argument '\(a)'")
            }
        }
    }

    static func environment() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                env[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return env
    }

    static func printErr(_ s: String) {
        var line = s
        if !line.hasSuffix("\n") { line += "\n" }
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }

    @discardableResult
    static func fail(_ message: String, code: Int32) -> Int32 {
        printErr("gatehouse: error: \(message)")
        return code
    }
}

/// A command-line mistake (exit 2).
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
