import Foundation
import Glibc
import XCTest

@testable import GatehousePosix

/// Certificates made once per test process with the openssl CLI: a root CA, an intermediate, a server
/// leaf (chain file leaf first), client certificates signed by the root (DNS SAN, URI SAN after an
/// email SAN, CN only), and a foreign CA with a client certificate of its own.
final class TLSFixtures: @unchecked Sendable {
    static let shared: TLSFixtures = {
        signal(SIGPIPE, SIG_IGN)  // the process does this in production (gh_block_signals)
        do { return try TLSFixtures() } catch { fatalError("cannot make TLS fixtures: \(error)") }
    }()

    let directory: String
    var caPath: String { directory + "/ca.pem" }
    var serverChainPath: String { directory + "/server-chain.pem" }
    var serverKeyPath: String { directory + "/server.key" }
    var clientDNSPath: String { directory + "/client-dns.pem" }
    var clientDNSKeyPath: String { directory + "/client-dns.key" }
    var clientURIPath: String { directory + "/client-uri.pem" }
    var clientURIKeyPath: String { directory + "/client-uri.key" }
    var clientCNPath: String { directory + "/client-cn.pem" }
    var clientCNKeyPath: String { directory + "/client-cn.key" }
    var foreignClientPath: String { directory + "/foreign-client.pem" }
    var foreignClientKeyPath: String { directory + "/foreign-client.key" }

