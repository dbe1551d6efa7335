import Glibc
import Synchronization

/// A clock that never goes back, in nanoseconds from an arbitrary start: what token buckets measure
/// elapsed time with. Injected so that tests move time by hand instead of sleeping.
public protocol MonotonicClock: Sendable {
    var nowNanoseconds: UInt64 { get }
}

/// `CLOCK_MONOTONIC`: unaffected by changes of the wall clock.
public struct SystemMonotonicClock: MonotonicClock {
    public init() {}

    public var nowNanoseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// A monotonic clock that only moves when told to: for tests.
public final class ManualMonotonicClock: MonotonicClock {
    private let nanoseconds: Atomic<UInt64>

    public init(nowNanoseconds: UInt64 = 1_000_000_000) {
        nanoseconds = Atomic(nowNanoseconds)
    }

    public var nowNanoseconds: UInt64 {
        nanoseconds.load(ordering: .relaxed)
    }

    public func advance(byNanoseconds delta: UInt64) {
        nanoseconds.wrappingAdd(delta, ordering: .relaxed)
    }

    /// Moves the clock forward by `seconds` (fractions allowed), rounded to the nanosecond.
    public func advance(bySeconds seconds: Double) {
        precondition(seconds >= 0, "a monotonic clock does not go back")
        advance(byNanoseconds: UInt64((seconds * 1e9).rounded()))
    }
}

/// The outcome of one take: whether the request may pass, and the numbers of the `RateLimit-*` headers
/// (§4). `retryAfterSeconds` is 0 when allowed, else the whole seconds until a token is back (at least 1).
public struct RateDecision: Sendable, Equatable {
    public var allowed: Bool
    /// The bucket's capacity.
    public var limit: Int
    /// Whole tokens left after this take.
    public var remaining: Int
    /// Whole seconds until the bucket is full again (0 when it is full).
    public var resetSeconds: Int
    public var retryAfterSeconds: Int

    public init(allowed: Bool, limit: Int, remaining: Int, resetSeconds: Int, retryAfterSeconds: Int) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.resetSeconds = resetSeconds
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, and `Retry-After` when refused: for
    /// every answer of a rate-limited request, the 429 included.
    ///
    /// Built at its final size in one allocation (the 429 does not regrow it for `Retry-After`). The
    /// names are literals and the numbers small strings, so nothing else is allocated or reference-counted.
    public var headers: [(String, String)] {
        var headers: [(String, String)] = []
        headers.reserveCapacity(allowed ? 3 : 4)
        appendHeaders(to: &headers, includingRetryAfter: true)
        return headers
    }

    /// Appends the `RateLimit-*` headers, and `Retry-After` when refused and `includingRetryAfter`, to
    /// `headers`: for a caller that collects an answer's headers in an array of its own and would
    /// otherwise build `headers` only to copy (or filter) it.
    public func appendHeaders(to headers: inout [(String, String)], includingRetryAfter: Bool) {
        // `String(Int)` of up to 15 characters is a small (inline) string: no allocation.
        headers.append(("RateLimit-Limit", String(limit)))
        headers.append(("RateLimit-Remaining", String(remaining)))
        headers.append(("RateLimit-Reset", String(resetSeconds)))
        if includingRetryAfter, !allowed { headers.append(("Retry-After", String(retryAfterSeconds))) }
    }

