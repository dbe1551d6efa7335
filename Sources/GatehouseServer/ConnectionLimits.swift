import Synchronization

/// Open connections per client address (`server.max_connections_per_ip`), shared by every loop: sharded by
/// the address's hash, each shard behind its own lock, entries removed when their count returns to zero.
public final class ConnectionsPerAddress: Sendable {
    private final class Shard: Sendable {
        let counts = Mutex<[[UInt8]: Int]>([:])
    }

    private let shards: [Shard]

    public init(shardCount: Int = 16) {
        shards = (0..<max(1, shardCount)).map { _ in Shard() }
    }

    private func shard(_ address: [UInt8]) -> Shard {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in address { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return shards[Int(h % UInt64(shards.count))]
    }

    /// Counts one more connection from `address` unless it already has `limit` (0 = no limit).
    public func admit(_ address: [UInt8], limit: Int) -> Bool {
        guard limit > 0 else { return true }
        return shard(address).counts.withLock { counts in
            let n = counts[address, default: 0]
            if n >= limit { return false }
            counts[address] = n + 1
            return true
        }
    }

    /// A connection admitted with a limit closed.
    public func release(_ address: [UInt8]) {
        shard(address).counts.withLock { counts in
            guard let n = counts[address] else { return }
            if n <= 1 { counts[address] = nil } else { counts[address] = n - 1 }
        }
    }

    /// Addresses tracked now (for tests and metrics).
    public var trackedAddresses: Int { shards.reduce(0) { $0 + $1.counts.withLock { $0.count } } }
}