    private init() throws {
        directory = NSTemporaryDirectory() + "gatehouse-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try makeCA("ca", subject: "/CN=Gatehouse Test Root CA")
        try makeCA("intermediate", subject: "/CN=Gatehouse Test Intermediate", signer: "ca")
        try makeLeaf(
            "server", subject: "/CN=localhost", signer: "intermediate",
            extensions:
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        let chain =
            try String(contentsOfFile: directory + "/server.pem", encoding: .utf8)
            + String(contentsOfFile: directory + "/intermediate.pem", encoding: .utf8)
        try chain.write(toFile: serverChainPath, atomically: true, encoding: .utf8)
        let clientUsage = "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
        try makeLeaf(
            "client-dns", subject: "/CN=ignored-common-name", signer: "ca",
            extensions: "subjectAltName=DNS:agent-one.example,URI:spiffe://example.org/second\n" + clientUsage)
        try makeLeaf(
            "client-uri", subject: "/CN=ignored-common-name", signer: "ca",
            extensions: "subjectAltName=email:agent@example.org,URI:spiffe://example.org/agent-two\n" + clientUsage)
        try makeLeaf("client-cn", subject: "/CN=cn-only-agent", signer: "ca", extensions: clientUsage)
        try makeCA("foreign-ca", subject: "/CN=Some Other CA")
        try makeLeaf(
            "foreign-client", subject: "/CN=agent-one.example", signer: "foreign-ca",
            extensions: "subjectAltName=DNS:agent-one.example\n" + clientUsage)
    }

    private func makeCA(_ name: String, subject: String, signer: String? = nil) throws {
        let key = "\(directory)/\(name).key"
        let certificate = "\(directory)/\(name).pem"
        guard let signer else {
            try runOpenSSL([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-out", certificate, "-days", "30", "-subj", subject, "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
            return
        }
        try makeLeaf(
            name, subject: subject, signer: signer,
            extensions: "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    }

    private func makeLeaf(_ name: String, subject: String, signer: String, extensions: String) throws {
        let key = "\(directory)/\(name).key"
        let request = "\(directory)/\(name).csr"
        let extensionFile = "\(directory)/\(name).ext"
        try extensions.write(toFile: extensionFile, atomically: true, encoding: .utf8)
        try runOpenSSL([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", request, "-subj", subject,
        ])
        try runOpenSSL([
            "x509", "-req", "-in", request, "-CA", "\(directory)/\(signer).pem", "-CAkey",
            "\(directory)/\(signer).key", "-CAcreateserial", "-out", "\(directory)/\(name).pem", "-days", "30",
            "-extfile", extensionFile,
        ])
    }

    @discardableResult
    func runOpenSSL(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw NSError(
                domain: "openssl", code: Int(process.terminationStatus),
                userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments.joined(separator: " ")): \(text)"])
        }
        return text
    }

    /// A server context over the fixture chain with `change` applied to the settings.
    func serverContext(_ change: (inout TLSServerSettings) -> Void = { _ in }) throws -> TLSContext {
        var settings = TLSServerSettings(certificatePath: serverChainPath, privateKeyPath: serverKeyPath)
        change(&settings)
        return try TLSContext(server: settings)
    }
}

/// A connected pair of non-blocking Unix stream sockets, closed on deinit.
final class TLSSocketPair {
    let server: Int32
    let client: Int32
    private var isClientClosed = false

    init() {
        var fds: [Int32] = [-1, -1]
        let status = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds)
        precondition(status == 0, "socketpair failed")
        server = fds[0]
        client = fds[1]
    }

    func closeClient() {
        if !isClientClosed { _ = close(client) }
        isClientClosed = true
    }

    deinit {
        _ = close(server)
        closeClient()
    }
}

/// Drives handshakes and transfers of two in-process TLS endpoints on one thread: each side steps
/// until it is done, failed, or (after a failure on the other side) no longer making progress.
enum TLSPump {
    struct Outcome {
        var server: Result<Void, TLSError>?
        var client: Result<Void, TLSError>?
        var serverError: String? { if case .failure(let e)? = server { e.message } else { nil } }
        var clientError: String? { if case .failure(let e)? = client { e.message } else { nil } }
        var bothDone: Bool {
            if case .success? = server, case .success? = client { return true }
            return false
        }
    }

    static func handshake(server: TLSConnection, client: TLSConnection) -> Outcome {
        var outcome = Outcome()
        for _ in 0..<400 {
            if outcome.server == nil {
                do { if try server.handshake() == .done { outcome.server = .success(()) } } catch {
                    outcome.server = .failure(error)
                }
            }
            if outcome.client == nil {
                do { if try client.handshake() == .done { outcome.client = .success(()) } } catch {
                    outcome.client = .failure(error)
                }
            }
            if outcome.server != nil && outcome.client != nil { break }
        }
        return outcome
    }

    /// Reads from `connection` until `count` bytes arrived, `closed`, or nothing more is coming.
    static func read(_ connection: TLSConnection, count: Int) throws -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var idle = 0
        while received.count < count && idle < 200 {
            let result = try buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
            switch result {
            case .bytes(let n):
                received += buffer[0..<n]
                idle = 0
            case .wantRead, .wantWrite:
                idle += 1
            case .closed: return received
            }
        }
        return received
    }

    /// Writes all of `bytes` (in-process peer must not need pumping for that amount).
    static func writeAll(_ connection: TLSConnection, _ bytes: [UInt8]) throws {
        var offset = 0
        var spins = 0
        while offset < bytes.count {
            let result = try bytes.withUnsafeBytes {
                try connection.write(UnsafeRawBufferPointer(rebasing: $0[offset...]))
            }
            switch result {
            case .bytes(let n): offset += n
            case .wantRead, .wantWrite:
                spins += 1
                if spins > 1000 { throw TLSError("write made no progress") }
            case .closed: throw TLSError("closed while writing")
            }
        }
    }
}

/// A listening socket on 127.0.0.1 with an ephemeral port.
final class TLSLoopbackListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw TLSError("bind/listen: \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    /// The next connection, non-blocking, or nil after `timeout` milliseconds.
    func accept(timeout: Int32 = 10_000) -> Int32? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeout) == 1 else { return nil }
        let connection = Glibc.accept(fd, nil, nil)
        guard connection >= 0 else { return nil }
        _ = fcntl(connection, F_SETFL, fcntl(connection, F_GETFL) | O_NONBLOCK)
        return connection
    }

