import CGatehouseShims
import Glibc
import Synchronization

/// Something registered with an event loop; called on the loop thread with epoll's event bits.
public protocol EventHandler: AnyObject {
    func handleEvent(_ events: UInt32)
}

/// epoll event bits, for handlers.
public enum EventBits {
    public static let readable = GH_EPOLLIN
    public static let writable = GH_EPOLLOUT
    public static let error = GH_EPOLLERR
    public static let hangup = GH_EPOLLHUP
    public static let readHangup = GH_EPOLLRDHUP
}

/// One epoll event loop on its own thread, owning its connections. Other threads talk to it only
/// through `execute`, which queues a task and wakes the loop through an eventfd.
public final class EventLoop: @unchecked Sendable {
    /// Registration slot per descriptor; the generation travels in epoll's data so that an event for a
    /// descriptor that was closed and reused in the same batch is dropped (swift-nio's registration ids).
    private struct Slot {
        var generation: UInt32 = 0
        var handler: EventHandler?
    }

    public let index: Int
    private let epfd: Int32
    private let wakeFD: Int32
    private var slots: [Slot] = []
    private var nextGeneration: UInt32 = 1
    private let pending = Mutex<[@Sendable () -> Void]>([])
    /// Registrations to be called as readable after the current batch although epoll has nothing for them:
    /// bytes wait in a user-space buffer (TLS read-ahead) that epoll cannot see. Loop thread only.
    private var readyAgain: [(fd: Int32, generation: UInt32)] = []
    private var readyBatch: [(fd: Int32, generation: UInt32)] = []
    private let timers: TimerWheel
    private let stopped = Atomic<Bool>(false)
    private var thread: pthread_t?
    private let finished = Mutex<Bool>(false)

    /// Monotonic milliseconds, refreshed once per loop iteration (cheap "now" for handlers).
    public private(set) var now: Int64
    /// Number of registered handlers (connections, listeners), for drain and metrics.
    public private(set) var registeredCount = 0

    public init(index: Int) throws(SystemError) {
        self.index = index
        epfd = gh_epoll_create()
        guard epfd >= 0 else { throw SystemError("epoll_create1", errno: Glibc.errno) }
        wakeFD = gh_eventfd()
        guard wakeFD >= 0 else { throw SystemError("eventfd", errno: Glibc.errno) }
        now = monotonicMilliseconds()
        timers = TimerWheel(now: now)
        guard gh_epoll_ctl(epfd, 1, wakeFD, GH_EPOLLIN, UInt64(UInt32(bitPattern: wakeFD))) == 0 else {
            throw SystemError("epoll_ctl(eventfd)", errno: Glibc.errno)
        }
    }

    deinit {
        closeDescriptor(epfd)
        closeDescriptor(wakeFD)
    }

    // MARK: Registration (loop thread only)

    public func register(_ fd: Int32, readable: Bool, writable: Bool, handler: EventHandler) {
        let i = Int(fd)
        if i >= slots.count { slots.append(contentsOf: repeatElement(Slot(), count: i + 1 - slots.count + 64)) }
        nextGeneration &+= 1
        if nextGeneration == 0 { nextGeneration = 1 }
        slots[i] = Slot(generation: nextGeneration, handler: handler)
        registeredCount += 1
        let rc = gh_epoll_ctl(epfd, 1, fd, bits(readable, writable), token(fd))
        precondition(rc == 0, "epoll_ctl(ADD, \(fd)) failed: errno \(Glibc.errno)")
    }

    public func setInterest(_ fd: Int32, readable: Bool, writable: Bool) {
        _ = gh_epoll_ctl(epfd, 3, fd, bits(readable, writable), token(fd))
    }

    /// Removes the registration; the caller closes the descriptor afterwards.
    public func deregister(_ fd: Int32) {
        let i = Int(fd)
        guard i < slots.count, slots[i].handler != nil else { return }
        _ = gh_epoll_ctl(epfd, 2, fd, 0, 0)
        slots[i].handler = nil
        slots[i].generation = 0
        registeredCount -= 1
    }

