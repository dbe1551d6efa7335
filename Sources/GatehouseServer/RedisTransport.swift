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
    /// The socket, in clear or through TLS (rediss://).
    private var transport: StreamTransport
    private var wantsWrite = false
    /// Bytes read per readiness event before yielding to other handlers of the loop.
    private static let readBudget = 256 * 1024

    /// Starts connecting to `address`; with `tlsContext`, a TLS client session checks the server's
    /// certificate against `serverName`.
    init(loop: EventLoop, address: SocketAddress, tlsContext: TLSContext?, serverName: String) throws(SystemError) {
        self.loop = loop
        let (fd, _) = try Socket.connect(to: address)
        self.fd = fd
        var session: TLSConnection?
        if let tlsContext {
            do {
                session = try TLSConnection(context: tlsContext, fd: fd, serverName: serverName)
            } catch {
                closeDescriptor(fd)
                throw SystemError("TLS to Redis: \(error.message)", errno: EPROTO)
            }
        }
        transport = StreamTransport(fd: fd, tls: session)
        // Even a connect that finished at once reports through writability: one path for both.
        loop.register(fd, readable: false, writable: true, handler: self)
    }

    func handleEvent(_ events: UInt32) {
        switch state {
        case .closed: return
        case .connecting: continueConnecting(events)
        case .open:
            if transport.readWantsWrite && events & EventBits.writable != 0 {
                transport.readWantsWrite = false
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
                fail(error.message)
                return
            }
        }
        state = .open
        updateInterest()
        delegate?.transportConnected(self)
    }

    private func readAvailable() {
        var gotBytes = false
        var total = 0
        // Past the budget, only what OpenSSL already decrypted is taken (epoll would not report it again).
        while total < Self.readBudget || transport.tls?.hasBufferedPlaintext == true {
            let r = input.writeWithUnsafeMutableBytes(minimumWritableBytes: 16 * 1024) { p -> Int in
                transport.read(p)
            }
            if transport.readWantsWrite { updateInterest() }
            if r > 0 {
                gotBytes = true
                total += r
                // A short plain read emptied the socket; TLS may hold more decrypted bytes than epoll sees.
                if r < 16 * 1024 && !transport.isTLS { break }
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
            let r = output.withUnsafeReadableBytes { p -> Int in transport.write(p) }
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
        loop.setInterest(fd, readable: true, writable: wantsWrite || transport.readWantsWrite)
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
        transport.shutdown()
        delegate = nil
        loop.deregister(fd)
        closeDescriptor(fd)
    }
}