    deinit { _ = close(fd) }
}

/// Drives a server `TLSConnection` on a real socket with poll(2), the way the event loop does.
enum TLSPollDriver {
    static func wait(_ fd: Int32, for result: TLSHandshake, deadline: Date) -> Bool {
        let events = result == .wantWrite ? Int16(POLLOUT) : Int16(POLLIN)
        var poller = pollfd(fd: fd, events: events, revents: 0)
        let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
        return poll(&poller, 1, remaining) == 1
    }

    static func handshake(_ connection: TLSConnection, fd: Int32, timeout: TimeInterval = 10) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let step = try connection.handshake()
            if step == .done { return true }
            if !wait(fd, for: step, deadline: deadline) { return false }
        }
    }

    /// Reads until `marker` appears in the plaintext, the peer closes, or the timeout.
    static func read(_ connection: TLSConnection, fd: Int32, until marker: String, timeout: TimeInterval = 10) throws
        -> (text: String, closed: Bool)
    {
        let deadline = Date().addingTimeInterval(timeout)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let result = try buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
            switch result {
            case .bytes(let n):
                received += buffer[0..<n]
                if String(decoding: received, as: UTF8.self).contains(marker) {
                    return (String(decoding: received, as: UTF8.self), false)
                }
            case .wantRead: _ = wait(fd, for: .wantRead, deadline: deadline)
            case .wantWrite: _ = wait(fd, for: .wantWrite, deadline: deadline)
            case .closed: return (String(decoding: received, as: UTF8.self), true)
            }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    static func writeAll(_ connection: TLSConnection, fd: Int32, _ text: String, timeout: TimeInterval = 10) throws {
        let bytes = Array(text.utf8)
        let deadline = Date().addingTimeInterval(timeout)
        var offset = 0
        while offset < bytes.count && Date() < deadline {
            let result = try bytes.withUnsafeBytes {
                try connection.write(UnsafeRawBufferPointer(rebasing: $0[offset...]))
            }
            switch result {
            case .bytes(let n): offset += n
            case .wantRead: _ = wait(fd, for: .wantRead, deadline: deadline)
            case .wantWrite: _ = wait(fd, for: .wantWrite, deadline: deadline)
            case .closed: throw TLSError("closed while writing")
            }
        }
    }
}

/// `openssl s_client` as a subprocess, its output collected as it arrives.
final class TLSOpenSSLClient: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let lock = NSLock()
    private var collected = Data()

    init(port: UInt16, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)"] + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock()
            self.collected.append(data)
            self.lock.unlock()
        }
        try process.run()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: collected, as: UTF8.self)
    }

    /// Waits until the output contains `marker` (true) or the timeout passes (false).
    func waitForOutput(_ marker: String, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if text.contains(marker) { return true }
            usleep(10_000)
        }
        return false
    }

    func send(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Closes stdin: s_client sends close_notify, then waits up to 500 ms for the server to close.
    func closeInput() {
        try? input.fileHandleForWriting.close()
    }

    /// Closes stdin and waits for the exit.
    func finish(timeout: TimeInterval = 10) -> String {
        closeInput()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        usleep(50_000)
        output.fileHandleForReading.readabilityHandler = nil
        return text
    }
}

/// The fixtures themselves: the chain verifies, so later failures are the code's, not the test's.
final class TLSFixturesTests: XCTestCase {
    func testFixtureChainVerifies() throws {
        let fixtures = TLSFixtures.shared
        let result = try fixtures.runOpenSSL([
            "verify", "-CAfile", fixtures.caPath, "-untrusted", fixtures.directory + "/intermediate.pem",
            fixtures.directory + "/server.pem",
        ])
        XCTAssertTrue(result.contains("OK"), result)
        XCTAssertThrowsError(
            try fixtures.runOpenSSL(["verify", "-CAfile", fixtures.caPath, fixtures.foreignClientPath]))
    }
}
