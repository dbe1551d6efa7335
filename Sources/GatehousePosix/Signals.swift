import CGatehouseShims
import Glibc

/// The process signals the gateway acts on. They are blocked in every thread and taken synchronously by
/// the main thread with sigtimedwait, so no handler runs in an arbitrary thread's context.
public enum ProcessSignal: Sendable {
    case terminate, interrupt, hangup

    /// Blocks TERM/INT/HUP for this thread and all threads started after, and ignores SIGPIPE
    /// (OpenSSL and send() without MSG_NOSIGNAL would otherwise kill the process). Call first in main.
    public static func blockAndIgnorePipe() {
        _ = gh_block_signals()
    }

    /// Waits up to `milliseconds` for one of the blocked signals.
    public static func wait(milliseconds: Int32) -> ProcessSignal? {
        switch gh_wait_signal(milliseconds) {
        case SIGTERM: return .terminate
        case SIGINT: return .interrupt
        case SIGHUP: return .hangup
        default: return nil
        }
    }
}

/// Process resource limits the gateway adjusts at start.
public enum ResourceLimits {
    /// Raises the soft limit on open descriptors to the hard limit (a 1,024 soft limit would cap
    /// `server.max_connections` far below its default); returns the limit now in force.
    @discardableResult
    public static func raiseOpenFilesLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
