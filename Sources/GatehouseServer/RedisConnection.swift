import GatehouseConfig
import GatehouseHTTP
import GatehousePosix
import Glibc

/// Why a Redis command got no reply. A reply that is a Redis error (`-NOSCRIPT …`) is not one of these:
/// it arrives as `RedisValue.error`.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not connected, waiting before the next attempt: failed at once without touching the network.
    case unavailable(String)
    /// No reply within the command's timeout.
    case timedOut(milliseconds: Int64)
    /// The connection failed after the command was accepted.
    case connectionLost(String)
    /// Too many commands await replies already.
    case overloaded(Int)
    /// The owner closed the connection.
    case closed

    public var description: String {
        switch self {
        case .unavailable(let reason): return "Redis unavailable (\(reason))"
        case .timedOut(let ms): return "no reply from Redis within \(ms) ms"
        case .connectionLost(let reason): return "Redis connection lost (\(reason))"
        case .overloaded(let count): return "\(count) Redis commands already await replies"
        case .closed: return "Redis connection closed"
        }
    }
}

/// A change of a Redis connection's health, for the owner's log (once per change, not per command).
public enum RedisConnectionEvent: Sendable, Equatable {
    /// Connected, authenticated and on the right database.
    case connected
    /// A connection or an attempt failed; the next attempt comes after `retryInMilliseconds`.
    case failed(reason: String, retryInMilliseconds: Int64)
}

/// A Redis client (RESP2) confined to one event loop: one instance per loop, touched only on its
/// thread, never blocking.
///
/// Commands are pipelined: each is written at once and replies are matched to commands in order. The
/// connection is opened by the first command (or `connect()`), then authenticates (`AUTH`) and selects
/// the database (`SELECT`) when the URL says so; commands sent meanwhile wait for that. Each command
/// has its own timeout; a command that timed out still owns its place in the reply order, and a
/// connection whose oldest command has waited `unansweredLimitMilliseconds` is treated as dead.
///
/// After a failure the connection waits (doubling from `reconnectInitialDelayMilliseconds` up to
/// `reconnectMaximumDelayMilliseconds`) and reconnects by itself; commands sent while it waits fail at
/// once with `.unavailable`. Losing a healthy connection reconnects at once (a Redis restart costs no
/// wait); only a failed attempt waits.
///
/// Completions run on the loop thread, exactly once each, and never from inside `send`: a command that
/// fails without reaching the network completes in the loop's next round of tasks.
public final class RedisConnection {
    /// Timeouts and bounds.
    public struct Options: Sendable {
        /// TCP connect, TLS handshake, AUTH and SELECT together.
        public var connectTimeoutMilliseconds: Int64 = 1000
        /// For commands sent without a timeout of their own.
        public var commandTimeoutMilliseconds: Int64 = 1000
        public var reconnectInitialDelayMilliseconds: Int64 = 100
        public var reconnectMaximumDelayMilliseconds: Int64 = 2000
        /// Commands awaiting replies (timed-out ones included) before new ones are refused.
        public var maxPendingCommands = 10_000
        /// An unanswered command this old means the server or the path to it is gone.
        public var unansweredLimitMilliseconds: Int64 = 3000
        public var parserLimits = RedisReplyParser.Limits()

        public init() {}
    }

    /// Where the connection is in its life.
    public enum Status: Sendable, Equatable {
        /// Never connected yet: the first command connects.
        case idle
        /// Connecting, in the TLS handshake, or waiting for AUTH/SELECT.
        case connecting
        case ready
        /// Waiting before the next attempt; commands fail at once.
        case waitingToReconnect
        case closed
    }

    public typealias Completion = (Result<RedisValue, RedisError>) -> Void

    /// A connection up this long counts as healthy even before its first reply.
    static let healthyAfterMilliseconds: Int64 = 1000

    public unowned let loop: EventLoop
    public let url: RedisURL
    public let address: SocketAddress
    public let options: Options
    private let tlsContext: TLSContext?
    /// Told of every change of health.
    public var onEvent: ((RedisConnectionEvent) -> Void)?

