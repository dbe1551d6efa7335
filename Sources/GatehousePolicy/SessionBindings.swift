import Synchronization

/// §6.6 session binding: each `Mcp-Session-Id` the upstream hands out is remembered with the principal
/// that received it, so that another principal presenting it can be refused (404, as if the session
/// did not exist).
///
/// Bounded: at most `capacity` bindings, the least recently used evicted first, and a binding not used
/// for `idleTimeoutSeconds` is forgotten. Thread-safe, sharded by session id with one lock per shard.
/// Session ids are compared by their exact bytes. The first principal to hold a session keeps it: a
/// later `bind` by another principal does not take it over.
///
/// An unknown session (never seen, evicted, expired, removed) passes `check`: the gateway cannot tell
/// it from a session created through another replica or before a restart, and the upstream answers 404
/// for one that does not exist.
public final class SessionBindings: Sendable {
    /// Session ids longer than this are never bound (an upstream's ids are short tokens).
    public static let maxSessionIDBytes = 1024

    public let capacity: Int
    public let idleTimeoutSeconds: Int64
    private let clock: any Clock
    private let shards: [Shard]

    public init(
        capacity: Int = 100_000, idleTimeoutSeconds: Int64 = 7200, clock: any Clock = SystemClock(),
        shardCount: Int = 16
    ) {
        let shardCount = max(1, min(shardCount, max(1, capacity)))
        self.capacity = max(1, capacity)
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.clock = clock
        let perShard = (self.capacity + shardCount - 1) / shardCount
        shards = (0..<shardCount).map { _ in Shard(capacity: perShard) }
    }

    /// Records that `principal` holds `session` (and refreshes its idle time). Returns false when the
    /// session is held by another principal (the binding is kept) or the id is empty or too long.
    @discardableResult
    public func bind(session: String, principal: String) -> Bool {
        let key = Array(session.utf8)
        guard !key.isEmpty, key.count <= Self.maxSessionIDBytes else { return false }
        let now = clock.nowSeconds
        return shard(for: key).state.withLock {
            $0.bind(key, owner: principal, now: now, idleTimeout: idleTimeoutSeconds)
        }
    }

    /// True when `principal` may use `session`: it is unknown or bound to `principal`. A use by the owner
    /// refreshes the binding.
    public func check(session: String, principal: String) -> Bool {
        guard let owner = owner(of: session, refreshingFor: principal) else { return true }
        return owner == principal
    }

    /// The principal bound to `session`, nil when unknown or idle too long.
    public func owner(of session: String) -> String? {
        owner(of: session, refreshingFor: nil)
    }

    private func owner(of session: String, refreshingFor principal: String?) -> String? {
        let key = Array(session.utf8)
        guard !key.isEmpty, key.count <= Self.maxSessionIDBytes else { return nil }
        let now = clock.nowSeconds
        return shard(for: key).state.withLock {
            $0.owner(key, now: now, idleTimeout: idleTimeoutSeconds, refreshingFor: principal)
        }
    }

    /// Forgets `session` (DELETE, or the upstream answered 404 for it).
    public func remove(session: String) {
        let key = Array(session.utf8)
        shard(for: key).state.withLock { $0.remove(key) }
    }

    /// How many bindings are held (expired ones included until they are next touched).
    public var count: Int {
        shards.reduce(0) { sum, shard in sum + shard.state.withLock { $0.count } }
    }

    private func shard(for key: [UInt8]) -> Shard {
        var hasher = Hasher()
        hasher.combine(bytes: key.withUnsafeBytes { $0 })
        let hash = UInt(bitPattern: hasher.finalize())
        return shards[Int(hash % UInt(shards.count))]
    }
}

/// One lock and the bindings behind it.
private final class Shard: Sendable {
    let state: Mutex<LRUBindings>

    init(capacity: Int) {
        state = Mutex(LRUBindings(capacity: capacity))
    }
}

/// Session → owner with least-recently-used order: a dictionary to slot indices and a doubly linked
/// list threaded through the slots (no allocation per use once the slots exist).
private struct LRUBindings: Sendable {
    private struct Slot: Sendable {
        var key: [UInt8]
        var owner: String
        var lastUsed: Int64
        var newer = -1
        var older = -1
    }

    private let capacity: Int
    private var index: [[UInt8]: Int] = [:]
    private var slots: [Slot] = []
    private var free: [Int] = []
    private var newest = -1
    private var oldest = -1

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { index.count }

    mutating func bind(_ key: [UInt8], owner: String, now: Int64, idleTimeout: Int64) -> Bool {
        if let i = index[key] {
            if isExpired(i, now: now, idleTimeout: idleTimeout) {
                unlink(i)
                slots[i].owner = owner
            } else {
                guard slots[i].owner == owner else { return false }
                unlink(i)
            }
            slots[i].lastUsed = now
            pushNewest(i)
            return true
        }
        // Expired entries leave first, then the least recently used when still full.
        while oldest >= 0, isExpired(oldest, now: now, idleTimeout: idleTimeout) { evict(oldest) }
        if index.count >= capacity, oldest >= 0 { evict(oldest) }
        let slot = Slot(key: key, owner: owner, lastUsed: now)
        let i: Int
        if let reused = free.popLast() {
            slots[reused] = slot
            i = reused
        } else {
            slots.append(slot)
            i = slots.count - 1
        }
        index[key] = i
        pushNewest(i)
        return true
    }

    mutating func owner(_ key: [UInt8], now: Int64, idleTimeout: Int64, refreshingFor principal: String?) -> String? {
        guard let i = index[key] else { return nil }
        if isExpired(i, now: now, idleTimeout: idleTimeout) {
            evict(i)
            return nil
        }
        let owner = slots[i].owner
        if let principal, principal == owner {
            slots[i].lastUsed = now
            unlink(i)
            pushNewest(i)
        }
        return owner
    }

    mutating func remove(_ key: [UInt8]) {
        if let i = index[key] { evict(i) }
    }

    private func isExpired(_ i: Int, now: Int64, idleTimeout: Int64) -> Bool {
        now - slots[i].lastUsed > idleTimeout
    }

    private mutating func evict(_ i: Int) {
        unlink(i)
        index[slots[i].key] = nil
        slots[i].key = []
        slots[i].owner = ""
        free.append(i)
    }

    private mutating func unlink(_ i: Int) {
        let newer = slots[i].newer
        let older = slots[i].older
        if newer >= 0 { slots[newer].older = older } else { newest = older }
        if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        slots[i].newer = -1
        slots[i].older = -1
    }

    private mutating func pushNewest(_ i: Int) {
        slots[i].older = newest
        slots[i].newer = -1
        if newest >= 0 { slots[newest].newer = i }
        newest = i
        if oldest < 0 { oldest = i }
    }
}
