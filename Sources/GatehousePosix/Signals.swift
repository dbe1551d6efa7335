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
