import CGatehouseShims
import GatehouseHTTP
import GatehousePosix
import Glibc

/// An answer of a built-in endpoint: complete, or a chunked stream whose pieces are written after delays.
enum LocalResponse {
    case complete(status: Int, headers: HTTPHeaders, body: [UInt8])
    case stream(status: Int, headers: HTTPHeaders, events: [DemoMCPStreamEvent])

    init(_ demo: DemoMCPResponse) {
        switch demo {
        case .complete(let status, let headers, let body): self = .complete(status: status, headers: headers, body: body)
        case .stream(let status, let headers, let events): self = .stream(status: status, headers: headers, events: events)
        }
    }
}

/// Answers one request of a built-in endpoint, now or later (`respond` may be kept and called from a loop
/// callback, e.g. after an upstream connect check).
typealias LocalHandler = (_ head: HTTPRequestHead, _ body: [UInt8], _ respond: @escaping (LocalResponse) -> Void) -> Void

/// Plain HTTP for the gateway's own small servers (the demo MCP server, the admin listener) on the
/// gateway's event loop: one request at a time per connection, streamed pieces written after their delays.
final class LocalServerConnection: EventHandler {
    unowned let loop: EventLoop
    let fd: Int32
    let handler: LocalHandler
    private var isAwaitingResponse = false
    private var input = ByteBuffer(capacity: 16 * 1024)
    private var output = ByteBuffer(capacity: 4096)
    private var parser = HTTPRequestParser(limits: HTTPLimits(maxHeaderBytes: 16384, maxBodyBytes: 8 << 20))
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var pendingEvents: [DemoMCPStreamEvent] = []
    private var isStreaming = false
    private var closeAfterResponse = false
    private var isClosed = false
    private var wantsWrite = false
    private var eventTimer: LoopTimer!

    init(loop: EventLoop, fd: Int32, handler: @escaping LocalHandler) {
        self.loop = loop
        self.fd = fd
        self.handler = handler
        weak var weakSelf: LocalServerConnection?
        eventTimer = LoopTimer { weakSelf?.writeNextEvent() }
        weakSelf = self
        loop.register(fd, readable: true, writable: false, handler: self)
    }

    func handleEvent(_ events: UInt32) {
        if events & EventBits.writable != 0 { flush() }
        guard !isClosed else { return }
        var eof = false
        while true {
            let r = input.writeWithUnsafeMutableBytes(minimumWritableBytes: 16 * 1024) { p -> Int in
                return Socket.receive(fd, p)
            }
            if r > 0 { continue }
            if r == 0 || Int32(-r) != EAGAIN { eof = r == 0 || Int32(-r) != EINTR }
            break
        }
        process()
        if eof { close() }
    }

    private func process() {
        while !isClosed && !isStreaming && !closeAfterResponse && !isAwaitingResponse {
            let part: HTTPRequestPart?
            do {
                part = try parser.next(&input)
            } catch {
                output.writeString("HTTP/1.1 \(error.status) \(HTTPSerializer.reasonPhrase(error.status))\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                closeAfterResponse = true
                flush()
                return
            }
            guard let part else { return }
            switch part {
            case .head(let h):
                head = h
                body = []
            case .body(let bytes):
                body.append(contentsOf: bytes)
            case .end:
                guard let h = head else { return }
                isAwaitingResponse = true
                let method = h.method
                let keepAlive = h.keepAlive
                handler(h, body) { [weak self] response in
                    guard let self, !self.isClosed else { return }
                    self.isAwaitingResponse = false
                    if !keepAlive { self.closeAfterResponse = true }
                    self.respond(response, method: method)
                    if !self.isStreaming { self.process() }
                }
            }
        }
    }

    private func respond(_ response: LocalResponse, method: String) {
        switch response {
        case .complete(let status, let headers, let body):
            var h = headers
            h.replaceOrAdd(name: "Content-Length", value: String(body.count))
            if closeAfterResponse { h.add(name: "Connection", value: "close") }
            HTTPSerializer.writeResponseHead(status: status, headers: h, into: &output)
            if method != "HEAD" { output.writeBytes(body) }
            flush()
        case .stream(let status, let headers, let events):
            var h = headers
            h.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
            if closeAfterResponse { h.add(name: "Connection", value: "close") }
            HTTPSerializer.writeResponseHead(status: status, headers: h, into: &output)
            flush()
            isStreaming = true
            pendingEvents = events.reversed()
            scheduleNextEvent()
        }
    }

    private func scheduleNextEvent() {
        guard let next = pendingEvents.last else {
            HTTPSerializer.writeLastChunk(into: &output)
            isStreaming = false
            flush()
            process()
            return
        }
        if next.delayMilliseconds <= 0 {
            writeNextEvent()
        } else {
            loop.arm(eventTimer, after: Int64(next.delayMilliseconds))
        }
    }

    private func writeNextEvent() {
        guard !isClosed, let event = pendingEvents.popLast() else { return }
        HTTPSerializer.writeChunk(event.bytes, into: &output)
        flush()
        scheduleNextEvent()
    }

    private func flush() {
        guard !isClosed else { return }
        while !output.isEmpty {
            let r = output.withUnsafeReadableBytes { p -> Int in
                return Socket.send(fd, p)
            }
            if r > 0 { output.moveReaderIndex(forwardBy: r); continue }
            if Int32(-r) == EINTR { continue }
            if Int32(-r) == EAGAIN { break }
            close()
            return
        }
        if output.isEmpty {
            output.clear()
            if closeAfterResponse && !isStreaming { close(); return }
        }
        if wantsWrite != !output.isEmpty {
            wantsWrite = !output.isEmpty
            loop.setInterest(fd, readable: true, writable: wantsWrite)
        }
    }

    private func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.cancel(eventTimer)
        loop.deregister(fd)
        closeDescriptor(fd)
    }
}

extension Gateway {
    /// Binds the demo MCP server on 127.0.0.1 (a free port) and returns the socket and its address; attach it
    /// with `attachDemoServer` before `start()`.
    public static func bindDemoServer() throws -> (fd: Int32, address: SocketAddress) {
        let fd = try Socket.listen(on: try SocketAddress.resolve(host: "127.0.0.1", port: 0), reusePort: false)
        return (fd, try Socket.localAddress(of: fd))
    }

    /// Serves the demo MCP server on the first event loop.
    public func attachDemoServer(fd: Int32) {
        let server = DemoMCPServer()
        attachLocalServer(fd: fd, loop: loops[0]) { head, body, respond in
            respond(LocalResponse(server.handle(method: head.method, target: head.target, headers: head.headers, body: body)))
        }
    }

    /// Serves a built-in endpoint on `loop` from a listening socket.
    func attachLocalServer(fd: Int32, loop: EventLoop, handler: @escaping LocalHandler) {
        let listener = Listener(
            loop: loop, fd: fd, admit: { _ in true },
            makeConnection: { c, _ in _ = LocalServerConnection(loop: loop, fd: c, handler: handler) })
        retainExtra(listener)
    }
}
