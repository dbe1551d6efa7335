import Synchronization

/// How a `tools/call` ended, the `outcome` label of `gatehouse_tool_calls_total`.
public enum ToolCallOutcome: String, Sendable, CaseIterable {
    /// The upstream answered with a result.
    case ok
    /// The upstream answered with a JSON-RPC error.
    case error
    /// Refused by authorization (403) or tool pinning.
    case denied
    /// Refused by validation or sanitization (400).
    case invalid
    /// Refused by a rate limit (429).
    case rateLimited = "rate_limited"
    /// The call outlived its timeout.
    case timeout
    /// The upstream could not be reached or broke off (502).
    case upstreamError = "upstream_error"

    /// The position in `allCases`, kept in step with the declaration order by a test.
    var column: Int {
        switch self {
        case .ok: return 0
        case .error: return 1
        case .denied: return 2
        case .invalid: return 3
        case .rateLimited: return 4
        case .timeout: return 5
        case .upstreamError: return 6
        }
    }
}

/// The gateway's metrics (§11 and internals worth watching), recorded from every event loop without a
/// shared lock: counters and histogram buckets are atomics in fixed arrays allocated at start. Label
/// sets are bounded so that no client can grow them: `rpc_method` comes from a fixed list of known
/// methods (else `other`), `tool` and `reason` take the first N distinct values seen (then `other`).
/// Values that belong to no request (pool size, dropped log lines, table sizes, JWKS age) are set by
/// the server, typically just before rendering. `renderPrometheus()` is in `Metrics+Prometheus.swift`.
public final class Metrics: Sendable {
    /// Upper bounds of the duration histograms, in seconds: 1 ms to 5 min (the longest tool timeout).
    public static let durationBucketsSeconds: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
    ]

    /// The `rpc_method` label values: the MCP methods a client sends, `batch` for a JSON-RPC array, `none`
    /// for a request that carries no JSON-RPC message (GET, DELETE, other paths), `other` for the rest.
    public static let rpcMethodLabels: [String] = [
        "initialize", "server/discover", "ping", "tools/list", "tools/call", "resources/list",
        "resources/templates/list", "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list",
        "prompts/get", "completion/complete", "logging/setLevel", "tasks/get", "tasks/list", "tasks/result",
        "tasks/cancel", "notifications/initialized", "notifications/cancelled", "notifications/progress",
        "notifications/roots/list_changed", "batch", "none", "other",
    ]

    static let toolCallOutcomes = ToolCallOutcome.allCases

    /// The status codes with a row of their own; anything outside is counted under `code="other"`.
    static let statusRange = 100...599

    let loopCount: Int
    let rpcMethodIndex: [String: Int]
    let noneColumn: Int
    let otherColumn: Int
    let requests: AtomicCounters
    let requestDuration: FixedHistogram
    let upstreamDuration: FixedHistogram
    let authFailureReasons: BoundedLabels
    let authFailures: AtomicCounters
    let toolNames: BoundedLabels
    let toolCalls: AtomicCounters
    let rateLimited = Atomic<UInt64>(0)
    let upstreamRetries = Atomic<UInt64>(0)
    let tlsHandshakes = Atomic<UInt64>(0)
    let tlsHandshakeFailures = Atomic<UInt64>(0)
    /// Open client connections per event loop (gauges, may briefly read negative between loops).
    let loopConnections: AtomicCounters
    let upstreamPoolSize = Atomic<Int64>(0)
    let logLinesDropped = Atomic<UInt64>(0)
    let rateLimitTrackedKeys = Atomic<Int64>(0)
    /// Seconds since the JWK Set was last fetched, `Int64.min` when there is none.
    let jwksAgeSeconds = Atomic<Int64>(Int64.min)

    /// `loopCount` event loops; at most `maxToolLabels` distinct tool names and `maxReasonLabels`
    /// distinct auth failure reasons get a label of their own.
    public init(loopCount: Int = 1, maxToolLabels: Int = 100, maxReasonLabels: Int = 32) {
        precondition(loopCount >= 1 && maxToolLabels >= 0 && maxReasonLabels >= 0)
        self.loopCount = loopCount
        var index: [String: Int] = [:]
        for (position, name) in Self.rpcMethodLabels.enumerated() { index[name] = position }
        rpcMethodIndex = index
        // Both names are in rpcMethodLabels, a constant above.
        noneColumn = index["none"]!
        otherColumn = index["other"]!
        requests = AtomicCounters(count: (Self.statusRange.count + 1) * Self.rpcMethodLabels.count)
        let bounds = Self.durationBucketsSeconds.map { UInt64(($0 * 1e9).rounded()) }
        requestDuration = FixedHistogram(boundsNanoseconds: bounds)
        upstreamDuration = FixedHistogram(boundsNanoseconds: bounds)
        authFailureReasons = BoundedLabels(capacity: maxReasonLabels)
        authFailures = AtomicCounters(count: maxReasonLabels + 1)
        toolNames = BoundedLabels(capacity: maxToolLabels)
        toolCalls = AtomicCounters(count: (maxToolLabels + 1) * ToolCallOutcome.allCases.count)
        loopConnections = AtomicCounters(count: loopCount)
    }

    /// One answered request: its status, its JSON-RPC method (nil when it carried none) and the time
    /// from the first byte of the request to the last byte of the answer.
    public func recordRequest(status: Int, rpcMethod: String?, durationNanoseconds: UInt64) {
        let row = Self.statusRange.contains(status) ? status - Self.statusRange.lowerBound : Self.statusRange.count
        requests.add(row * Self.rpcMethodLabels.count + methodColumn(rpcMethod))
        requestDuration.observe(nanoseconds: durationNanoseconds)
    }

    /// Time from sending a request upstream to the upstream's response head.
    public func recordUpstreamResponse(durationNanoseconds: UInt64) {
        upstreamDuration.observe(nanoseconds: durationNanoseconds)
    }

    public func recordAuthFailure(_ failure: AuthFailure) {
        recordAuthFailure(reason: failure.reason)
    }

    /// A failed authentication with its log reason (`missing_header`, `unknown_key`, `expired`, …).
    public func recordAuthFailure(reason: String) {
        authFailures.add(authFailureReasons.slot(for: reason))
    }

    public func recordRateLimited() {
        rateLimited.wrappingAdd(1, ordering: .relaxed)
    }

    /// A request sent again on a fresh connection after a pooled keep-alive one failed before any answer.
    public func recordUpstreamRetry() {
        upstreamRetries.wrappingAdd(1, ordering: .relaxed)
    }

    public func recordTLSHandshake(succeeded: Bool) {
        if succeeded {
            tlsHandshakes.wrappingAdd(1, ordering: .relaxed)
        } else {
            tlsHandshakeFailures.wrappingAdd(1, ordering: .relaxed)
        }
    }

    /// A `tools/call` and how it ended. Record only names that passed `mcp.tool_name_pattern`.
    public func recordToolCall(tool: String, outcome: ToolCallOutcome) {
        toolCalls.add(toolNames.slot(for: tool) * Self.toolCallOutcomes.count + outcome.column)
    }

    /// A client connection accepted on event loop `loop` (0-based).
    public func connectionOpened(loop: Int) {
        loopConnections.add(loopSlot(loop))
    }

    public func connectionClosed(loop: Int) {
        loopConnections.subtract(loopSlot(loop))
    }

    /// Idle connections held in the upstream keep-alive pool.
    public func setUpstreamPoolSize(_ size: Int) {
        upstreamPoolSize.store(Int64(size), ordering: .relaxed)
    }

    /// The log writer's running total of dropped lines.
    public func setLogLinesDropped(_ total: UInt64) {
        logLinesDropped.store(total, ordering: .relaxed)
    }

    /// Buckets held by the rate limiter (`RateLimiter.trackedKeyCount`).
    public func setRateLimitTrackedKeys(_ count: Int) {
        rateLimitTrackedKeys.store(Int64(count), ordering: .relaxed)
    }

    /// Seconds since the JWK Set was last fetched successfully; nil when no JWKS is configured.
    public func setJWKSAge(seconds: Int?) {
        jwksAgeSeconds.store(seconds.map(Int64.init) ?? Int64.min, ordering: .relaxed)
    }

    func methodColumn(_ rpcMethod: String?) -> Int {
        guard let rpcMethod else { return noneColumn }
        // Client-chosen text that merely spells a bucket name does not land in it.
        if rpcMethod == "none" { return otherColumn }
        return rpcMethodIndex[rpcMethod] ?? otherColumn
    }

    private func loopSlot(_ loop: Int) -> Int {
        loop >= 0 && loop < loopCount ? loop : ((loop % loopCount) + loopCount) % loopCount
    }
}

