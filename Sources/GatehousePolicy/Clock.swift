import Glibc
import Synchronization

/// Wall-clock time in whole seconds since the Unix epoch, injected into every policy that looks at
/// time (JWT expiry, the token cache) so tests drive it with a `ManualClock` instead of sleeping.
public protocol Clock: Sendable {
    var nowSeconds: Int64 { get }
}

/// The system's real-time clock.
public struct SystemClock: Clock {
    public init() {}

    public var nowSeconds: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
}

/// A clock that only moves when told to: for tests.
public final class ManualClock: Clock {
    private let seconds: Atomic<Int64>

    public init(nowSeconds: Int64) {
        seconds = Atomic(nowSeconds)
    }

    public var nowSeconds: Int64 {
        get { seconds.load(ordering: .relaxed) }
        set { seconds.store(newValue, ordering: .relaxed) }
    }

    /// Moves the clock forward (or back, with a negative value).
    public func advance(by delta: Int64) {
        seconds.wrappingAdd(delta, ordering: .relaxed)
    }
}
