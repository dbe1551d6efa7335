import GatehouseConfig
import GatehouseJSON
import GatehousePolicy
import GatehousePosix
import GatehouseServer
import Glibc

/// `gatehouse pin [--config PATH]`: reads every tool definition of the upstream as an MCP client
/// (session opening, `tools/list` page after page) and writes their digests to `mcp.pinned_tools_file`
/// (§6.7), replacing the file atomically. A running gateway takes the new pins on SIGHUP.
enum PinCommand {
    static let help = """
        gatehouse pin [--config PATH]
        Act as an MCP client to the upstream (initialize or server/discover, tools/list with every page)
        and write the SHA-256 digest of each tool's definition (name, description, input schema) to
        mcp.pinned_tools_file, replacing it. Send SIGHUP to a running gateway to make it use the new pins.
        Exit: 0 written, 1 when the upstream cannot be read or the file cannot be written, 2 bad configuration.
        """

    static func run(_ args: [String]) -> Int32 {
        let path: String?
        do {
            try CommandLineInterface.checkArguments(args, flags: ["--config"])
            path = try CommandLineInterface.option("--config", in: args)
        } catch {
            return CommandLineInterface.fail("\(error)", code: 2)
        }
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(path: path, environment: CommandLineInterface.environment())
        } catch {
            return CommandLineInterface.fail("\(error)", code: 2)
        }
        var config = loaded.config
        let pinsPath = config.mcp.pinnedToolsFile
        guard !pinsPath.isEmpty else {
            return CommandLineInterface.fail("mcp.pinned_tools_file is not set: nowhere to write the pins", code: 2)
        }
        // The pins in place are about to be replaced: a damaged file must not stop the command that repairs it.
        config.mcp.pinnedToolsFile = ""
        let state: GatewayState
        do {
            state = try GatewayState(config: config)
        } catch let e as GatewayStartError {
            return CommandLineInterface.fail(e.message, code: e.isConfiguration ? 2 : 1)
        } catch {
            return CommandLineInterface.fail("\(error)", code: 1)
        }
        let timeout = max(30_000, state.connectTimeoutMilliseconds + 2 * state.responseTimeoutMilliseconds)
        let tools: [JSONValue]
        switch MCPClient.fetchTools(
            state: state, endpointPath: config.mcp.paths.first ?? "/mcp", timeoutMilliseconds: timeout)
        {
        case .success(let list):
            tools = list
        case .rpcError(let error):
            let message = error["message"]?.stringValue ?? String(decoding: JSONWriter.serialize(error), as: UTF8.self)
            return CommandLineInterface.fail("the upstream refused tools/list: \(message)", code: 1)
        case .timeout:
            return CommandLineInterface.fail("the upstream did not list its tools within \(timeout / 1000)s", code: 1)
        case .unavailable(let reason):
            return CommandLineInterface.fail("cannot read the upstream's tools: \(reason)", code: 1)
        }
        let pins = ToolPins()
        let changed = pins.observe(tools: tools)
        if !changed.isEmpty {
            CommandLineInterface.printErr(
                "gatehouse: warning: tools listed twice with different definitions (the first is pinned): "
                    + changed.joined(separator: ", "))
        }
        if let failure = writeAtomically(pins.serialize(), to: pinsPath) {
            return CommandLineInterface.fail("mcp.pinned_tools_file: \(pinsPath): \(failure)", code: 1)
        }
        print("gatehouse: pinned \(pins.pinned.count) tool(s) of \(state.upstreamAuthority) in \(pinsPath)")
        return 0
    }

    /// Writes `bytes` to a temporary file beside `path`, then renames it over `path`; nil on success,
    /// else why it failed.
    static func writeAtomically(_ bytes: [UInt8], to path: String) -> String? {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return reason(errno) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let failure = reason(errno)
                close(fd)
                unlink(temporary)
                return failure
            }
            written += n
        }
        if fsync(fd) != 0 || close(fd) != 0 {
            let failure = reason(errno)
            unlink(temporary)
            return failure
        }
        guard rename(temporary, path) == 0 else {
            let failure = reason(errno)
            unlink(temporary)
            return failure
        }
        return nil
    }

    private static func reason(_ code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    }
}