    /// The 429 `Rate limit exceeded` with this decision's headers and a `security` event of kind
    /// `rate_limited` (severity low) naming what was limited.
    public func rejection(
        subject: RateLimitSubject, ipAddress: String?, userAgent: String?, requestID: String?
    ) -> Rejection {
        var details: [(String, LogValue)] = [("scope", .string(subject.scope))]
        switch subject {
        case .ip: break
        case .principal(let name): details.append(("principal", .string(name)))
        case .tool(let principal, let tool):
            details.append(("principal", .string(principal)))
            details.append(("tool", .string(tool)))
        }
        details.append(("limit", .int(Int64(limit))))
        details.append(("retry_after", .int(Int64(retryAfterSeconds))))
        let event = SecurityEvent(
            .security(severity: .low, kind: "rate_limited", details: details), ipAddress: ipAddress,
            userAgent: userAgent, requestID: requestID)
        return Rejection(status: 429, message: "Rate limit exceeded", headers: headers, securityEvent: event)
    }
}

/// What a bucket was keyed by, for the log.
public enum RateLimitSubject: Sendable, Equatable {
    /// The client address (`per = "ip"`, before authentication).
    case ip
    /// The authenticated principal (`per = "principal"`).
    case principal(String)
    /// A per-tool bucket of `rate_limit.tools`.
    case tool(principal: String, tool: String)

    /// `ip`, `principal` or `tool`: the `scope` of the `rate_limited` event.
    public var scope: String {
        switch self {
        case .ip: return "ip"
        case .principal: return "principal"
        case .tool: return "tool"
        }
    }
}

/// Token buckets for every client, shared by all event loops: sharded (a key's hash picks a shard, each
/// behind its own lock, so loops rarely wait on each other), O(1) per take, and bounded in memory —
/// each table holds at most `maxTrackedClients` buckets, the least recently seen evicted first (an
/// evicted client comes back with a full bucket, the price of the bound).
///
/// Client buckets are keyed by the client address or the principal; per-tool buckets of
/// `rate_limit.tools` by (principal, tool) in a table of their own, so no client key can ever collide
/// with a tool key.
public final class RateLimiter: Sendable {
    public let limit: RateLimit
    /// Per-tool limits for `tools/call`, by tool name.
    public let toolLimits: [String: RateLimit]
    public let maxTrackedClients: Int

    private let clients: BucketTable<String>
    private let toolCalls: BucketTable<ToolBucketKey>

    /// `shardCount` is reduced to `maxTrackedClients` when that is smaller, so that the bound is exact.
    public init(limit: RateLimit, toolLimits: [String: RateLimit] = [:], maxTrackedClients: Int, shardCount: Int = 64) {
        precondition(maxTrackedClients >= 1, "at least one client must be tracked")
        precondition(shardCount >= 1, "at least one shard")
        self.limit = limit
        self.toolLimits = toolLimits
        self.maxTrackedClients = maxTrackedClients
        clients = BucketTable(maxEntries: maxTrackedClients, shardCount: shardCount)
        toolCalls = BucketTable(maxEntries: toolLimits.isEmpty ? 1 : maxTrackedClients, shardCount: shardCount)
    }

    /// Takes a token from the bucket of `key` (a client address or a principal name) at clock reading `now`.
    public func take(key: String, now: UInt64) -> RateDecision {
        clients.take(key, limit: limit, now: now)
    }

    /// Takes a token from the bucket of `principal` for `tool`, nil when `tool` has no limit of its own.
    public func takeToolCall(principal: String, tool: String, now: UInt64) -> RateDecision? {
        guard let toolLimit = toolLimits[tool] else { return nil }
        return toolCalls.take(ToolBucketKey(principal: principal, tool: tool), limit: toolLimit, now: now)
    }

    /// Buckets held in both tables (the rate-limit table size metric).
    public var trackedKeyCount: Int {
        clients.count + toolCalls.count
    }

    /// Client keys in one shard from least to most recently seen: for tests of the eviction order.
    func clientKeysByRecency(shard: Int) -> [String] {
        clients.keysByRecency(shard: shard)
    }

    var clientShardCount: Int { clients.shards.count }
}

/// The key of a per-tool bucket.
struct ToolBucketKey: Hashable, Sendable {
    var principal: String
    var tool: String
}

/// Sharded buckets with a least-recently-seen bound per shard.
final class BucketTable<Key: Hashable & Sendable>: Sendable {
    /// One shard's lock; a class because a `Mutex` cannot be an array element.
    final class Shard: Sendable {
        let state: Mutex<LRUBuckets<Key>>

