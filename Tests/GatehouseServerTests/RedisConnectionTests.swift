import Foundation
import GatehouseConfig
import GatehouseHTTP
import GatehousePosix
import Glibc
import Synchronization
import XCTest

@testable import GatehouseServer

/// The Redis client against a real `redis-server` (started by each test on a free loopback port, never
/// the system service) and against fake servers that stay silent or talk nonsense: pipelining,
/// AUTH/SELECT, TLS, timeouts, fast failure while Redis is down, and recovery after a restart.
final class RedisConnectionTests: XCTestCase {
    private var harness: RedisLoopHarness!

    override func setUpWithError() throws {
        harness = try RedisLoopHarness()
    }

    override func tearDown() {
        harness?.stop()
        harness = nil
    }

    private func connection(
        _ url: RedisURL, tls: TLSContext? = nil, _ change: (inout RedisConnection.Options) -> Void = { _ in }
    ) throws -> RedisLoopConfined<RedisConnection> {
        var options = RedisConnection.Options()
        options.reconnectInitialDelayMilliseconds = 50
        options.reconnectMaximumDelayMilliseconds = 200
        change(&options)
        let address = try SocketAddress.resolve(host: url.host, port: url.port)
        let loop = harness.loop
        let made = RedisConnection(loop: loop, url: url, address: address, tlsContext: tls, options: options)
        addTeardownBlock { [box = RedisLoopConfined(made), harness] in
            harness?.sync { box.value.close() }
        }
        return RedisLoopConfined(made)
    }

    /// Sends `commands` in one go on the loop and waits for every completion.
    private func send(
        _ connection: RedisLoopConfined<RedisConnection>, _ commands: [[String]], timeout: Int64? = nil,
        wait seconds: Double = 5
    ) -> [Result<RedisValue, RedisError>] {
        let results = RedisResults<Result<RedisValue, RedisError>>()
        harness.sync {
            for (index, command) in commands.enumerated() {
                connection.value.send(command, timeoutMilliseconds: timeout) { results.add(index, $0) }
            }
        }
        return results.wait(for: commands.count, seconds: seconds)
    }