    /// Calls `fd`'s handler with a readable event after the current batch of events, as if epoll had
    /// reported it (loop thread only). For input already taken from the socket into a user-space buffer.
    public func markReadable(_ fd: Int32) {
        let idx = Int(fd)
        guard idx >= 0, idx < slots.count, slots[idx].handler != nil else { return }
        readyAgain.append((fd, slots[idx].generation))
    }

    private func bits(_ readable: Bool, _ writable: Bool) -> UInt32 {
        (readable ? GH_EPOLLIN | GH_EPOLLRDHUP : 0) | (writable ? GH_EPOLLOUT : 0)
    }

    private func token(_ fd: Int32) -> UInt64 {
        UInt64(slots[Int(fd)].generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    // MARK: Timers (loop thread only)

    /// Arms `timer` for `milliseconds` after `now`, the time the current batch of events began (a request
    /// arms several timers: one clock read per batch instead of one per arm). A timer may so fire early
    /// by the time the batch has run so far — microseconds, well under the wheel's 10 ms tick.
    public func arm(_ timer: LoopTimer, after milliseconds: Int64) {
        timers.arm(timer, deadline: now + milliseconds)
    }

    public func cancel(_ timer: LoopTimer) {
        timers.cancel(timer)
    }

    // MARK: Cross-thread

    /// Runs `task` on the loop thread soon. Callable from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        let wasEmpty = pending.withLock { q -> Bool in
            q.append(task)
            return q.count == 1
        }
        if wasEmpty { _ = gh_eventfd_signal(wakeFD) }
    }

    /// Starts the loop's thread. `onStart` runs first on that thread.
    public func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let loop = Unmanaged<EventLoop>.fromOpaque(raw!).takeRetainedValue()
            loop.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread = tid
    }

    /// Asks the loop to return after the current iteration. Callable from any thread.
    public func stop() {
        stopped.store(true, ordering: .releasing)
        _ = gh_eventfd_signal(wakeFD)
    }

    /// Waits for the loop thread to end (after `stop`).
    public func join() {
        if let t = thread { pthread_join(t, nil) }
        thread = nil
    }

    /// The loop body; normally on the thread `start` made, or on the caller's thread.
    public func run() {
        var events = [UInt32](repeating: 0, count: 256)
        var tokens = [UInt64](repeating: 0, count: 256)
        while !stopped.load(ordering: .acquiring) {
            now = monotonicMilliseconds()
            let timeout = readyAgain.isEmpty ? timers.millisecondsUntilNextTick(now: now) : 0
            let n = events.withUnsafeMutableBufferPointer { ev in
                tokens.withUnsafeMutableBufferPointer { tk in
                    gh_epoll_wait(epfd, ev.baseAddress, tk.baseAddress, 256, timeout)
                }
            }
            now = monotonicMilliseconds()
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                fatalError("epoll_wait failed: errno \(Glibc.errno)")
            }
            for i in 0..<Int(n) {
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: tokens[i]))
                if fd == wakeFD {
                    _ = gh_eventfd_drain(wakeFD)
                    continue
                }
                let generation = UInt32(truncatingIfNeeded: tokens[i] >> 32)
                let idx = Int(fd)
                guard idx < slots.count, slots[idx].generation == generation, let h = slots[idx].handler else { continue }
                h.handleEvent(events[i])
            }
            timers.advance(now: now)
            runPendingTasks()
            if !readyAgain.isEmpty { runReadyAgain() }
        }
        runPendingTasks()
    }

    private func runReadyAgain() {
        swap(&readyAgain, &readyBatch)
        for (fd, generation) in readyBatch {
            let idx = Int(fd)
            guard idx < slots.count, slots[idx].generation == generation, let h = slots[idx].handler else { continue }
            h.handleEvent(EventBits.readable)
        }
        readyBatch.removeAll(keepingCapacity: true)
    }

    private func runPendingTasks() {
        let tasks = pending.withLock { q -> [@Sendable () -> Void] in
            if q.isEmpty { return [] }
            let t = q
            q.removeAll(keepingCapacity: true)
            return t
        }
        for t in tasks { t() }
    }
}
