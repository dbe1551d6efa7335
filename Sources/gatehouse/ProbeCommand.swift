import GatehousePosix
import Glibc

/// `gatehouse probe URL`: one GET, exit 0 on a 2xx answer and 1 on anything else. It is the container
/// health check (the runtime image has no curl), so it stays small: no redirects, no body, a short
/// deadline over the whole exchange, and every wait is a `poll()` on the one socket.
enum ProbeCommand {
    static let defaultTimeoutMilliseconds: Int64 = 3000

    static let help = """
        gatehouse probe URL [--timeout 3s] [--cacert PATH] [--insecure]
        Send one GET to URL (http:// or https://) and exit 0 when the answer is 2xx, 1 otherwise
        (refused, timed out, TLS failure, any other status). Meant for health checks without curl:
          gatehouse probe http://127.0.0.1:9901/healthz
        --timeout    deadline for the whole exchange (connect, TLS, answer); default 3s
        --cacert     PEM bundle that verifies an https server (default: the system trust store)
        --insecure   do not verify the https server's certificate (loopback self-signed certificates)
        Exit: 0 on 2xx, 1 otherwise, 2 on a usage error.
        """

    static func run(_ args: [String]) -> Int32 {
        let target: ProbeTarget
        let timeout: Int64
        let caFile: String?
        let isInsecure = args.contains("--insecure")
        do {
            let positional = try positionalArguments(args)
            guard positional.count == 1 else { throw UsageError("probe needs exactly one URL") }
            target = try ProbeTarget(parsing: positional[0])
            caFile = try CommandLineInterface.option("--cacert", in: args)
            if let text = try CommandLineInterface.option("--timeout", in: args) {
                guard let milliseconds = parseMilliseconds(text), milliseconds > 0 else {
                    throw UsageError("--timeout: expected a duration like \"3s\" or \"500ms\"")
                }
                timeout = milliseconds
            } else {
                timeout = defaultTimeoutMilliseconds
            }
            if caFile != nil && isInsecure { throw UsageError("--cacert and --insecure exclude each other") }
        } catch {
            return CommandLineInterface.fail("\(error)", code: 2)
        }
        blockBrokenPipeSignal()
        do {
            let status = try Probe(target: target, deadline: monotonicMilliseconds() + timeout)
                .fetchStatus(caFile: caFile, verifiesPeer: !isInsecure)
            print("\(status) \(target.text)")
            return (200...299).contains(status) ? 0 : 1
        } catch {
            return CommandLineInterface.fail("probe \(target.text): \(error.message)", code: 1)
        }
    }

    /// A server that closes early must make a write fail with EPIPE, not kill the probe (OpenSSL writes
    /// with write(), which has no MSG_NOSIGNAL). Blocked rather than ignored: SIG_IGN is a C macro.
    static func blockBrokenPipeSignal() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGPIPE)
        sigprocmask(SIG_BLOCK, &signals, nil)
    }

    /// The arguments that are not options, refusing unknown options.
    static func positionalArguments(_ args: [String]) throws(UsageError) -> [String] {
        var positional: [String] = []
        var index = 0
        while index < args.count {
            let argument = args[index]
            if argument == "--timeout" || argument == "--cacert" {
                index += 2
            } else if argument.hasPrefix("--timeout=") || argument.hasPrefix("--cacert=") || argument == "--insecure" {
                index += 1
            } else if argument.hasPrefix("-") {
                throw UsageError("unexpected argument '\(argument)'")
            } else {
                positional.append(argument)
                index += 1
            }
        }
        return positional
    }

    /// `"250ms"`, `"3s"`, `"1m"` in milliseconds; nil for anything else.
    static func parseMilliseconds(_ text: String) -> Int64? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 9, let number = Int64(digits) else { return nil }
        switch text.dropFirst(digits.count) {
        case "ms": return number
        case "s": return number * 1000
        case "m": return number * 60_000
        default: return nil
        }
    }
}

/// Where a probe goes: scheme, host, port and the request target, parsed from the command line.
struct ProbeTarget {
    var isTLS: Bool
    /// Host name or address as written (IPv6 without brackets).
    var host: String
    var port: UInt16
    /// The `Host` header value: host and port as the URL wrote them.
    var authority: String
    /// Path and query (`/` when the URL has none).
    var requestTarget: String
    /// The URL as given, for messages.
    var text: String

