import Glibc

/// Where a log stream goes (`logging.security_log`, `logging.access_log`).
public enum LogDestination: Sendable, Equatable {
    case stdout, stderr, off, file(String)

    /// `"stdout"`, `"stderr"`, `"off"`, anything else is a file path.
    public init(configValue: String) {
        switch configValue {
        case "stdout": self = .stdout
        case "stderr": self = .stderr
        case "off", "": self = .off
        default: self = .file(configValue)
        }
    }
}

/// Never blocks the event loop: lines go into a bounded in-memory buffer drained by one writer thread;
/// when full, lines are dropped and counted, and when space returns a line
/// `{"event_type":"log_dropped","dropped":N,"timestamp":"…"}` is written. Files are opened O_APPEND
/// and reopened on `reopen()`.
///
/// The writer thread holds the object alive until `close()`; call it at shutdown.
public final class LogWriter: @unchecked Sendable {
    // @unchecked: every `var` below is read and written only with `mutex` held, except `fd`, which only
    // the writer thread touches until it has been joined.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let hasWork: UnsafeMutablePointer<pthread_cond_t>
    private let progressed: UnsafeMutablePointer<pthread_cond_t>

    private let destination: LogDestination
    private let capacity: Int
    private var fd: Int32

    /// Lines waiting for the writer thread.
    private var pending: [UInt8] = []
    /// The writer's drained batch, handed back empty so its storage is reused.
    private var spare: [UInt8] = []
    /// Lines dropped since the last `log_dropped` line.
    private var unreportedDrops: UInt64 = 0
    private var totalDrops: UInt64 = 0
    /// Bytes accepted into `pending`, and bytes the writer has finished with; `flush` waits for them to meet.
    private var acceptedBytes: UInt64 = 0
    private var settledBytes: UInt64 = 0
    /// Where in `pending` a requested reopen takes effect: earlier lines go to the old file.
    private var reopenOffset: Int?
    private var isWriterWaiting = false
    private var isClosing = false
    private var isClosed = false
    private var isThreadRunning = false
    private var thread = pthread_t()

