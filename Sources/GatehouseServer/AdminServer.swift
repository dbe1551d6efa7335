import GatehouseConfig
import GatehouseHTTP
import GatehousePosix
import Glibc
import Synchronization

/// Checks that the upstream accepts a TCP connection (for /readyz), without blocking the loop.
final class ConnectProbe: EventHandler {
    unowned let loop: EventLoop
    private let fd: Int32
    private var completion: ((Bool) -> Void)?
    private var timer: LoopTimer!

    /// Starts connecting; `completion` gets true when the connection is established within `timeoutMilliseconds`.
    static func start(loop: EventLoop, address: SocketAddress, timeoutMilliseconds: Int64, completion: @escaping (Bool) -> Void) {
        guard let (fd, inProgress) = try? Socket.connect(to: address) else {
            completion(false)
            return
        }
        if !inProgress {
            closeDescriptor(fd)
            completion(true)
            return
        }
        let probe = ConnectProbe(loop: loop, fd: fd, completion: completion)
        loop.arm(probe.timer, after: timeoutMilliseconds)
    }

    private init(loop: EventLoop, fd: Int32, completion: @escaping (Bool) -> Void) {
        self.loop = loop
        self.fd = fd
        self.completion = completion
        // The loop's registration keeps the probe alive until it finishes.
        timer = LoopTimer { [unowned(unsafe) self] in self.finish(false) }
        loop.register(fd, readable: false, writable: true, handler: self)
    }

    func handleEvent(_ events: UInt32) {
        finish(Socket.pendingError(fd) == 0)
    }

    private func finish(_ ok: Bool) {
        guard let c = completion else { return }
        completion = nil
        loop.cancel(timer)
        loop.deregister(fd)
        closeDescriptor(fd)
        c(ok)
    }
}

extension Gateway {
    /// Binds `admin.listen` and serves /healthz, /readyz and /metrics on the first loop. Call before `start()`.
    public func attachAdminServer(_ address: ListenAddress) throws {
        let socketAddress: SocketAddress
        let fd: Int32
        do {
            socketAddress = try SocketAddress.resolve(host: address.host, port: address.port)
            fd = try Socket.listen(on: socketAddress, reusePort: false)
        } catch {
            throw GatewayStartError(message: "admin.listen: cannot listen on \(address): \(error)", isConfiguration: false)
        }
        adminAddress = try? Socket.localAddress(of: fd)
        let loops = self.loops
        let home = loops[0]
        attachLocalServer(fd: fd, loop: home) { [weak self] head, _, respond in
            guard let self else { return }
            let json = HTTPHeaders([("Content-Type", "application/json"), ("Cache-Control", "no-store")])
            guard head.method == "GET" || head.method == "HEAD" else {
                respond(.complete(status: 405, headers: HTTPHeaders([("Allow", "GET, HEAD"), ("Content-Type", "application/json")]),
                                  body: Array(#"{"error":"Method not allowed"}"#.utf8)))
                return
            }
            switch head.path {
            case "/healthz":
                // Healthy while every loop still runs tasks: each one answers a ping through the admin loop.
                let round = PingState(expected: loops.count, respond: respond)
                let timer = LoopTimer {
                    if round.finish() {
                        round.respond(.complete(status: 503, headers: json, body: Array(#"{"status":"unhealthy"}"#.utf8)))
                    }
                }
                round.timer = timer
                home.arm(timer, after: 2000)
                let bound = LoopBound(value: round)
                for loop in loops {
                    loop.execute {
                        home.execute {
                            let round = bound.value
                            round.answered += 1
                            if round.answered == round.expected, let timer = round.timer, round.finish() {
                                home.cancel(timer)
                                round.respond(.complete(status: 200, headers: json, body: Array(#"{"status":"ok"}"#.utf8)))
                            }
                        }
                    }
                }
            case "/readyz":
                let state = self.state
                ConnectProbe.start(loop: home, address: state.upstreamAddress, timeoutMilliseconds: min(state.connectTimeoutMilliseconds, 2000)) { ok in
                    respond(.complete(
                        status: ok ? 200 : 503, headers: json,
                        body: Array((ok ? #"{"status":"ready"}"# : #"{"status":"upstream unreachable"}"#).utf8)))
                }
            case "/metrics":
                respond(.complete(
                    status: 200, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                    body: self.renderMetrics()))
            default:
                respond(.complete(status: 404, headers: json, body: Array(#"{"error":"Not found"}"#.utf8)))
            }
        }
    }
}

/// The answers of a /healthz ping round, confined to the admin loop.
final class PingState {
    let expected: Int
    let respond: (LocalResponse) -> Void
    var answered = 0
    var isFinished = false
    var timer: LoopTimer?

    init(expected: Int, respond: @escaping (LocalResponse) -> Void) {
        self.expected = expected
        self.respond = respond
    }

    /// Marks the round finished; true the first time only.
    func finish() -> Bool {
        if isFinished { return false }
        isFinished = true
        timer = nil  // the timer's closure holds this round: break the cycle
        return true
    }
}