    public private(set) var status = Status.idle
    private var transport: RedisTransport?
    private var parser: RedisReplyParser
    /// AUTH / SELECT sent on the current transport whose replies are still due, in order.
    private var handshakeSteps: [String] = []
    private var handshakeStepIndex = 0
    /// Commands sent (or accepted while connecting), oldest first; `queueHead` is the oldest's index.
    private var queue: [RedisPendingCommand] = []
    private var queueHead = 0
    /// Encoded commands accepted before the connection was ready.
    private var outbox = ByteBuffer(capacity: 0)
    /// When the connection last became ready: commands older than that waited for the connect, not for
    /// a reply.
    private var readySince: Int64 = 0
    /// Failures since the last reply.
    private var consecutiveFailures = 0
    private var lastFailure = "not connected yet"
    private var connectTimer: LoopTimer!
    private var reconnectTimer: LoopTimer!
    private var recycled: [RedisPendingCommand] = []
    private var deferred: [(Completion, Result<RedisValue, RedisError>)] = []

    /// A connection to `address` (resolved by the caller, e.g. at configuration load: resolving a name
    /// may block). `rediss://` needs `tlsContext`, whose trust decides whether Redis's certificate is
    /// accepted; its name is checked against `url.host`.
    public init(
        loop: EventLoop, url: RedisURL, address: SocketAddress, tlsContext: TLSContext? = nil,
        options: Options = Options()
    ) {
        self.loop = loop
        self.url = url
        self.address = address
        self.tlsContext = tlsContext
        self.options = options
        parser = RedisReplyParser(limits: options.parserLimits)
        weak var weakSelf: RedisConnection?
        connectTimer = LoopTimer { weakSelf?.connectTimedOut() }
        reconnectTimer = LoopTimer { weakSelf?.reconnectDue() }
        weakSelf = self
    }

    /// Resolves `url.host` now (this may block on DNS: call it at configuration load, not on a loop)
    /// and, for `rediss://` without a context, trusts the system store.
    public convenience init(loop: EventLoop, url: RedisURL, tlsContext: TLSContext? = nil, options: Options = Options())
        throws(RedisSetupError)
    {
        let address: SocketAddress
        do {
            address = try SocketAddress.resolve(host: url.host, port: url.port)
        } catch {
            throw RedisSetupError("cannot resolve the Redis host \(url.host): \(error)")
        }
        var context = tlsContext
        if url.usesTLS && context == nil {
            do {
                context = try TLSContext(clientCAFile: nil, verifyPeer: true)
            } catch {
                throw RedisSetupError("cannot set up TLS for Redis: \(error.message)")
            }
        }
        self.init(loop: loop, url: url, address: address, tlsContext: context, options: options)
    }

    deinit {
        transport?.close()
    }

    /// Commands awaiting replies, timed-out ones included (they still hold their place in the order).
    public var pendingCount: Int { queue.count - queueHead }

    // MARK: Commands

    /// Sends one command. `completion` gets the reply (an error reply is a value) or why there is none.
    public func send(_ arguments: [[UInt8]], timeoutMilliseconds: Int64? = nil, completion: @escaping Completion) {
        switch status {
        case .closed:
            return completeLater(completion, .failure(.closed))
        case .waitingToReconnect:
            return completeLater(completion, .failure(.unavailable(lastFailure)))
        case .idle:
            connect()
            // A connect that failed at once leaves the connection waiting.
            guard status == .connecting else {
                return completeLater(completion, .failure(.unavailable(lastFailure)))
            }
        case .connecting, .ready:
            break
        }
        guard pendingCount < options.maxPendingCommands else {
            return completeLater(completion, .failure(.overloaded(pendingCount)))
        }
        let command = makePendingCommand(completion)
        let timeout = max(1, timeoutMilliseconds ?? options.commandTimeoutMilliseconds)
        command.timeoutMilliseconds = timeout
        queue.append(command)
        loop.arm(command.timer, after: timeout)
        if status == .ready, let transport {
            RedisCommand.write(arguments, into: &transport.output)
            transport.flush()
        } else {
            RedisCommand.write(arguments, into: &outbox)
        }
    }

