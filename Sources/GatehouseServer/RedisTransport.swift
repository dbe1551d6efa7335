import GatehouseHTTP
import GatehousePosix
import Glibc

/// What a Redis socket reports to the connection that owns it.
protocol RedisTransportDelegate: AnyObject {
    /// TCP (and TLS) is up: bytes can be written.
    func transportConnected(_ transport: RedisTransport)
    /// New bytes sit in `transport.input`.
    func transportReadable(_ transport: RedisTransport)
    /// The socket is unusable (refused, reset, closed by Redis, TLS failure); it is already closed.
    func transportFailed(_ transport: RedisTransport, reason: String)
}

/// One socket to Redis on an event loop: a non-blocking connect, an optional TLS handshake, then bytes
/// in and out (the transport half of `UpstreamConnection`). A failed transport is never reused: the
/// connection makes a new one for the next attempt.
final class RedisTransport: EventHandler {
    enum State { case connecting, open, closed }

    unowned let loop: EventLoop
    let fd: Int32
    private(set) var state = State.connecting
    var input = ByteBuffer(capacity: 4 * 1024)
    var output = ByteBuffer(capacity: 4 * 1024)
    weak var delegate: RedisTransportDelegate?
    private var tls: TLSConnection?
    private var wantsWrite = false
    private var tlsWantsWrite = false
    /// Bytes read per readiness event before yielding to other handlers of the loop.
    private static let readBudget = 256 * 1024

    /// Starts connecting to `address`; with `tlsContext`, a TLS client session checks the server's
    /// certificate against `serverName`.
    init(loop: EventLoop, address: SocketAddress, tlsContext: TLSContext?, serverName: String) throws(SystemError) {
        self.loop = loop
        let (fd, _) = try Socket.connect(to: address)
        self.fd = fd
        if let tlsContext {
            do {
                tls = try TLSConnection(context: tlsContext, fd: fd, serverName: serverName)
            } catch {
                closeDescriptor(fd)
                throw SystemError("TLS to Redis: \(error.message)", errno: EPROTO)
            }
        }
        // Even a connect that finished at once reports through writability: one path for both.
        loop.register(fd, readable: false, writable: true, handler: self)
    }

    func handleEvent(_ events: UInt32) {
        switch state {
        case .closed: return
        case .connecting: continueConnecting(events)
        case .open:
            if tlsWantsWrite && events & EventBits.writable != 0 {
                tlsWantsWrite = false
                updateInterest()
                readAvailable()
                guard state == .open else { return }
            }
            if events & EventBits.writable != 0 { flush() }
            guard state == .open else { return }
            if events & (EventBits.readable | EventBits.error | EventBits.hangup | EventBits.readHangup) != 0 {
                readAvailable()
            }
        }
    }

    private func continueConnecting(_ events: UInt32) {
        guard events & (EventBits.writable | EventBits.readable | EventBits.error | EventBits.hangup) != 0 else {
            return
        }
        let error = Socket.pendingError(fd)
        if error != 0 {
            fail(SystemError("connect", errno: error).description)
            return
        }
        if let tls {
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
                fail(error.message)
                return
            }
        }
        state = .open
        updateInterest()
        delegate?.transportConnected(self)
    }

    /// Bytes read (> 0), 0 at end of stream, or minus an errno (EAGAIN: wait).
    private func transportRead(_ p: UnsafeMutableRawBufferPointer) -> Int {
        guard let tls else {
            let n = Glibc.read(fd, p.baseAddress, p.count)
            return n < 0 ? -Int(Glibc.errno) : n
        }
        do {
            switch try tls.read(into: p) {
            case .bytes(let n): return n
            case .wantRead: return -Int(EAGAIN)
            case .wantWrite:
                tlsWantsWrite = true
                updateInterest()
                return -Int(EAGAIN)
            case .closed: return 0
            }
        } catch {
            return -Int(error.isPeerGone ? ECONNRESET : EIO)
        }
    }

    private func transportWrite(_ p: UnsafeRawBufferPointer) -> Int {
        guard let tls else {
            let n = Glibc.send(fd, p.baseAddress, p.count, Int32(MSG_NOSIGNAL))
            return n < 0 ? -Int(Glibc.errno) : n
        }
        do {
            switch try tls.write(p) {
            case .bytes(let n): return n
            case .wantRead, .wantWrite: return -Int(EAGAIN)
            case .closed: return -Int(EPIPE)
            }
        } catch {
            return -Int(error.isPeerGone ? EPIPE : EIO)
        }
    }

    private func readAvailable() {
        var gotBytes = false
        var total = 0
        // Past the budget, only what OpenSSL already decrypted is taken (epoll would not report it again).
        while total < Self.readBudget || tls?.hasBufferedPlaintext == true {
            let r = input.writeWithUnsafeMutableBytes(minimumWritableBytes: 16 * 1024) { p -> Int in
                transportRead(p)
            }
            if r > 0 {
                gotBytes = true
                total += r
                // A short plain read emptied the socket; TLS may hold more decrypted bytes than epoll sees.
                if r < 16 * 1024 && tls == nil { break }
                continue
            }
            if r == 0 {
                if gotBytes { delegate?.transportReadable(self) }
                guard state == .open else { return }
                fail("Redis closed the connection")
                return
            }
            let e = Int32(-r)
            if e == EINTR { continue }
            if e == EAGAIN { break }
            if gotBytes { delegate?.transportReadable(self) }
            guard state == .open else { return }
            fail(SystemError("read", errno: e).description)
            return
        }
        if gotBytes { delegate?.transportReadable(self) }
    }

    /// Writes what it can of `output`; arms EPOLLOUT for the rest.
    func flush() {
        guard state == .open else { return }
        while !output.isEmpty {
            let r = output.withUnsafeReadableBytes { p -> Int in transportWrite(p) }
            if r > 0 {
                output.moveReaderIndex(forwardBy: r)
                continue
            }
            let e = Int32(-r)
            if e == EINTR { continue }
            if e == EAGAIN { break }
            fail(SystemError("send", errno: e).description)
            return
        }
        let needWrite = !output.isEmpty
        if needWrite != wantsWrite {
            wantsWrite = needWrite
            updateInterest()
        }
    }

    private func updateInterest() {
        guard state == .open else { return }
        loop.setInterest(fd, readable: true, writable: wantsWrite || tlsWantsWrite)
    }

    private func fail(_ reason: String) {
        let d = delegate
        close()
        d?.transportFailed(self, reason: reason)
    }

    /// Closes the socket without telling the delegate.
    func close() {
        guard state != .closed else { return }
        state = .closed
        tls?.shutdown()
        tls = nil
        delegate = nil
        loop.deregister(fd)
        closeDescriptor(fd)
    }
}