    private func value(_ result: Result<RedisValue, RedisError>, file: StaticString = #filePath, line: UInt = #line)
        -> RedisValue?
    {
        switch result {
        case .success(let v): return v
        case .failure(let e):
            XCTFail("expected a reply, got \(e)", file: file, line: line)
            return nil
        }
    }

    // MARK: Against redis-server

    func testCommandsArePipelinedAndRepliesMatchedInOrder() throws {
        let server = try RedisTestServer.start(self)
        let c = try connection(server.url)
        XCTAssertEqual(send(c, [["PING"]]).map { try? $0.get() }, [.simpleString("PONG")])
        let commands = (0..<1000).map { _ in ["INCR", "counter"] } + [["GET", "counter"], ["GET", "missing"]]
        let results = send(c, commands)
        XCTAssertEqual(results.count, 1002)
        for i in 0..<1000 { XCTAssertEqual(try? results[i].get(), .integer(Int64(i + 1))) }
        XCTAssertEqual(try? results[1000].get(), .bulkString(Array("1000".utf8)))
        XCTAssertEqual(try? results[1001].get(), .null)
        // An error reply is a value, and the connection goes on.
        let more = send(c, [["NOSUCHCOMMAND"], ["ECHO", "still here"]])
        XCTAssertEqual(value(more[0])?.errorCode, "ERR")
        XCTAssertEqual(try? more[1].get(), .bulkString(Array("still here".utf8)))
        XCTAssertEqual(harness.sync { c.value.status }, .ready)
    }

    func testBinaryArgumentsAndLargeValuesRoundTrip() throws {
        let server = try RedisTestServer.start(self)
        let c = try connection(server.url)
        let blob = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let results = RedisResults<Result<RedisValue, RedisError>>()
        harness.sync {
            c.value.send([Array("SET".utf8), [0, 13, 10, 255], blob]) { results.add(0, $0) }
            c.value.send([Array("GET".utf8), [0, 13, 10, 255]]) { results.add(1, $0) }
        }
        let got = results.wait(for: 2)
        XCTAssertEqual(try? got[0].get(), .simpleString("OK"))
        XCTAssertEqual(try? got[1].get(), .bulkString(blob))
    }

    func testAuthWithPasswordAndSelectDatabase() throws {
        let server = try RedisTestServer.start(self, arguments: ["--requirepass", "s3cret"])
        var url = server.url
        url.password = "s3cret"
        url.database = 3
        let c = try connection(url)
        XCTAssertEqual(try? send(c, [["SET", "k", "in-db-3"]])[0].get(), .simpleString("OK"))
        XCTAssertEqual(try server.command(["SELECT", "3"], password: "s3cret"), .simpleString("OK"))
        XCTAssertEqual(
            try server.command(["GET", "k"], password: "s3cret", database: 3), .bulkString(Array("in-db-3".utf8)))
        XCTAssertEqual(try server.command(["GET", "k"], password: "s3cret", database: 0), .null)
    }

    func testAuthWithACLUser() throws {
        let server = try RedisTestServer.start(
            self, arguments: ["--requirepass", "other", "--user", "gate", "on", ">pw1", "~*", "&*", "+@all"])
        var url = server.url
        url.username = "gate"
        url.password = "pw1"
        let c = try connection(url)
        XCTAssertEqual(try? send(c, [["ACL", "WHOAMI"]])[0].get(), .bulkString(Array("gate".utf8)))
    }

    func testWrongPasswordFailsAndIsReportedWithoutThePassword() throws {
        let server = try RedisTestServer.start(self, arguments: ["--requirepass", "right"])
        var url = server.url
        url.password = "wrong-password-text"
        let c = try connection(url)
        let events = RedisResults<RedisConnectionEvent>()
        harness.sync { c.value.onEvent = { events.append($0) } }
        let results = send(c, [["PING"]])
        guard case .failure(.connectionLost(let reason)) = results[0] else {
            return XCTFail("expected a lost connection, got \(results[0])")
        }
        XCTAssertTrue(reason.contains("Redis refused AUTH"), reason)
        XCTAssertTrue(reason.contains("WRONGPASS"), reason)
        XCTAssertFalse(reason.contains("wrong-password-text"))
        let first = events.wait(for: 1)[0]
        guard case .failed(let text, let retry) = first else { return XCTFail("\(first)") }
        XCTAssertTrue(text.contains("AUTH"))
        XCTAssertEqual(retry, 50)
        // While it waits to reconnect, commands fail at once.
        if case .failure(.unavailable(let why)) = send(c, [["PING"]])[0] {
            XCTAssertTrue(why.contains("AUTH"), why)
        } else {
            XCTFail("expected unavailable")
        }
    }

    func testSelectOfAMissingDatabaseFails() throws {
        let server = try RedisTestServer.start(self, arguments: ["--databases", "4"])
        var url = server.url
        url.database = 9
        let c = try connection(url)
        guard case .failure(.connectionLost(let reason)) = send(c, [["PING"]])[0] else {
            return XCTFail("SELECT 9 must fail")
        }
        XCTAssertTrue(reason.contains("Redis refused SELECT"), reason)
    }

    func testRedisDownFailsFastAndNeverHangs() throws {
        let port = RedisTestServer.freePort()
        let c = try connection(RedisURL(host: "127.0.0.1", port: port)) { $0.reconnectInitialDelayMilliseconds = 5_000 }
        let started = monotonicMilliseconds()
        let first = send(c, [["PING"]], timeout: 2_000)[0]
        guard case .failure(let error) = first else { return XCTFail("\(first)") }
        switch error {
        case .connectionLost(let reason), .unavailable(let reason):
            XCTAssertTrue(reason.contains("connect"), reason)
        default: XCTFail("\(error)")
        }
        XCTAssertLessThan(monotonicMilliseconds() - started, 500, "a refused connect fails at once")
        XCTAssertEqual(harness.sync { c.value.status }, .waitingToReconnect)
        // During the back-off: no network, an immediate answer, never from inside `send`.
        let returned = Atomic<Bool>(false)
        let results = RedisResults<Result<RedisValue, RedisError>>()
        let t0 = monotonicMilliseconds()
        harness.sync {
            for i in 0..<100 {
                c.value.send(["PING"]) { r in
                    XCTAssertTrue(returned.load(ordering: .relaxed), "completion ran inside send")
                    results.add(i, r)
                }
            }
            returned.store(true, ordering: .relaxed)
        }
        let all = results.wait(for: 100)
        XCTAssertLessThan(monotonicMilliseconds() - t0, 200)
        for r in all {
            guard case .failure(.unavailable) = r else { return XCTFail("\(r)") }
        }
    }

    func testRecoversAfterRedisRestarts() throws {
        let server = try RedisTestServer.start(self)
        let c = try connection(server.url)
        let events = RedisResults<RedisConnectionEvent>()
        harness.sync { c.value.onEvent = { events.append($0) } }
        XCTAssertEqual(try? send(c, [["SET", "a", "1"]])[0].get(), .simpleString("OK"))
        server.stop()
        // The broken connection is noticed, then attempts fail: every command fails, quickly.
        let deadline = monotonicMilliseconds() + 3_000
        var sawFailure = false
        while monotonicMilliseconds() < deadline {
            let t0 = monotonicMilliseconds()
            let r = send(c, [["PING"]], timeout: 1_000)[0]
            XCTAssertLessThan(monotonicMilliseconds() - t0, 300, "a command while Redis is down does not wait")
            if case .failure = r {
                sawFailure = true
                break
            }
            usleep(20_000)
        }
        XCTAssertTrue(sawFailure)
        try server.restart()
        let recovered = RedisTestServer.poll(seconds: 5) {
            if case .success(.simpleString("PONG")) = self.send(c, [["PING"]])[0] { return true }
            return false
        }
        XCTAssertTrue(recovered, "reconnected after the restart")
        XCTAssertTrue(events.snapshot().contains(.connected))
        XCTAssertTrue(events.snapshot().contains { if case .failed = $0 { return true } else { return false } })
    }

    func testBackOffDoublesUpToTheMaximum() throws {
        let port = RedisTestServer.freePort()
        let c = try connection(RedisURL(host: "127.0.0.1", port: port)) {
            $0.reconnectInitialDelayMilliseconds = 20
            $0.reconnectMaximumDelayMilliseconds = 80
        }
        let events = RedisResults<RedisConnectionEvent>()
        harness.sync {
            c.value.onEvent = { events.append($0) }
            c.value.connect()
        }
        let delays = events.wait(for: 5).map { event -> Int64 in
            if case .failed(_, let retry) = event { return retry }
            return -1
        }
        XCTAssertEqual(delays, [20, 40, 80, 80, 80])
    }

    // MARK: Against fake servers

    func testTimeoutWhenRedisDoesNotAnswer() throws {
        let silent = RedisFakeServer.start(self, reply: nil)
        let c = try connection(RedisURL(host: "127.0.0.1", port: silent.port)) {
            $0.unansweredLimitMilliseconds = 400
        }
        let t0 = monotonicMilliseconds()
        let r = send(c, [["PING"]], timeout: 100)[0]
        let elapsed = monotonicMilliseconds() - t0
        XCTAssertEqual(r.redisFailure, .timedOut(milliseconds: 100))
        XCTAssertGreaterThanOrEqual(elapsed, 90)
        XCTAssertLessThan(elapsed, 400)
        XCTAssertEqual(harness.sync { c.value.pendingCount }, 1, "the timed-out command keeps its place")
        // Once the oldest command has waited past the limit, the connection is given up and remade.
        usleep(400_000)
        let late = send(c, [["PING"]], timeout: 50)[0]
        XCTAssertEqual(late.redisFailure, .timedOut(milliseconds: 50))
        XCTAssertTrue(
            RedisTestServer.poll(seconds: 2) { silent.acceptedCount >= 2 }, "a fresh connection after the limit")
    }

    func testProtocolViolationClosesTheConnection() throws {
        let liar = RedisFakeServer.start(self, reply: Array("?garbage\r\n".utf8))
        let c = try connection(RedisURL(host: "127.0.0.1", port: liar.port))
        let r = send(c, [["PING"]], timeout: 1000)[0]
        guard case .failure(.connectionLost(let reason)) = r else { return XCTFail("\(r)") }
        XCTAssertTrue(reason.contains("Redis protocol error"), reason)
        XCTAssertTrue(reason.contains("unknown reply type"), reason)
    }

    func testAnUnaskedReplyClosesTheConnection() throws {
        let chatty = RedisFakeServer.start(self, reply: Array("+OK\r\n+OK\r\n".utf8))
        let c = try connection(RedisURL(host: "127.0.0.1", port: chatty.port))
        let events = RedisResults<RedisConnectionEvent>()
        harness.sync { c.value.onEvent = { events.append($0) } }
        XCTAssertEqual(try? send(c, [["PING"]])[0].get(), .simpleString("OK"))
        let failed = RedisTestServer.poll(seconds: 2) {
            events.snapshot().contains {
                if case .failed(let r, _) = $0 { return r.contains("a reply to no command") } else { return false }
            }
        }
        XCTAssertTrue(failed, "\(events.snapshot())")
    }

    func testRedisClosingTheConnectionFailsPendingCommands() throws {
        let closer = RedisFakeServer.start(self, reply: nil, closesAfterRead: true)
        let c = try connection(RedisURL(host: "127.0.0.1", port: closer.port))
        let r = send(c, [["PING"]], timeout: 2000)[0]
        guard case .failure(.connectionLost(let reason)) = r else { return XCTFail("\(r)") }
        XCTAssertTrue(reason.contains("closed") || reason.contains("reset"), reason)
    }

    func testTooManyPendingCommandsAreRefused() throws {
        let silent = RedisFakeServer.start(self, reply: nil)
        let c = try connection(RedisURL(host: "127.0.0.1", port: silent.port)) { $0.maxPendingCommands = 3 }
        let results = RedisResults<Result<RedisValue, RedisError>>()
        harness.sync {
            for i in 0..<4 { c.value.send(["PING"], timeoutMilliseconds: 300) { results.add(i, $0) } }
        }
        let all = results.wait(for: 4)
        XCTAssertEqual(all[3].redisFailure, .overloaded(3))
        for i in 0..<3 { XCTAssertEqual(all[i].redisFailure, .timedOut(milliseconds: 300)) }
    }

    func testCloseFailsPendingCommandsAndLaterOnes() throws {
        let silent = RedisFakeServer.start(self, reply: nil)
        let c = try connection(RedisURL(host: "127.0.0.1", port: silent.port))
        let results = RedisResults<Result<RedisValue, RedisError>>()
        harness.sync {
            c.value.send(["PING"], timeoutMilliseconds: 5000) { results.add(0, $0) }
            c.value.close()
            c.value.send(["PING"]) { results.add(1, $0) }
        }
        let all = results.wait(for: 2)
        XCTAssertEqual(all[0].redisFailure, .closed)
        XCTAssertEqual(all[1].redisFailure, .closed)
        XCTAssertEqual(harness.sync { c.value.status }, .closed)
    }

    func testConnectTimeoutWhenTheHandshakeNeverFinishes() throws {
        // The fake accepts TCP but never answers AUTH.
        let silent = RedisFakeServer.start(self, reply: nil)
        var url = RedisURL(host: "127.0.0.1", port: silent.port)
        url.password = "x"
        let c = try connection(url) { $0.connectTimeoutMilliseconds = 150 }
        let events = RedisResults<RedisConnectionEvent>()
        harness.sync {
            c.value.onEvent = { events.append($0) }
            c.value.connect()
        }
        let first = events.wait(for: 1, seconds: 2)[0]
        guard case .failed(let reason, _) = first else { return XCTFail("\(first)") }
        XCTAssertTrue(reason.contains("no connection within 150 ms"), reason)
    }

    // MARK: TLS

    func testTLSConnectionVerifiesTheServer() throws {
        let directory = NSTemporaryDirectory() + "gatehouse-redis-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let files = try SelfSignedCertificate.write(to: directory, commonName: "localhost")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let server = try RedisTestServer.start(self, tls: (files.certificatePath, files.keyPath))
        var url = server.url
        url.usesTLS = true
        let trusting = try TLSContext(clientCAFile: files.certificatePath, verifyPeer: true)
        let c = try connection(url, tls: trusting)
        XCTAssertEqual(try? send(c, [["PING"]])[0].get(), .simpleString("PONG"))
        XCTAssertEqual(try? send(c, [["SET", "t", "v"], ["GET", "t"]])[1].get(), .bulkString(Array("v".utf8)))

        // A client that does not trust the certificate refuses the server.
        let otherDirectory = directory + "-other"
        let other = try SelfSignedCertificate.write(to: otherDirectory, commonName: "localhost")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: otherDirectory) }
        let distrusting = try TLSContext(clientCAFile: other.certificatePath, verifyPeer: true)
        let d = try connection(url, tls: distrusting)
        guard case .failure(.connectionLost(let reason)) = send(d, [["PING"]])[0] else {
            return XCTFail("an untrusted certificate must fail")
        }
        XCTAssertTrue(reason.contains("certificate"), reason)