    /// A command whose arguments are text.
    public func send(_ arguments: [String], timeoutMilliseconds: Int64? = nil, completion: @escaping Completion) {
        send(arguments.map { Array($0.utf8) }, timeoutMilliseconds: timeoutMilliseconds, completion: completion)
    }

    // MARK: Life cycle

    /// Opens the connection now instead of at the first command (no effect unless idle).
    public func connect() {
        guard status == .idle else { return }
        startAttempt()
    }

    /// Closes for good: pending commands fail with `.closed`, nothing reconnects.
    public func close() {
        guard status != .closed else { return }
        status = .closed
        loop.cancel(connectTimer)
        loop.cancel(reconnectTimer)
        dropTransport()
        failPending(.closed)
    }

    private func startAttempt() {
        status = .connecting
        parser.reset()
        handshakeSteps.removeAll()
        handshakeStepIndex = 0
        if url.usesTLS && tlsContext == nil {
            return attemptFailed("rediss:// without a TLS context")
        }
        do {
            let t = try RedisTransport(
                loop: loop, address: address, tlsContext: url.usesTLS ? tlsContext : nil, serverName: url.host)
            t.delegate = self
            transport = t
            loop.arm(connectTimer, after: options.connectTimeoutMilliseconds)
        } catch {
            attemptFailed(error.description)
        }
    }

    private func connectTimedOut() {
        guard status == .connecting else { return }
        attemptFailed("no connection within \(options.connectTimeoutMilliseconds) ms")
    }

    private func reconnectDue() {
        guard status == .waitingToReconnect else { return }
        startAttempt()
    }

    /// The transport failed (or was given up on): pending commands fail, and the next attempt is
    /// scheduled — at once after losing a connection that was answering, else after a growing delay.
    private func attemptFailed(_ reason: String) {
        guard status != .closed else { return }
        // A connection that answered, or stayed up a while, was healthy: reconnect at once. One that
        // fails right after connecting (maxclients, a proxy in front of a dead Redis) backs off.
        let wasAnswering =
            status == .ready
            && (consecutiveFailures == 0 || monotonicMilliseconds() - readySince >= Self.healthyAfterMilliseconds)
        loop.cancel(connectTimer)
        dropTransport()
        lastFailure = reason
        consecutiveFailures += 1
        failPending(.connectionLost(reason))
        if wasAnswering {
            consecutiveFailures = 1
            onEvent?(.failed(reason: reason, retryInMilliseconds: 0))
            guard status != .closed else { return }
            startAttempt()
            return
        }
        let shift = min(consecutiveFailures - 1, 20)
        let delay = min(options.reconnectMaximumDelayMilliseconds, options.reconnectInitialDelayMilliseconds << shift)
        status = .waitingToReconnect
        loop.arm(reconnectTimer, after: delay)
        onEvent?(.failed(reason: reason, retryInMilliseconds: delay))
    }

    private func dropTransport() {
        transport?.delegate = nil
        transport?.close()
        transport = nil
        outbox.clear()
        parser.reset()
    }

    /// AUTH and SELECT answered (or not needed): queued commands go out.
    private func becomeReady() {
        guard let transport else { return }
        loop.cancel(connectTimer)
        status = .ready
        readySince = monotonicMilliseconds()
        if !outbox.isEmpty {
            transport.output.writeBytes(outbox.readableBytesView)
            outbox.clear()
        }
        transport.flush()
        onEvent?(.connected)
    }

    // MARK: Replies

    private func handleReplies(from t: RedisTransport) {
        while transport === t {
            let reply: RedisValue?
            do {
                reply = try parser.next(&t.input)
            } catch {
                return attemptFailed(error.description)
            }
            guard let reply else { return }
            if handshakeStepIndex < handshakeSteps.count {
                let step = handshakeSteps[handshakeStepIndex]
                handshakeStepIndex += 1
                if case .error(let message) = reply {
                    return attemptFailed("Redis refused \(step): \(message)")
                }
                if handshakeStepIndex == handshakeSteps.count { becomeReady() }
                continue
            }
            guard status == .ready, let command = popOldest() else {
                return attemptFailed("a reply to no command")
            }
            consecutiveFailures = 0
            loop.cancel(command.timer)
            let completion = command.completion
            recycle(command)
            completion?(.success(reply))
        }
    }

