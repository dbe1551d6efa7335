import GatehouseConfig
import GatehouseHTTP
import GatehousePolicy
import GatehousePosix
import Glibc
import Synchronization

/// Carries a loop-confined value into a task that runs on that loop's thread.
struct LoopBound<T>: @unchecked Sendable {
    let value: T
}

/// A configuration the gateway cannot serve with (bad upstream address, unbindable listener, …).
public struct GatewayStartError: Error, CustomStringConvertible {
    public var message: String
    public var isConfiguration: Bool
    public var description: String { message }
}

/// The running gateway: its event loops, listeners, logs, and the current configuration snapshot.
public final class Gateway: @unchecked Sendable {
    public let loops: [EventLoop]
    private let contexts: [LoopContext]
    private var listeners: [Listener] = []
    public let logs: GatewayLogs
    public let counters = GatewayCounters()
    let connectionsPerAddress = ConnectionsPerAddress()
    public let metrics: Metrics
    let poolSizes: UpstreamPoolSizes
    public private(set) var state: GatewayState
    /// The address the gateway listens on (with the real port when port 0 was asked for).
    public private(set) var boundAddress: SocketAddress
    private let drainedLoops = Atomic<Int>(0)
    /// Where the admin listener really listens (port 0 resolved), when there is one.
    public internal(set) var adminAddress: SocketAddress?
    /// Objects that live as long as the gateway (the demo server's listener).
    private var extras: [AnyObject] = []

    public init(config: GatewayConfig) throws {
        let state = try Gateway.makeState(config)
        self.state = state
        logs = try Gateway.makeLogs(config.logging)
        let workers = config.server.workers > 0 ? config.server.workers : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var loops: [EventLoop] = []
        for i in 0..<workers { loops.append(try EventLoop(index: i)) }
        self.loops = loops
        metrics = Metrics(loopCount: workers)
        poolSizes = UpstreamPoolSizes(count: workers)
        var contexts: [LoopContext] = []
        for loop in loops {
            contexts.append(
                LoopContext(
                    loop: loop, homeLoop: loops[0], state: state, logs: logs, counters: counters, metrics: metrics,
                    poolSizes: poolSizes))
        }
        self.contexts = contexts
        let address: SocketAddress
        do {
            address = try SocketAddress.resolve(host: config.server.listen.host, port: config.server.listen.port)
        } catch {
            throw GatewayStartError(message: "server.listen: cannot resolve \(config.server.listen): \(error)", isConfiguration: true)
        }
        boundAddress = address
        try bindListeners(address)
    }

    /// One listener per loop on the same port (SO_REUSEPORT); port 0 picks a free port once, then every
    /// loop binds that port.
    private func bindListeners(_ requested: SocketAddress) throws {
        var address = requested
        for (i, ctx) in contexts.enumerated() {
            let fd: Int32
            do {
                fd = try Socket.listen(on: address, reusePort: true)
            } catch {
                throw GatewayStartError(message: "cannot listen on \(address): \(error)", isConfiguration: false)
            }
            if i == 0 {
                address = try Socket.localAddress(of: fd)
                boundAddress = address
            }
            let counters = self.counters
            let perAddress = connectionsPerAddress
            let listener = Listener(
                loop: ctx.loop, fd: fd,
                admit: { peer in
                    let n = counters.activeConnections.wrappingAdd(1, ordering: .relaxed).newValue
                    if n > ctx.state.maxConnections {
                        counters.activeConnections.subtract(1, ordering: .relaxed)
                        return false
                    }
                    if !perAddress.admit(peer.addressBytes, limit: ctx.state.maxConnectionsPerAddress) {
                        counters.activeConnections.subtract(1, ordering: .relaxed)
                        return false
                    }
                    return true
                },
                makeConnection: { fd, peer in
                    let c = ClientConnection(context: ctx, fd: fd, peer: peer)
                    if ctx.state.maxConnectionsPerAddress > 0 {
                        c.onClose = { perAddress.release(peer.addressBytes) }
                    }
                })
            listeners.append(listener)
        }
    }

    func retainExtra(_ object: AnyObject) {
        extras.append(object)
    }

    /// The Prometheus text of /metrics: the registry, with the gauges read now.
    func renderMetrics() -> [UInt8] {
        metrics.setUpstreamPoolSize(poolSizes.total)
        metrics.setLogLinesDropped((logs.security?.droppedLines ?? 0) + (logs.access === logs.security ? 0 : logs.access?.droppedLines ?? 0))
        metrics.setRateLimitTrackedKeys(state.rateLimiter?.trackedKeyCount ?? 0)
        metrics.setJWKSAge(seconds: state.jwt?.keysAgeSeconds.map { Int($0) })
        return metrics.renderPrometheus()
    }

    public func start() {
        for loop in loops { loop.start() }
        startJWKS(for: state)
    }

    private func startJWKS(for state: GatewayState) {
        guard let jwt = state.jwt else { return }
        let bound = LoopBound(value: (jwt, loops[0], logs))
        loops[0].execute {
            let (jwt, loop, logs) = bound.value
            jwt.start(on: loop, logs: logs)
        }
    }

    /// SIGHUP: serve with `config` from now on. Connections are kept; requests already running finish with the
    /// snapshot they started with. Throws (and changes nothing) when the configuration cannot be served.
    public func apply(_ config: GatewayConfig) throws {
        let next = try GatewayState(config: config, previous: state)
        state.jwt?.stop()
        state = next
        startJWKS(for: next)
        for ctx in contexts {
            let bound = LoopBound(value: ctx)
            ctx.loop.execute { bound.value.state = next }
        }
        logs.security?.reopen()
        if logs.access !== logs.security { logs.access?.reopen() }
    }

    /// SIGTERM: stop accepting, let in-flight exchanges finish, close idle connections; returns when every
    /// loop is empty or `deadlineMilliseconds` passed (false then).
    public func drain(deadlineMilliseconds: Int64) -> Bool {
        let count = contexts.count
        for (i, ctx) in contexts.enumerated() {
            let bound = LoopBound(value: (ctx, listeners[i], self))
            ctx.loop.execute {
                let (ctx, listener, gateway) = bound.value
                listener.close()
                ctx.onDrained = { [weak gateway] in
                    ctx.onDrained = nil
                    gateway?.drainedLoops.add(1, ordering: .releasing)
                }
                ctx.beginDrain()
            }
        }
        let end = monotonicMilliseconds() + deadlineMilliseconds
        while drainedLoops.load(ordering: .acquiring) < count {
            if monotonicMilliseconds() >= end { return false }
            usleep(10_000)
        }
        return true
    }

    /// Stops the loops and flushes the logs.
    public func stop() {
        for loop in loops { loop.stop() }
        for loop in loops { loop.join() }
        logs.security?.flush()
        logs.access?.flush()
    }

    // MARK: Building the runtime snapshot

    public static func makeState(_ config: GatewayConfig) throws -> GatewayState {
        try GatewayState(config: config)
    }

    static func makeLogs(_ logging: GatewayConfig.LoggingSettings) throws -> GatewayLogs {
        func destination(_ d: GatehouseConfig.LogDestination) -> GatehousePosix.LogDestination {
            switch d {
            case .stdout: return .stdout
            case .stderr: return .stderr
            case .off: return .off
            case .file(let path): return .file(path)
            }
        }
        let s = destination(logging.securityLog)
        let a = destination(logging.accessLog)
        let security = s == .off ? nil : try LogWriter(destination: s)
        let access = a == .off ? nil : (a == s ? security : try LogWriter(destination: a))
        return GatewayLogs(security: security, access: access)
    }
}