        init(capacity: Int) {
            state = Mutex(LRUBuckets(capacity: capacity))
        }
    }

    let shards: [Shard]

    init(maxEntries: Int, shardCount requested: Int) {
        let count = max(1, min(requested, maxEntries))
        // The shares add up to exactly maxEntries; none is empty because count <= maxEntries.
        shards = (0..<count).map { index in
            Shard(capacity: maxEntries / count + (index < maxEntries % count ? 1 : 0))
        }
    }

    func shardIndex(_ key: Key) -> Int {
        // The high bits of a scrambled hash: the low bits are what each shard's dictionary uses.
        let hash = UInt64(UInt(bitPattern: key.hashValue)) &* 0x9E37_79B9_7F4A_7C15
        return Int((hash >> 32) % UInt64(shards.count))
    }

    func take(_ key: Key, limit: RateLimit, now: UInt64) -> RateDecision {
        shards[shardIndex(key)].state.withLock { $0.take(key, limit: limit, now: now) }
    }

    var count: Int {
        shards.reduce(0) { total, shard in total + shard.state.withLock { $0.count } }
    }

    func keysByRecency(shard: Int) -> [Key] {
        shards[shard].state.withLock { $0.keysByRecency() }
    }
}

/// Buckets in slots of one array, linked from most to least recently seen, with a dictionary from key
/// to slot: a take is one lookup and a few index writes; when full, the least recent slot is reused.
struct LRUBuckets<Key: Hashable>: ~Copyable {
    /// One slot: a client's bucket and its neighbours in recency order (-1 for none).
    struct Node {
        var key: Key
        var bucket: TokenBucket
        var newer: Int32
        var older: Int32
    }

    let capacity: Int
    private var slots: [Key: Int32] = [:]
    private var nodes: [Node] = []
    /// Most recently seen slot, -1 when empty.
    private var newest: Int32 = -1
    /// Least recently seen slot: the next to be evicted.
    private var oldest: Int32 = -1

    init(capacity: Int) {
        precondition(capacity >= 1 && capacity < Int(Int32.max), "slot numbers are 32-bit")
        self.capacity = capacity
    }

    var count: Int { slots.count }

    mutating func take(_ key: Key, limit: RateLimit, now: UInt64) -> RateDecision {
        if let slot = slots[key] {
            moveToNewest(slot)
            return nodes[Int(slot)].bucket.take(now: now)
        }
        let slot: Int32
        let bucket = TokenBucket(limit: limit, now: now)
        if nodes.count < capacity {
            slot = Int32(nodes.count)
            nodes.append(Node(key: key, bucket: bucket, newer: -1, older: -1))
        } else {
            slot = oldest
            unlink(slot)
            slots[nodes[Int(slot)].key] = nil
            nodes[Int(slot)].key = key
            nodes[Int(slot)].bucket = bucket
        }
        slots[key] = slot
        linkAsNewest(slot)
        return nodes[Int(slot)].bucket.take(now: now)
    }

    func keysByRecency() -> [Key] {
        var keys: [Key] = []
        var slot = oldest
        while slot >= 0 {
            keys.append(nodes[Int(slot)].key)
            slot = nodes[Int(slot)].newer
        }
        return keys
    }

    private mutating func moveToNewest(_ slot: Int32) {
        guard slot != newest else { return }
        unlink(slot)
        linkAsNewest(slot)
    }

    private mutating func unlink(_ slot: Int32) {
        let newer = nodes[Int(slot)].newer
        let older = nodes[Int(slot)].older
        if newer >= 0 { nodes[Int(newer)].older = older } else { newest = older }
        if older >= 0 { nodes[Int(older)].newer = newer } else { oldest = newer }
        nodes[Int(slot)].newer = -1
        nodes[Int(slot)].older = -1
    }

    private mutating func linkAsNewest(_ slot: Int32) {
        nodes[Int(slot)].older = newest
        nodes[Int(slot)].newer = -1
        if newest >= 0 { nodes[Int(newest)].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}
