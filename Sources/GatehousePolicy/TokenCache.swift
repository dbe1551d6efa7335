import GatehouseCrypto
import Synchronization

/// Verified tokens remembered until their `exp`, so a client that reuses its token pays for the
/// signature check once.
///
/// Keyed by the SHA-256 of the token (the token itself is not kept). Bounded: each of the shards holds
/// at most its share of `capacity` entries and, when full, drops its oldest insertion first (expired
/// entries are simply the first to go that way; a lookup never returns one). Sharded with one lock per
/// shard so event loops on several cores rarely wait for each other.
public final class TokenCache: Sendable {
    /// The full SHA-256 of a token, as four words (cheaper to hash and compare than an array).
    private struct Key: Hashable {
        var a, b, c, d: UInt64

        init(_ digest: [UInt8]) {
            func word(_ at: Int) -> UInt64 { digest[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
            a = word(0)
            b = word(8)
            c = word(16)
            d = word(24)
        }
    }

    /// What a cached token stands for, and until when.
    private struct Entry {
        var principal: Principal
        var expiresAt: Int64
    }

    /// One shard: the entries and their keys in insertion order (a ring), one key per entry.
    private struct Shard {
        var entries: [Key: Entry] = [:]
        var order: [Key] = []
        var head = 0  // the oldest key's position in `order` once the ring is full
    }

    /// A shard behind its own lock (a class, because `Mutex` cannot be copied into an array).
    private final class LockedShard: Sendable {
        let mutex = Mutex(Shard())
    }

    public let capacity: Int
    private let shardCapacity: Int
    private let shards: [LockedShard]

    /// A cache of at most `capacity` tokens (at least one per shard) spread over `shards` locks.
    public init(capacity: Int, shards shardCount: Int = 16) {
        let count = max(1, min(shardCount, max(1, capacity)))
        self.shardCapacity = max(1, (capacity + count - 1) / count)
        self.capacity = shardCapacity * count
        self.shards = (0..<count).map { _ in LockedShard() }
    }

    /// The principal of a cached `token` that is still valid at `now`, else nil.
    public func lookup(token: String, now: Int64) -> Principal? {
        let key = Key(Digest.sha256(token.utf8))
        return shard(key).mutex.withLock { shard in
            guard let entry = shard.entries[key], now < entry.expiresAt else { return nil }
            return entry.principal
        }
    }

    /// Remembers that `token` authenticates `principal` until `expiresAt` (exclusive).
    public func insert(token: String, principal: Principal, expiresAt: Int64) {
        let key = Key(Digest.sha256(token.utf8))
        let limit = shardCapacity
        shard(key).mutex.withLock { shard in
            if shard.entries[key] != nil {
                shard.entries[key] = Entry(principal: principal, expiresAt: expiresAt)
                return
            }
            if shard.order.count < limit {
                shard.order.append(key)
            } else {
                shard.entries[shard.order[shard.head]] = nil
                shard.order[shard.head] = key
                shard.head = (shard.head + 1) % limit
            }
            shard.entries[key] = Entry(principal: principal, expiresAt: expiresAt)
        }
    }

    /// Forgets every token (after the keys or the secret changed).
    public func removeAll() {
        for shard in shards {
            shard.mutex.withLock { $0 = Shard() }
        }
    }

    /// Entries held, expired ones included.
    public var count: Int {
        shards.reduce(0) { total, shard in total + shard.mutex.withLock { $0.entries.count } }
    }

    private func shard(_ key: Key) -> LockedShard {
        shards[Int(key.a % UInt64(shards.count))]
    }
}
