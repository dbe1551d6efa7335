import GatehousePosix
import Glibc

/// A listening socket on one loop (each loop binds the same port with SO_REUSEPORT, so the kernel spreads
/// new connections over the loops and no connection ever moves between threads).
final class Listener: EventHandler {
    unowned let loop: EventLoop
    let fd: Int32
    private let makeConnection: (Int32, SocketAddress) -> Void
    private let admit: (SocketAddress) -> Bool
    private var isOpen = true
    private var backoffTimer: LoopTimer!

    /// `admit` decides whether one more connection may be taken (max_connections); `makeConnection`
    /// takes ownership of the accepted descriptor.
    init(loop: EventLoop, fd: Int32, admit: @escaping (SocketAddress) -> Bool, makeConnection: @escaping (Int32, SocketAddress) -> Void) {
        self.loop = loop
        self.fd = fd
        self.admit = admit
        self.makeConnection = makeConnection
        weak var weakSelf: Listener?
        backoffTimer = LoopTimer { weakSelf?.resume() }
        weakSelf = self
        loop.register(fd, readable: true, writable: false, handler: self)
    }

    func handleEvent(_ events: UInt32) {
        // A bounded batch per wake-up keeps one busy listener from starving the loop's connections.
        for _ in 0..<64 {
            guard isOpen else { return }
            let accepted: (fd: Int32, peer: SocketAddress)?
            do {
                accepted = try Socket.accept(fd)
            } catch {
                if error.errno == EMFILE || error.errno == ENFILE || error.errno == ENOBUFS || error.errno == ENOMEM {
                    // Out of descriptors: stop accepting for a moment instead of spinning on a ready socket.
                    loop.setInterest(fd, readable: false, writable: false)
                    loop.arm(backoffTimer, after: 100)
                }
                return
            }
            guard let (c, peer) = accepted else { return }
            if !admit(peer) {
                closeDescriptor(c)
                continue
            }
            makeConnection(c, peer)
        }
    }

    private func resume() {
        guard isOpen else { return }
        loop.setInterest(fd, readable: true, writable: false)
    }

    /// Stops accepting (drain); connections already accepted carry on.
    func close() {
        guard isOpen else { return }
        isOpen = false
        loop.cancel(backoffTimer)
        loop.deregister(fd)
        closeDescriptor(fd)
    }
}