        // rediss:// without any TLS context cannot connect.
        let e = try connection(url, tls: nil)
        guard case .failure(let error) = send(e, [["PING"]])[0] else { return XCTFail("no TLS context") }
        XCTAssertTrue("\(error)".contains("without a TLS context"), "\(error)")
    }

    func testConvenienceInitResolvesAndRefusesUnknownHosts() {
        XCTAssertThrowsError(
            try RedisConnection(loop: harness.loop, url: RedisURL(host: "no-such-host.invalid", port: 6379))
        ) { error in
            XCTAssertTrue("\(error)".contains("cannot resolve the Redis host no-such-host.invalid"), "\(error)")
        }
        XCTAssertNoThrow(try RedisConnection(loop: harness.loop, url: RedisURL(host: "127.0.0.1", port: 6379)))
    }
}

// MARK: - Support shared by the Redis tests

extension Result {
    /// The error of a failure, nil for a success.
    var redisFailure: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}

/// A loop-confined object handed between the test thread and its loop (the test only touches it on
/// the loop, through `RedisLoopHarness.sync`).
struct RedisLoopConfined<Value>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}

/// An event loop on its own thread, and a way to run code on it and wait.
final class RedisLoopHarness: @unchecked Sendable {
    let loop: EventLoop

    init(index: Int = 0) throws {
        loop = try EventLoop(index: index)
        loop.start()
    }