/// A fixed number of atomic counters in one allocation, indexed from 0.
final class AtomicCounters: @unchecked Sendable {
    // @unchecked: the buffer is written only through atomic operations and freed in deinit, when no
    // other reference remains.
    let count: Int
    private let storage: UnsafeMutablePointer<Atomic<UInt64>>

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: max(1, count))
        for index in 0..<count { (storage + index).initialize(to: Atomic(0)) }
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    func add(_ index: Int, _ amount: UInt64 = 1) {
        precondition(index >= 0 && index < count)
        storage[index].wrappingAdd(amount, ordering: .relaxed)
    }

    func subtract(_ index: Int, _ amount: UInt64 = 1) {
        precondition(index >= 0 && index < count)
        storage[index].wrappingSubtract(amount, ordering: .relaxed)
    }

    func load(_ index: Int) -> UInt64 {
        precondition(index >= 0 && index < count)
        return storage[index].load(ordering: .relaxed)
    }
}

/// A histogram with fixed upper bounds: one atomic counter per bucket (not cumulative; the rendering
/// adds them up) plus the overflow bucket, and the sum of observations in nanoseconds.
final class FixedHistogram: Sendable {
    let boundsNanoseconds: [UInt64]
    /// `boundsNanoseconds.count + 1` buckets, the last one for values above every bound (`+Inf`).
    let buckets: AtomicCounters
    let sumNanoseconds = Atomic<UInt64>(0)

