import GatehouseHTTP
import GatehousePolicy
import GatehousePosix
import Synchronization

/// Where log lines go: one writer per distinct destination, so that two logs sent to stdout share a
/// writer and never interleave inside a line.
public final class GatewayLogs: Sendable {
    public let security: LogWriter?
    public let access: LogWriter?

    public init(security: LogWriter?, access: LogWriter?) {
        self.security = security
        self.access = access
    }

    public func write(_ event: SecurityEvent) {
        guard let w = security else { return }
        w.write(LogFormat.line(event, timestampMillis: wallClockMilliseconds()))
    }

    public func write(_ record: AccessRecord) {
        guard let w = access else { return }
        w.write(LogFormat.line(record, timestampMillis: wallClockMilliseconds()))
    }
}

/// The open-connection count that admission (max_connections) checks, shared by every loop (an atomic, no lock);
/// everything reported lives in `Metrics`.
public final class GatewayCounters: Sendable {
    public let activeConnections = Atomic<Int>(0)

    public init() {}
}

/// What one event loop's connections share: the loop, its configuration snapshot, its upstream pool.
/// Only the loop's thread touches it, so nothing here is locked.
final class LoopContext {
    let loop: EventLoop
    /// The loop that runs process-wide chores (JWKS fetches, the admin listener).
    unowned let homeLoop: EventLoop
    var state: GatewayState
    let pool: UpstreamPool
    let logs: GatewayLogs
    let counters: GatewayCounters
    let metrics: Metrics
    /// Open client connections, for draining.
    var connections: [ObjectIdentifier: ClientConnection] = [:]
    var isDraining = false
    /// Each loop's count of open upstream connections, read by /metrics from another thread.
    let upstreamPoolSizes: UpstreamPoolSizes
    /// The Redis rate limiter of this loop, for the configuration `state` (nil with the local backend).
    func redisLimiter(for state: GatewayState) -> RedisRateLimiting? {
        guard let factory = state.redisLimiterFactory else { return nil }
        if let existing = redis, redisOwner === state { return existing }
        redis = factory(loop)
        redisOwner = state
        return redis
    }

    private var redis: RedisRateLimiting?
    private weak var redisOwner: GatewayState?

    /// The loop's MCP client (the REST door), made on first use; it shares the loop's upstream pool.
    lazy var mcpClient = MCPClient(loop: loop, pool: pool, state: state, endpointPath: MCPClient.endpointPath(for: state))

    /// Called when draining and the last connection closed.
    var onDrained: (() -> Void)?

    init(
        loop: EventLoop, homeLoop: EventLoop, state: GatewayState, logs: GatewayLogs, counters: GatewayCounters,
        metrics: Metrics, poolSizes: UpstreamPoolSizes
    ) {
        self.metrics = metrics
        self.loop = loop
        self.homeLoop = homeLoop
        self.upstreamPoolSizes = poolSizes
        self.state = state
        self.pool = UpstreamPool(loop: loop)
        let index = loop.index
        pool.onCountChange = { poolSizes.set(index, $0) }
        self.logs = logs
        self.counters = counters
    }

    func connectionOpened(_ c: ClientConnection) {
        connections[ObjectIdentifier(c)] = c
        metrics.connectionOpened(loop: loop.index)
    }

    func connectionClosed(_ c: ClientConnection) {
        connections[ObjectIdentifier(c)] = nil
        metrics.connectionClosed(loop: loop.index)
        if isDraining && connections.isEmpty { onDrained?() }
    }

    /// Stop taking requests: idle connections close now, busy ones after their current exchange.
    func beginDrain() {
        isDraining = true
        for c in Array(connections.values) { c.drain() }
        pool.closeAll()
        if connections.isEmpty { onDrained?() }
    }
}

/// Open upstream connections per loop, published for /metrics (each loop writes only its own slot).
public final class UpstreamPoolSizes: Sendable {
    /// One atomic per loop (Atomic is not copyable, so each sits in its own box).
    final class Slot: Sendable {
        let value = Atomic<Int>(0)
    }

    private let slots: [Slot]

    init(count: Int) {
        slots = (0..<count).map { _ in Slot() }
    }

    func set(_ index: Int, _ value: Int) {
        slots[index].value.store(value, ordering: .relaxed)
    }

    public var total: Int { slots.reduce(0) { $0 + $1.value.load(ordering: .relaxed) } }
}
