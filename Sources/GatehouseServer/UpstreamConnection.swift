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

    let loop: EventLoop
    let fd: Int32
    private(set) var state: State
    var input = ByteBuffer(capacity: 16 * 1024)
    var output = ByteBuffer(capacity: 4 * 1024)
    var parser: HTTPResponseParser
    weak var delegate: UpstreamConnectionDelegate?
    weak var pool: UpstreamPool?
    /// Reused from the pool (a failure before any response byte may be retried on a fresh connection).
    var wasReused = false
    /// Bytes read from the upstream in the current exchange (0: the upstream has not begun to answer).
    var bytesReceived = 0
    /// When it went back to the pool (the loop's clock, milliseconds).
    var idleSince: Int64 = 0
    /// Taken from the pool and failed before any byte of an answer: the upstream most likely closed it while
    /// it was idle, and the request may be sent again on a fresh connection if sending it twice is harmless.
    var failedAsStaleIdle: Bool { wasReused && bytesReceived == 0 }
    /// The configuration it was opened under: after a reload, idle connections of an older one are closed
    /// instead of reused (the upstream address or its TLS settings may have changed).
    weak var openedUnder: GatewayState?
    var isReading = true
    private var wantsWrite = false
    let connectTimer: LoopTimer
    /// The socket, through TLS for an https upstream (its handshake runs after the TCP connect, before any
    /// request byte).
    private var transport: StreamTransport

    init(loop: EventLoop, fd: Int32, connecting: Bool, limits: HTTPLimits, tls: TLSConnection?) {
        self.loop = loop
        self.fd = fd
        self.transport = StreamTransport(fd: fd, tls: tls)
        self.state = connecting || tls != nil ? .connecting : .connected
        self.parser = HTTPResponseParser(limits: limits)
        weak var weakSelf: UpstreamConnection?
        connectTimer = LoopTimer { weakSelf?.connectTimedOut() }
        weakSelf = self
        let isConnecting = state == .connecting
        loop.register(fd, readable: !isConnecting, writable: isConnecting, handler: self)
    }

    func handleEvent(_ events: UInt32) {
        if state == .connecting {
            guard events & (EventBits.writable | EventBits.readable | EventBits.error | EventBits.hangup) != 0 else { return }
            let err = Socket.pendingError(fd)
            if err != 0 {
                failConnect(SystemError("connect", errno: err))
                return
            }
            if let tls = transport.tls {
                do {
                    switch try tls.handshake() {
                    case .wantRead:
                        loop.setInterest(fd, readable: true, writable: false)
                        return
                    case .wantWrite:
                        loop.setInterest(fd, readable: false, writable: true)
                        return
                    case .done: break
                    }
                } catch {
                    failConnect(SystemError("TLS handshake with the upstream: \(error.message)", errno: ECONNREFUSED))
                    return
                }
            }
            loop.cancel(connectTimer)
            state = .connected
            updateInterest()
            delegate?.upstreamConnected(self)
            if state == .connected && !output.isEmpty { flush() }
            return
        }
        if transport.readWantsWrite && events & EventBits.writable != 0 {
            transport.readWantsWrite = false
            updateInterest()
            readAvailable()
        }
        if events & EventBits.writable != 0 { flush() }
        guard state == .connected else { return }
        if events & (EventBits.readable | EventBits.error | EventBits.hangup | EventBits.readHangup) != 0 {
            readAvailable()
        }
    }

    private func connectTimedOut() {
        guard state == .connecting else { return }
        failConnect(SystemError("connect", errno: ETIMEDOUT))
    }

    private func failConnect(_ error: SystemError) {
        loop.cancel(connectTimer)
        let d = delegate
        close()
        d?.upstreamFailed(self, error: error, beforeResponse: true)
    }

    private func readAvailable() {
        guard isReading || delegate == nil else { return }
        var eof = false
        var gotBytes = false
        var drained = false
        readLoop: while input.readableBytes < 256 * 1024 {
            do {
                let r = input.writeWithUnsafeMutableBytes(minimumWritableBytes: 16 * 1024) { p -> Int in
                    transport.read(p)
                }
                if transport.readWantsWrite { updateInterest() }
                if r > 0 {
                    gotBytes = true
                    bytesReceived += r
                    if r < 16 * 1024 && !transport.mayHaveMoreInput {
                        drained = true
                        break readLoop
                    }
                    continue
                }
                if r == 0 { eof = true; break readLoop }
                let e = Int32(-r)
                if e == EINTR { continue }
                if e == EAGAIN {
                    drained = true
                    break readLoop
                }
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
        // Stopped at the buffer cap with records still inside TLS: epoll cannot see them.
        if !drained && !eof && state == .connected && isReading && transport.mayHaveMoreInput { loop.markReadable(fd) }
    }

    /// Writes what it can of `output`; arms EPOLLOUT for the rest.
    func flush() {
        guard state == .connected else { return }
        while !output.isEmpty {
            let r = output.withUnsafeReadableBytes { p -> Int in transport.write(p) }
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
        if on && state == .connected && transport.mayHaveMoreInput { loop.markReadable(fd) }
        if on && !input.isEmpty { delegate?.upstreamReadable(self, eof: false) }
    }

    private func updateInterest() {
        guard state != .closed else { return }
        if state == .connecting { loop.setInterest(fd, readable: false, writable: true); return }
        loop.setInterest(fd, readable: isReading, writable: wantsWrite || transport.readWantsWrite)
    }

    func close() {
        guard state != .closed else { return }
        state = .closed
        loop.cancel(connectTimer)
        transport.dropTLS()
        loop.deregister(fd)
        closeDescriptor(fd)
        delegate = nil
    }
}

/// Keep-alive connections to the upstream, one pool per loop (no locking: only its loop touches it).
final class UpstreamPool {
    /// A pooled connection idle this long is not reused but closed. Servers close idle keep-alive
    /// connections on their own clock (uvicorn — the MCP Python SDK's server — after 5 s, gunicorn after
    /// 2 s); a request sent just as they do meets a connection that is already gone. Reusing only
    /// connections idle for less than that avoids the race instead of replaying after it (which a
    /// `tools/call` never is).
    static let maxIdleMilliseconds: Int64 = 2000

    let loop: EventLoop
    private var idle: [UpstreamConnection] = []
    private(set) var openCount = 0 {
        didSet { onCountChange?(openCount) }
    }
    /// Publishes the open count (for /metrics, read from another thread).
    var onCountChange: ((Int) -> Void)?

    init(loop: EventLoop) {
        self.loop = loop
    }

    var idleCount: Int { idle.count }

    /// A pooled connection that is still alive, or a new one (connecting); `fresh` skips the pool (a replay
    /// after a pooled connection failed).
    func acquire(state: GatewayState, fresh: Bool = false) throws(SystemError) -> UpstreamConnection {
        while !fresh, let c = idle.popLast() {
            if c.state == .connected && c.openedUnder === state && loop.now - c.idleSince < Self.maxIdleMilliseconds
                && !Socket.isStale(c.fd) && c.input.isEmpty
            {
                c.wasReused = true
                c.bytesReceived = 0
                c.isReading = true
                c.parser = HTTPResponseParser(limits: state.limits)
                return c
            }
            c.close()
            openCount -= 1
        }
        let (fd, inProgress) = try Socket.connect(to: state.upstreamAddress)
        var session: TLSConnection?
        if let context = state.upstreamTLSContext {
            do {
                session = try TLSConnection(context: context, fd: fd, serverName: state.upstreamServerName)
            } catch {
                closeDescriptor(fd)
                throw SystemError("TLS to the upstream: \(error.message)", errno: EPROTO)
            }
        }
        let c = UpstreamConnection(loop: loop, fd: fd, connecting: inProgress, limits: state.limits, tls: session)
        c.pool = self
        c.openedUnder = state
        openCount += 1
        // The connect timeout covers the TCP connect and the TLS handshake.
        if c.state == .connecting { loop.arm(c.connectTimer, after: state.connectTimeoutMilliseconds) }
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
        c.idleSince = loop.now
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