    init(boundsNanoseconds: [UInt64]) {
        self.boundsNanoseconds = boundsNanoseconds
        buckets = AtomicCounters(count: boundsNanoseconds.count + 1)
    }

    func observe(nanoseconds: UInt64) {
        var index = 0
        // A bound is inclusive (`le`); a dozen comparisons are cheaper than anything cleverer.
        while index < boundsNanoseconds.count, nanoseconds > boundsNanoseconds[index] { index += 1 }
        buckets.add(index)
        sumNanoseconds.wrappingAdd(nanoseconds, ordering: .relaxed)
    }
}

/// Label values given slots in order of first sight, at most `capacity` of them; slot `capacity` is
/// `other` for everything after. A value keeps its slot for the life of the process.
final class BoundedLabels: Sendable {
    let capacity: Int
    private let state = Mutex<(slots: [String: Int], names: [String])>(([:], []))

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The slot of `value`, taking a new one while there is room.
    func slot(for value: String) -> Int {
        // A value spelling the overflow label shares its series: two series may not carry the same labels.
        if value == "other" { return capacity }
        return state.withLock { state in
            if let slot = state.slots[value] { return slot }
            guard state.names.count < capacity else { return capacity }
            let slot = state.names.count
            state.slots[value] = slot
            state.names.append(value)
            return slot
        }
    }

    /// The label values by slot, `other` last.
    var names: [String] {
        state.withLock { $0.names } + ["other"]
    }
}