    /// Runs `body` on the loop thread and returns its result.
    @discardableResult
    func sync<T>(_ body: @escaping () -> T) -> T {
        let semaphore = DispatchSemaphore(value: 0)
        let slot = RedisLoopConfined(RedisBox<T>())
        let work = RedisLoopConfined(body)
        loop.execute {
            slot.value.value = work.value()
            semaphore.signal()
        }
        precondition(semaphore.wait(timeout: .now() + 10) == .success, "the loop did not run the task")
        return slot.value.value!
    }

    func stop() {
        loop.stop()
        loop.join()
    }
}

/// A mutable slot.
final class RedisBox<T> {
    var value: T?
}

/// Completions collected from the loop thread; the test thread waits for them (bounded).
final class RedisResults<T: Sendable>: Sendable {
    private let items = Mutex<[Int: T]>([:])
    private let order = Mutex<[T]>([])

    func add(_ index: Int, _ value: T) {
        items.withLock { dict in
            XCTAssertNil(dict[index], "completion \(index) called twice")
            dict[index] = value
        }
    }

    func append(_ value: T) {
        order.withLock { $0.append(value) }
    }

    func snapshot() -> [T] { order.withLock { $0 } }

    /// The `count` indexed results in index order (or the appended ones), after at most `seconds`.
    func wait(for count: Int, seconds: Double = 5, file: StaticString = #filePath, line: UInt = #line) -> [T] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let n = max(items.withLock { $0.count }, order.withLock { $0.count })
            if n >= count { break }
            usleep(2_000)
        }
        let indexed = items.withLock { $0 }
        if !indexed.isEmpty {
            XCTAssertEqual(indexed.count, count, "completions", file: file, line: line)
            return indexed.keys.sorted().map { indexed[$0]! }
        }
        let appended = snapshot()
        XCTAssertGreaterThanOrEqual(appended.count, count, "events", file: file, line: line)
        return appended
    }
}

