import GatehouseHTTP
import GatehousePosix
import Glibc

/// What an upstream connection reports to the exchange that owns it.
protocol UpstreamConnectionDelegate: AnyObject {
    func upstreamConnected(_ upstream: UpstreamConnection)
    func upstreamFailed(_ upstream: UpstreamConnection, error: SystemError?, beforeResponse: Bool)
    /// New bytes sit in `upstream.input`; or the peer closed (`eof`).
    func upstreamReadable(_ upstream: UpstreamConnection, eof: Bool)
    /// The output buffer drained below the low-water mark.
    func upstreamWritable(_ upstream: UpstreamConnection)
}

/// One connection to the upstream MCP server, owned by a loop: busy with one exchange, or idle in the pool.
final class UpstreamConnection: EventHandler {
    enum State { case connecting, connected, closed }

    unowned let loop: EventLoop
    let fd: Int32
    private(set) var state: State
    var input = ByteBuffer(capacity: 16 * 1024)
    var output = ByteBuffer(capacity: 4 * 1024)
    var parser: HTTPResponseParser
    weak var delegate: UpstreamConnectionDelegate?
    weak var pool: UpstreamPool?
    /// Reused from the pool (a failure before any response byte may be retried on a fresh connection).
    var wasReused = false
    var isReading = true
    private var wantsWrite = false
    let connectTimer: LoopTimer

    init(loop: EventLoop, fd: Int32, connecting: Bool, limits: HTTPLimits) {
        self.loop = loop
        self.fd = fd
        self.state = connecting ? .connecting : .connected
        self.parser = HTTPResponseParser(limits: limits)
        weak var weakSelf: UpstreamConnection?
        connectTimer = LoopTimer { weakSelf?.connectTimedOut() }
        weakSelf = self
        loop.register(fd, readable: !connecting, writable: connecting, handler: self)
    }

    func handleEvent(_ events: UInt32) {
        if state == .connecting {
            guard events & (EventBits.writable | EventBits.error | EventBits.hangup) != 0 else { return }
            let err = Socket.pendingError(fd)
            loop.cancel(connectTimer)
            if err != 0 {
                let d = delegate
                close()
                d?.upstreamFailed(self, error: SystemError("connect", errno: err), beforeResponse: true)
                return
            }
            state = .connected
            updateInterest()
            delegate?.upstreamConnected(self)
            if state == .connected && !output.isEmpty { flush() }
            return
        }
        if events & EventBits.writable != 0 { flush() }
        guard state == .connected else { return }
        if events & (EventBits.readable | EventBits.error | EventBits.hangup | EventBits.readHangup) != 0 {
            readAvailable()
        }
    }

    private func connectTimedOut() {
        guard state == .connecting else { return }
        let d = delegate
        close()
        d?.upstreamFailed(self, error: SystemError("connect", errno: ETIMEDOUT), beforeResponse: true)
    }

    private func readAvailable() {
        guard isReading || delegate == nil else { return }
        var eof = false
        var gotBytes = false
        readLoop: while input.readableBytes < 256 * 1024 {
            do {
                let r = try input.writeWithUnsafeMutableBytes(minimumWritableBytes: 16 * 1024) { p -> Int in
                    let n = Glibc.read(fd, p.baseAddress, p.count)
                    return n < 0 ? -Int(Glibc.errno) : n
                }
                if r > 0 { gotBytes = true; if r < 16 * 1024 { break readLoop }; continue }
                if r == 0 { eof = true; break readLoop }
                let e = Int32(-r)
                if e == EINTR { continue }
                if e == EAGAIN { break readLoop }
                throw SystemError("read", errno: e)
            } catch {
                let d = delegate
                let hadResponse = gotBytes
                close()
                d?.upstreamFailed(self, error: error as? SystemError, beforeResponse: !hadResponse)
                return
            }
        }
        guard let d = delegate else {
            // Idle in the pool: any byte or EOF means the connection is no longer usable.
            pool?.discard(self)
            return
        }
        if gotBytes || eof { d.upstreamReadable(self, eof: eof) }
    }

    /// Writes what it can of `output`; arms EPOLLOUT for the rest.
    func flush() {
        guard state == .connected else { return }
        while !output.isEmpty {
            let r = output.withUnsafeReadableBytes { p -> Int in
                let n = Glibc.send(fd, p.baseAddress, p.count, Int32(MSG_NOSIGNAL))
                return n < 0 ? -Int(Glibc.errno) : n
            }
            if r > 0 { output.moveReaderIndex(forwardBy: r); continue }
            let e = Int32(-r)
            if e == EINTR { continue }
            if e == EAGAIN { break }
            let d = delegate
            close()
            d?.upstreamFailed(self, error: SystemError("send", errno: e), beforeResponse: true)
            return
        }
        if output.isEmpty { output.clear() }
        let needWrite = !output.isEmpty
        if needWrite != wantsWrite {
            wantsWrite = needWrite
            updateInterest()
        }
        if !needWrite { delegate?.upstreamWritable(self) }
    }

    func setReading(_ on: Bool) {
        guard on != isReading else { return }
        isReading = on
        updateInterest()
        if on && !input.isEmpty { delegate?.upstreamReadable(self, eof: false) }
    }

    private func updateInterest() {
        guard state != .closed else { return }
        if state == .connecting { loop.setInterest(fd, readable: false, writable: true); return }
        loop.setInterest(fd, readable: isReading, writable: wantsWrite)
    }

    func close() {
        guard state != .closed else { return }
        state = .closed
        loop.cancel(connectTimer)
        loop.deregister(fd)
        closeDescriptor(fd)
        delegate = nil
    }
}

/// Keep-alive connections to the upstream, one pool per loop (no locking: only its loop touches it).
final class UpstreamPool {
    unowned let loop: EventLoop
    private var idle: [UpstreamConnection] = []
    private(set) var openCount = 0

    init(loop: EventLoop) {
        self.loop = loop
    }

    var idleCount: Int { idle.count }

    /// A pooled connection that is still alive, or a new one (connecting).
    func acquire(state: GatewayState) throws(SystemError) -> UpstreamConnection {
        while let c = idle.popLast() {
            if c.state == .connected && !Socket.isStale(c.fd) && c.input.isEmpty {
                c.wasReused = true
                c.isReading = true
                c.parser = HTTPResponseParser(limits: state.limits)
                return c
            }
            c.close()
            openCount -= 1
        }
        let (fd, inProgress) = try Socket.connect(to: state.upstreamAddress)
        let c = UpstreamConnection(loop: loop, fd: fd, connecting: inProgress, limits: state.limits)
        c.pool = self
        openCount += 1
        if inProgress { loop.arm(c.connectTimer, after: state.connectTimeoutMilliseconds) }
        return c
    }

    /// Returns a connection whose exchange ended cleanly; closes it when the pool is full.
    func release(_ c: UpstreamConnection, maxIdle: Int) {
        c.delegate = nil
        guard c.state == .connected, c.output.isEmpty, c.input.isEmpty, idle.count < maxIdle else {
            discard(c)
            return
        }
        c.setReading(true)
        idle.append(c)
    }

    /// Closes a connection that must not be reused.
    func discard(_ c: UpstreamConnection) {
        if let i = idle.firstIndex(where: { $0 === c }) { idle.remove(at: i) }
        if c.state != .closed { c.close() }
        openCount -= 1
    }

    func closeAll() {
        for c in idle { c.close(); openCount -= 1 }
        idle.removeAll()
    }
}
