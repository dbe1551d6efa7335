import CGatehouseShims
import Glibc

/// A failed system call: its name and errno. EAGAIN never becomes one (see `IOResult`).
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public var call: String
    public var errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return "\(call): \(text)"
    }

    /// The peer went away (reset, broken pipe): an ordinary end of a connection, not a gateway fault.
    public var isPeerGone: Bool { errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN }
}

/// The outcome of a non-blocking call: it happened, or it would have had to wait.
public enum IOResult<T>: Equatable where T: Equatable {
    case processed(T)
    case wouldBlock
}

/// Syscalls through one door (swift-nio's System.swift): retried on EINTR, EAGAIN turned into
/// `.wouldBlock`, every other failure thrown with the call's name; errors that can only mean a bug stop
/// the process loudly.
enum Syscall {
    @inline(__always)
    static func call(_ name: String, _ body: () -> Int) throws(SystemError) -> IOResult<Int> {
        while true {
            let r = body()
            if r >= 0 { return .processed(r) }
            let e = Glibc.errno
            switch e {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            case EBADF, EFAULT:
                fatalError("\(name) failed with \(e): a bug in descriptor handling")
            default: throw SystemError(name, errno: e)
            }
        }
    }

    static func read(_ fd: Int32, _ pointer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try call("read") { Glibc.read(fd, pointer.baseAddress, pointer.count) }
    }

    static func write(_ fd: Int32, _ pointer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try call("write") { Glibc.send(fd, pointer.baseAddress, pointer.count, Int32(MSG_NOSIGNAL)) }
    }
}

/// Closes a descriptor, ignoring EINTR (Linux always releases the descriptor).
@inline(__always)
public func closeDescriptor(_ fd: Int32) {
    if fd >= 0 { _ = Glibc.close(fd) }
}

/// Monotonic milliseconds (for timers and durations).
@inline(__always)
public func monotonicMilliseconds() -> Int64 {
    Int64(gh_monotonic_ns() / 1_000_000)
}

/// Wall-clock milliseconds since the epoch (for log timestamps).
@inline(__always)
public func wallClockMilliseconds() -> Int64 {
    gh_wallclock_ms()
}