/// A `redis-server` of its own on a free loopback port (never the system service): no persistence,
/// killed by pid when the test ends.
final class RedisTestServer: @unchecked Sendable {
    let port: UInt16
    private let arguments: [String]
    private var process: Process?
    private let directory: String
    let usesTLS: Bool

    static var binary: String? {
        for path in ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]
        where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        return nil
    }

    /// Starts one for `test`; skips the test when redis-server is not installed (unless
    /// GATEHOUSE_REQUIRE_REDIS=1, which CI sets: there a missing Redis is a failure).
    static func start(
        _ test: XCTestCase, arguments: [String] = [], tls: (certificate: String, key: String)? = nil
    ) throws -> RedisTestServer {
        guard binary != nil else {
            if ProcessInfo.processInfo.environment["GATEHOUSE_REQUIRE_REDIS"] == "1" {
                XCTFail("redis-server is not installed (apt-get install redis-server)")
            }
            throw XCTSkip("redis-server is not installed (apt-get install redis-server)")
        }
        let server = RedisTestServer(arguments: arguments, tls: tls)
        try server.launch()
        test.addTeardownBlock { server.stop() }
        return server
    }

    private init(arguments: [String], tls: (certificate: String, key: String)?) {
        port = Self.freePort()
        directory = NSTemporaryDirectory() + "gatehouse-redis-\(getpid())-\(port)"
        var args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory]
        if let tls {
            usesTLS = true
            args += [
                "--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.certificate, "--tls-key-file",
                tls.key, "--tls-ca-cert-file", tls.certificate, "--tls-auth-clients", "no",
            ]
        } else {
            usesTLS = false
            args += ["--port", String(port)]
        }
        self.arguments = args + arguments
    }

    var url: RedisURL { RedisURL(host: "127.0.0.1", port: port) }

    private func launch() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary!)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        guard Self.poll(seconds: 10, { Self.accepts(self.port) || !p.isRunning }), p.isRunning else {
            stop()
            throw RedisSetupError("redis-server did not start on port \(port)")
        }
    }

    /// Stops it (SIGTERM, then SIGKILL), by its pid.
    func stop() {
        guard let p = process else { return }
        process = nil
        if p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            if !Self.poll(seconds: 5, { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        // The port is free again once nothing listens.
        _ = Self.poll(seconds: 2) { !Self.accepts(self.port) }
    }

    /// Starts it again on the same port (a Redis restart: an empty script cache, no data).
    func restart() throws {
        stop()
        try launch()
    }

    /// A blocking one-shot command on a fresh connection (for checking what the client did).
    func command(_ args: [String], password: String? = nil, database: Int = 0) throws -> RedisValue {
        var all: [[String]] = []
        if let password { all.append(["AUTH", password]) }
        if database != 0 { all.append(["SELECT", String(database)]) }
        all.append(args)
        return try Self.blockingCommands(port: port, all).last!
    }

    static func blockingCommands(port: UInt16, _ commands: [[String]]) throws -> [RedisValue] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisSetupError("socket") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw RedisSetupError("connect to \(port)") }
        let request = commands.flatMap { RedisCommand.encode($0) }
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else {
            throw RedisSetupError("send")
        }
        var parser = RedisReplyParser()
        var buffer = ByteBuffer()
        var replies: [RedisValue] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while replies.count < commands.count {
            if let reply = try parser.next(&buffer) {
                replies.append(reply)
                continue
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw RedisSetupError("recv: \(n)") }
            buffer.writeBytes(chunk[0..<n])
        }
        return replies
    }

    static func accepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
    }

    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Polls `condition` every 10 ms for at most `seconds`.
    static func poll(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }
}

