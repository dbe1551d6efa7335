import Glibc

/// Reads and writes of one non-blocking stream socket, in clear or through a TLS session, with one result
/// convention for every connection type (client, upstream, Redis): bytes moved (> 0), 0 at the end of the
/// stream (reads), or minus an errno — EAGAIN meaning "wait for readiness".
public struct StreamTransport {
    public let fd: Int32
    public private(set) var tls: TLSConnection?
    /// A TLS read that needs the socket writable first (a TLS 1.3 key update, say): the owner asks epoll for
    /// writability and reads again when it comes.
    public var readWantsWrite = false

    public init(fd: Int32, tls: TLSConnection? = nil) {
        self.fd = fd
        self.tls = tls
    }

    public var isTLS: Bool { tls != nil }

    /// After a read shorter than asked: whether more bytes may be had without waiting for epoll. A plain
    /// socket that gave less than asked is drained (level-triggered epoll reports the next bytes); a TLS
    /// session may hold records it read ahead.
    public var mayHaveMoreInput: Bool { tls?.hasBufferedInput ?? false }

    public mutating func read(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let tls else { return Socket.receive(fd, buffer) }
        do {
            switch try tls.read(into: buffer) {
            case .bytes(let n): return n
            case .wantRead: return -Int(EAGAIN)
            case .wantWrite:
                readWantsWrite = true
                return -Int(EAGAIN)
            case .closed: return 0
            }
        } catch {
            return -Int(error.isPeerGone ? ECONNRESET : EIO)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let tls else { return Socket.send(fd, bytes) }
        do {
            switch try tls.write(bytes) {
            case .bytes(let n): return n
            case .wantRead, .wantWrite: return -Int(EAGAIN)
            case .closed: return -Int(EPIPE)
            }
        } catch {
            return -Int(error.isPeerGone ? EPIPE : EIO)
        }
    }

    /// Best-effort close_notify (never blocks); the owner closes the descriptor.
    public mutating func shutdown() {
        tls?.shutdown()
        tls = nil
    }

    /// Drops the TLS session without close_notify (a failed handshake).
    public mutating func dropTLS() {
        tls = nil
    }
}