    init(parsing text: String) throws(UsageError) {
        self.text = text
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") {
            isTLS = false
            rest = text.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            isTLS = true
            rest = text.dropFirst(8)
        } else {
            throw UsageError("expected an http:// or https:// URL, got '\(text)'")
        }
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7f }) else {
            throw UsageError("spaces and control characters are not allowed in the URL")
        }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authorityText = rest[..<authorityEnd]
        var path = rest[authorityEnd...]
        if let fragment = path.firstIndex(of: "#") { path = path[..<fragment] }
        requestTarget = path.isEmpty ? "/" : (path.hasPrefix("?") ? "/" + path : String(path))
        authority = String(authorityText)
        guard !authorityText.isEmpty, !authorityText.contains("@") else {
            throw UsageError("expected a host in the URL '\(text)'")
        }
        var portText: Substring = ""
        if authorityText.hasPrefix("[") {
            guard let close = authorityText.firstIndex(of: "]") else { throw UsageError("unclosed [ in '\(text)'") }
            host = String(authorityText[authorityText.index(after: authorityText.startIndex)..<close])
            let after = authorityText[authorityText.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw UsageError("bad port in '\(text)'") }
                portText = after.dropFirst()
            }
        } else if let colon = authorityText.lastIndex(of: ":") {
            host = String(authorityText[..<colon])
            portText = authorityText[authorityText.index(after: colon)...]
        } else {
            host = String(authorityText)
        }
        if portText.isEmpty {
            port = isTLS ? 443 : 80
        } else {
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt16(portText), value > 0 else {
                throw UsageError("bad port in '\(text)'")
            }
            port = value
        }
        guard !host.isEmpty else { throw UsageError("expected a host in the URL '\(text)'") }
    }
}

/// Why a probe failed (exit 1): connection, TLS, timeout or an answer that is not HTTP.
struct ProbeFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// One GET over one connection, every step bounded by `deadline` (monotonic milliseconds).
struct Probe {
    let target: ProbeTarget
    let deadline: Int64

    /// Connects, sends the request and returns the status code of the answer's status line.
    func fetchStatus(caFile: String?, verifiesPeer: Bool) throws(ProbeFailure) -> Int {
        let address: SocketAddress
        do {
            address = try SocketAddress.resolve(host: target.host, port: target.port)
        } catch {
            throw ProbeFailure("cannot resolve \(target.host): \(error)")
        }
        let fd = try connect(to: address)
        defer { closeDescriptor(fd) }
        let request = Array(
            ("GET \(target.requestTarget) HTTP/1.1\r\nHost: \(target.authority)\r\n"
                + "User-Agent: gatehouse-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n").utf8)
        var transport: any ProbeTransport
        if target.isTLS {
            transport = try TLSProbeTransport(
                fd: fd, serverName: target.host, caFile: caFile, verifiesPeer: verifiesPeer, probe: self)
        } else {
            transport = PlainProbeTransport(fd: fd)
        }
        var sent = 0
        while sent < request.count {
            let step: ProbeStep
            do {
                step = try request[sent...].withUnsafeBytes { bytes in try transport.write(bytes) }
            } catch let failure as ProbeFailure {
                throw failure
            } catch {
                throw ProbeFailure("\(error)")
            }
            switch step {
            case .done(let count): sent += count
            case .wait(let events): try wait(fd, for: events)
            case .closed: throw ProbeFailure("the server closed the connection before the request was sent")
            }
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        // The status line is all we need; a head longer than this is not a health answer.
        while !received.contains(0x0a) {
            guard received.count < 8192 else { throw ProbeFailure("no status line in the first 8 KiB") }
            let step: ProbeStep
            do {
                step = try chunk.withUnsafeMutableBytes { bytes in try transport.read(into: bytes) }
            } catch let failure as ProbeFailure {
                throw failure
            } catch {
                throw ProbeFailure("\(error)")
            }
            switch step {
            case .done(let count): received.append(contentsOf: chunk[0..<count])
            case .wait(let events): try wait(fd, for: events)
            case .closed: throw ProbeFailure("the server closed the connection without an answer")
            }
        }
        transport.close()
        return try Self.statusCode(of: received)
    }

    /// The status code in `HTTP/1.x NNN ...`.
    static func statusCode(of bytes: [UInt8]) throws(ProbeFailure) -> Int {
        let line = bytes.prefix { $0 != 0x0d && $0 != 0x0a }
        let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)), parts[1].count == 3,
            parts[1].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else {
            throw ProbeFailure("the answer is not HTTP/1.x")
        }
        return parts[1].reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    private func connect(to address: SocketAddress) throws(ProbeFailure) -> Int32 {
        let started: (fd: Int32, inProgress: Bool)
        do {
            started = try Socket.connect(to: address)
        } catch {
            throw ProbeFailure("\(error)")
        }
        guard started.inProgress else { return started.fd }
        do {
            try wait(started.fd, for: Int16(POLLOUT))
        } catch {
            closeDescriptor(started.fd)
            throw error
        }
        let code = Socket.pendingError(started.fd)
        guard code == 0 else {
            closeDescriptor(started.fd)
            throw ProbeFailure("\(SystemError("connect(\(address))", errno: code))")
        }
        return started.fd
    }