/// A fake Redis on a free loopback port, on a thread of its own: it reads what arrives and answers each
/// read with `reply` (nil: stays silent), or closes after the first read.
final class RedisFakeServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let reply: [UInt8]?
    private let closesAfterRead: Bool
    private let accepted = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private var thread: Thread?

    var acceptedCount: Int { accepted.load(ordering: .relaxed) }

    /// Starts one for `test`, stopped when the test ends.
    static func start(_ test: XCTestCase, reply: [UInt8]?, closesAfterRead: Bool = false) -> RedisFakeServer {
        let server = RedisFakeServer(reply: reply, closesAfterRead: closesAfterRead)
        test.addTeardownBlock { server.stop() }
        return server
    }

    private init(reply: [UInt8]?, closesAfterRead: Bool) {
        self.reply = reply
        self.closesAfterRead = closesAfterRead
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(fd, 16)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let t = Thread { [self] in run() }
        thread = t
        t.start()
    }

    /// Ends the thread, which closes every socket.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        _ = RedisTestServer.poll(seconds: 2) { self.finished.load(ordering: .relaxed) }
    }

    private func run() {
        var clients: [Int32] = []
        defer {
            for c in clients { close(c) }
            close(listener)
            finished.store(true, ordering: .relaxed)
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !stopped.load(ordering: .relaxed) {
            var fds =
                [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
                + clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 50) >= 0 else { return }
            if fds[0].revents != 0 {
                let c = accept(listener, nil, nil)
                if c < 0 { return }
                accepted.wrappingAdd(1, ordering: .relaxed)
                clients.append(c)
            }
            for entry in fds.dropFirst() where entry.revents != 0 {
                let n = recv(entry.fd, &buffer, buffer.count, 0)
                if n <= 0 || closesAfterRead {
                    close(entry.fd)
                    clients.removeAll { $0 == entry.fd }
                    continue
                }
                if let reply { _ = send(entry.fd, reply, reply.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }
}