    private func commandTimedOut(_ command: RedisPendingCommand) {
        guard let completion = command.completion else { return }
        command.completion = nil
        completion(.failure(.timedOut(milliseconds: command.timeoutMilliseconds)))
        // The command keeps its place: its reply, if it comes, is dropped.
        guard status == .ready, let oldest = queue.indices.contains(queueHead) ? queue[queueHead] : nil else { return }
        let waited = monotonicMilliseconds() - max(oldest.enqueuedAt, readySince)
        if waited >= options.unansweredLimitMilliseconds {
            attemptFailed("no reply for \(waited) ms")
        }
    }

    // MARK: Pending commands

    private func makePendingCommand(_ completion: @escaping Completion) -> RedisPendingCommand {
        let command: RedisPendingCommand
        if let reused = recycled.popLast() {
            command = reused
        } else {
            command = RedisPendingCommand()
            command.timer = LoopTimer { [weak self, weak command] in
                guard let command else { return }
                self?.commandTimedOut(command)
            }
        }
        command.completion = completion
        command.enqueuedAt = monotonicMilliseconds()
        return command
    }

    private func recycle(_ command: RedisPendingCommand) {
        command.completion = nil
        if recycled.count < 256 { recycled.append(command) }
    }

    private func popOldest() -> RedisPendingCommand? {
        guard queueHead < queue.count else { return nil }
        let command = queue[queueHead]
        queueHead += 1
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead >= 1024 && queueHead * 2 >= queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        return command
    }

    /// Every pending command fails with `error` (in the loop's next round of tasks).
    private func failPending(_ error: RedisError) {
        while let command = popOldest() {
            loop.cancel(command.timer)
            if let completion = command.completion { completeLater(completion, .failure(error)) }
            recycle(command)
        }
    }

    /// Runs `completion` after the current call returned, on the loop thread.
    private func completeLater(_ completion: @escaping Completion, _ result: Result<RedisValue, RedisError>) {
        deferred.append((completion, result))
        guard deferred.count == 1 else { return }
        // The loop runs the task on its own thread, where this connection lives: the box only carries
        // the reference across `execute`'s Sendable signature.
        let box = RedisLoopHandoff(self)
        loop.execute { box.value.runDeferred() }
    }

    private func runDeferred() {
        while !deferred.isEmpty {
            let batch = deferred
            deferred.removeAll()
            for (completion, result) in batch { completion(result) }
        }
    }
}

extension RedisConnection: RedisTransportDelegate {
    func transportConnected(_ transport: RedisTransport) {
        guard transport === self.transport else { return }
        if let password = url.password {
            var auth = [Array("AUTH".utf8)]
            if let username = url.username { auth.append(Array(username.utf8)) }
            auth.append(Array(password.utf8))
            RedisCommand.write(auth, into: &transport.output)
            handshakeSteps.append("AUTH")
        }
        if url.database != 0 {
            RedisCommand.write([Array("SELECT".utf8), Array(String(url.database).utf8)], into: &transport.output)
            handshakeSteps.append("SELECT")
        }
        if handshakeSteps.isEmpty {
            becomeReady()
        } else {
            transport.flush()
        }
    }

    func transportReadable(_ transport: RedisTransport) {
        handleReplies(from: transport)
    }

    func transportFailed(_ transport: RedisTransport, reason: String) {
        guard transport === self.transport else { return }
        attemptFailed(reason)
    }
}

/// A command awaiting its reply; reused (with its timer) once answered.
final class RedisPendingCommand {
    /// nil once completed (timed out): the reply, when it comes, is dropped.
    var completion: RedisConnection.Completion?
    var enqueuedAt: Int64 = 0
    var timeoutMilliseconds: Int64 = 0
    var timer: LoopTimer!
}

/// A loop-confined object carried through `EventLoop.execute` to its own loop's thread.
private struct RedisLoopHandoff<Value: AnyObject>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}

/// A Redis connection that cannot be set up from its configuration (unresolvable host, TLS trust).
public struct RedisSetupError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