    /// Waits until `fd` is ready for `events` or the deadline passes.
    func wait(_ fd: Int32, for events: Int16) throws(ProbeFailure) {
        while true {
            let remaining = deadline - monotonicMilliseconds()
            guard remaining > 0 else { throw ProbeFailure("timed out") }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&entry, 1, Int32(min(remaining, Int64(Int32.max))))
            if result > 0 { return }
            if result < 0 && errno != EINTR { throw ProbeFailure("\(SystemError("poll", errno: errno))") }
        }
    }
}

/// The outcome of one read or write step of a probe.
enum ProbeStep {
    case done(Int)
    /// Poll for these events, then try again.
    case wait(Int16)
    case closed
}

/// The byte stream a probe speaks over: the socket itself or a TLS session on it.
protocol ProbeTransport {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(ProbeFailure) -> ProbeStep
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ProbeFailure) -> ProbeStep
    func close()
}

/// Plain TCP on a non-blocking socket.
struct PlainProbeTransport: ProbeTransport {
    let fd: Int32

    func write(_ bytes: UnsafeRawBufferPointer) throws(ProbeFailure) -> ProbeStep {
        let result = send(fd, bytes.baseAddress, bytes.count, 0)
        if result >= 0 { return .done(result) }
        return try Self.interpret(errno, call: "send", waitingFor: Int16(POLLOUT))
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ProbeFailure) -> ProbeStep {
        let result = recv(fd, buffer.baseAddress, buffer.count, 0)
        if result > 0 { return .done(result) }
        if result == 0 { return .closed }
        return try Self.interpret(errno, call: "recv", waitingFor: Int16(POLLIN))
    }

    func close() {}

    private static func interpret(_ code: Int32, call: String, waitingFor events: Int16) throws(ProbeFailure)
        -> ProbeStep
    {
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return .wait(events) }
        throw ProbeFailure("\(SystemError(call, errno: code))")
    }
}

/// TLS on the socket: the handshake runs in the initializer, bounded by the probe's deadline.
struct TLSProbeTransport: ProbeTransport {
    let connection: TLSConnection

    init(fd: Int32, serverName: String, caFile: String?, verifiesPeer: Bool, probe: Probe) throws(ProbeFailure) {
        do {
            let context = try TLSContext(clientCAFile: caFile, verifyPeer: verifiesPeer)
            connection = try TLSConnection(context: context, fd: fd, serverName: serverName)
            while true {
                switch try connection.handshake() {
                case .done: return
                case .wantRead: try probe.wait(fd, for: Int16(POLLIN))
                case .wantWrite: try probe.wait(fd, for: Int16(POLLOUT))
                }
            }
        } catch let failure as ProbeFailure {
            throw failure
        } catch {
            throw ProbeFailure("\(error)")
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ProbeFailure) -> ProbeStep {
        do {
            return Self.step(try connection.write(bytes))
        } catch {
            throw ProbeFailure("\(error)")
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ProbeFailure) -> ProbeStep {
        do {
            return Self.step(try connection.read(into: buffer))
        } catch {
            throw ProbeFailure("\(error)")
        }
    }

    func close() { connection.shutdown() }

    private static func step(_ io: TLSIO) -> ProbeStep {
        switch io {
        case .bytes(let count): return .done(count)
        case .wantRead: return .wait(Int16(POLLIN))
        case .wantWrite: return .wait(Int16(POLLOUT))
        case .closed: return .closed
        }
    }
}