    /// Opens the destination (a file is created when missing, mode 0640) and starts the writer thread.
    /// Throws when the file cannot be opened or the thread cannot be started.
    public init(destination: LogDestination, capacityBytes: Int = 4 << 20) throws {
        self.destination = destination
        capacity = max(capacityBytes, 1)
        mutex = .allocate(capacity: 1)
        hasWork = .allocate(capacity: 1)
        progressed = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(hasWork, nil)
        pthread_cond_init(progressed, nil)
        switch destination {
        case .stdout: fd = STDOUT_FILENO
        case .stderr: fd = STDERR_FILENO
        case .off: fd = -1
        case .file(let path):
            fd = LogWriter.openFile(path)
            if fd < 0 { throw SystemError("open \(path)", errno: errno) }
        }
        if destination == .off { return }
        pending.reserveCapacity(min(capacity, 64 << 10))
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { argument in
                // The context is the retained writer passed just above; it is never nil.
                let writer = Unmanaged<LogWriter>.fromOpaque(argument!).takeRetainedValue()
                writer.run()
                return nil
            }, context)
        if rc != 0 {
            Unmanaged<LogWriter>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: rc)
        }
        isThreadRunning = true
    }

    deinit {
        if case .file = destination, fd >= 0 { closeDescriptor(fd) }
        pthread_cond_destroy(progressed)
        pthread_cond_destroy(hasWork)
        pthread_mutex_destroy(mutex)
        progressed.deallocate()
        hasWork.deallocate()
        mutex.deallocate()
    }

    /// Queues one line (it should end in `\n`). From any thread; takes a short lock, never waits for I/O.
    /// A line that does not fit in the free buffer space is dropped and counted.
    public func write(_ line: [UInt8]) {
        if line.isEmpty { return }
        lock()
        defer { unlock() }
        if destination == .off { return }
        guard !isClosing, pending.count + line.count <= capacity else {
            totalDrops &+= 1
            if !isClosing { unreportedDrops &+= 1 }
            if isWriterWaiting { pthread_cond_signal(hasWork) }
            return
        }
        pending.append(contentsOf: line)
        acceptedBytes &+= UInt64(line.count)
        if isWriterWaiting { pthread_cond_signal(hasWork) }
    }

    /// Reopens the file at the destination path (after log rotation, on SIGHUP); lines queued before
    /// this call still go to the old file. Returns at once; no effect for stdout, stderr and off.
    public func reopen() {
        guard case .file = destination else { return }
        lock()
        defer { unlock() }
        if reopenOffset == nil { reopenOffset = pending.count }
        if isWriterWaiting { pthread_cond_signal(hasWork) }
    }

    /// Lines dropped since the start because the buffer was full, the output failed, or the writer was closed.
    public var droppedLines: UInt64 {
        lock()
        defer { unlock() }
        return totalDrops
    }

    /// Bytes waiting to be written.
    public var queuedBytes: Int {
        lock()
        defer { unlock() }
        return pending.count
    }

    /// Waits until everything queued before the call is written (for shutdown and tests).
    public func flush() {
        lock()
        defer { unlock() }
        let target = acceptedBytes
        while isThreadRunning && settledBytes < target {
            pthread_cond_wait(progressed, mutex)
        }
    }

    /// Like `flush()`, but gives up after `timeoutMilliseconds`; returns whether everything was written.
    public func flush(timeoutMilliseconds: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let nanos = Int(deadline.tv_nsec) + (timeoutMilliseconds % 1000) * 1_000_000
        deadline.tv_sec += timeoutMilliseconds / 1000 + nanos / 1_000_000_000
        deadline.tv_nsec = nanos % 1_000_000_000
        lock()
        defer { unlock() }
        let target = acceptedBytes
        while isThreadRunning && settledBytes < target {
            if pthread_cond_timedwait(progressed, mutex, &deadline) == ETIMEDOUT { break }
        }
        return settledBytes >= target || !isThreadRunning
    }

    /// Writes what is queued, stops the writer thread and closes the file. Later lines are dropped.
    public func close() {
        lock()
        if isClosing {
            while !isClosed { pthread_cond_wait(progressed, mutex) }
            unlock()
            return
        }
        isClosing = true
        pthread_cond_signal(hasWork)
        let joinable = isThreadRunning
        unlock()
        if joinable { pthread_join(thread, nil) }
        lock()
        if case .file = destination, fd >= 0 {
            closeDescriptor(fd)
            fd = -1
        }
        isThreadRunning = false
        isClosed = true
        pthread_cond_broadcast(progressed)
        unlock()
    }

    // MARK: - Writer thread

    private func run() {
        // Signals belong to the process's signal thread; a broken pipe must come back as EPIPE here.
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)

        lock()
        while true {
            while pending.isEmpty && unreportedDrops == 0 && reopenOffset == nil && !isClosing {
                isWriterWaiting = true
                pthread_cond_wait(hasWork, mutex)
                isWriterWaiting = false
            }
            if pending.isEmpty && unreportedDrops == 0 && reopenOffset == nil && isClosing { break }
            // Hand the writers the empty spare buffer and take theirs: no copy, no allocation.
            var batch = pending
            pending = spare
            spare = []
            let drops = unreportedDrops
            unreportedDrops = 0
            let reopenAt = reopenOffset
            reopenOffset = nil
            unlock()

            var lost = 0
            if let reopenAt {
                lost += writeAll(batch[..<reopenAt])
                reopenFile()
                lost += writeAll(batch[reopenAt...])
            } else {
                lost += writeAll(batch[...])
            }
            if drops > 0 { _ = writeAll(LogWriter.droppedNotice(drops)[...]) }

            let written = batch.count
            batch.removeAll(keepingCapacity: true)
            // Let lines gather for a moment before the next batch: under load the writer is then found
            // sleeping here rather than waiting on the condition, so request threads never pay for a
            // wake-up (a futex call per log line), and each write() carries many lines.
            if !isClosingUnlocked() { usleep(2_000) }
            lock()
            spare = batch
            settledBytes &+= UInt64(written)
            totalDrops &+= UInt64(lost)
            pthread_cond_broadcast(progressed)
        }
        unlock()
    }

    private func isClosingUnlocked() -> Bool {
        lock()
        defer { unlock() }
        return isClosing
    }

    /// Writes `bytes` to the current descriptor; returns how many lines were lost to an output error.
    private func writeAll(_ bytes: ArraySlice<UInt8>) -> Int {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let result = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if result > 0 {
                offset += result
                continue
            }
            let error = errno
            if result < 0 && error == EINTR { continue }
            if result < 0 && (error == EAGAIN || error == EWOULDBLOCK) {
                // Someone made the descriptor non-blocking (a shared stdout): wait on it, not spin.
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 1000)
                continue
            }
            // EPIPE, ENOSPC, EIO…: these lines are gone; count them rather than lose them silently.
            return bytes[offset...].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        }
        return 0
    }

    private func reopenFile() {
        guard case .file(let path) = destination else { return }
        let newFD = LogWriter.openFile(path)
        if newFD < 0 {
            // Keep writing to the old file: a rotation problem must not stop logging.
            let reason = String(cString: strerror(errno))
            let message = Array("gatehouse: error: cannot reopen log file \(path): \(reason)\n".utf8)
            message.withUnsafeBytes { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
            return
        }
        closeDescriptor(fd)
        fd = newFD
    }

    private static func openFile(_ path: String) -> Int32 {
        open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
    }

    @inline(__always) private func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) private func unlock() { pthread_mutex_unlock(mutex) }

    // MARK: - The log_dropped line

    static func droppedNotice(_ count: UInt64, epochMilliseconds: Int64 = wallClockMilliseconds()) -> [UInt8] {
        Array("{\"event_type\":\"log_dropped\",\"dropped\":\(count),\"timestamp\":\"".utf8)
            + timestamp(epochMilliseconds) + Array("\"}\n".utf8)
    }

    /// `2026-11-27T10:07:14.275Z` (the policy layer's LogFormat does the same; this target cannot import it).
    static func timestamp(_ millis: Int64) -> [UInt8] {
        let days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        let msOfDay = millis - days * 86_400_000
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let seconds = msOfDay / 1000
        var out = [UInt8]()
        out.reserveCapacity(24)
        func digits(_ value: Int64, _ width: Int) {
            var text = Array(String(value).utf8)
            while text.count < width { text.insert(UInt8(ascii: "0"), at: 0) }
            out.append(contentsOf: text)
        }
        digits(year, 4)
        out.append(UInt8(ascii: "-"))
        digits(month, 2)
        out.append(UInt8(ascii: "-"))
        digits(day, 2)
        out.append(UInt8(ascii: "T"))
        digits(seconds / 3600, 2)
        out.append(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, 2)
        out.append(UInt8(ascii: ":"))
        digits(seconds % 60, 2)
        out.append(UInt8(ascii: "."))
        digits(msOfDay % 1000, 3)
        out.append(UInt8(ascii: "Z"))
        return out
    }
}
