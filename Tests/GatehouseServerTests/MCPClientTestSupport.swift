import GatehouseConfig
import GatehouseHTTP
import GatehouseJSON
import GatehousePosix
import Glibc
import XCTest

@testable import GatehouseServer

/// One request an `UpstreamStub` received.
struct StubRequest {
    var method: String
    var target: String
    var headers: HTTPHeaders
    var body: [UInt8]
    /// The body as JSON, when it is.
    var json: JSONValue?
    var rpcMethod: String? { json?["method"]?.stringValue }
}

/// An MCP upstream served on a test's event loop: the built-in demo server, unless `override` answers
/// a request itself. Records every request; `restart()` forgets every session as a restarted server does.
final class UpstreamStub {
    let loop: EventLoop
    let fd: Int32
    let port: UInt16
    private(set) var demo = DemoMCPServer()
    private(set) var requests: [StubRequest] = []
    /// Server-side descriptors of the accepted connections.
    private(set) var acceptedDescriptors: [Int32] = []
    /// Answers a request instead of the demo server (nil: let the demo answer).
    var override: ((StubRequest) -> LocalResponse?)?
    private var listener: Listener?

    init(loop: EventLoop) throws {
        let bound = try Gateway.bindDemoServer()
        self.loop = loop
        fd = bound.fd
        port = bound.address.port
        listener = Listener(
            loop: loop, fd: fd, admit: { _ in true },
            makeConnection: { [unowned self] c, _ in
                self.acceptedDescriptors.append(c)
                _ = LocalServerConnection(loop: loop, fd: c) { [unowned self] head, body, respond in
                    respond(self.answer(head: head, body: body))
                }
            })
    }

    private func answer(head: HTTPRequestHead, body: [UInt8]) -> LocalResponse {
        let request = StubRequest(
            method: head.method, target: head.target, headers: head.headers, body: body,
            json: try? JSONReader.parse(body))
        requests.append(request)
        if let override, let response = override(request) { return response }
        return LocalResponse(demo.handle(method: head.method, target: head.target, headers: head.headers, body: body))
    }

    /// A fresh demo server: sessions handed out before are unknown (404) from now on.
    func restart() {
        demo = DemoMCPServer()
    }

    var rpcMethods: [String] { requests.compactMap(\.rpcMethod) }

    /// `http://127.0.0.1:<port>` (plus `path`) as an upstream URL.
    func url(path: String = "") -> UpstreamURL {
        UpstreamURL(scheme: .http, host: "127.0.0.1", port: port, basePath: path, authority: "127.0.0.1:\(port)")
    }

    /// A JSON answer.
    static func json(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) -> LocalResponse {
        var h = HTTPHeaders([("Content-Type", "application/json")])
        for (n, v) in headers { h.add(name: n, value: v) }
        return .complete(status: status, headers: h, body: JSONWriter.serialize(value))
    }

    /// An SSE answer with one `message` event per value.
    static func sse(_ values: [JSONValue], delayMilliseconds: Int = 0) -> LocalResponse {
        let events = values.map { value -> DemoMCPStreamEvent in
            var bytes = Array("event: message\r\ndata: ".utf8)
            bytes.append(contentsOf: JSONWriter.serialize(value))
            bytes.append(contentsOf: Array("\r\n\r\n".utf8))
            return DemoMCPStreamEvent(delayMilliseconds: delayMilliseconds, bytes: bytes)
        }
        return .stream(
            status: 200, headers: HTTPHeaders([("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]),
            events: events)
    }

    /// The JSON-RPC result message answering `request`.
    static func result(for request: StubRequest, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": request.json?["id"] ?? .null, "result": result]
    }

    static func error(for request: StubRequest, code: Int, message: String, data: JSONValue? = nil) -> JSONValue {
        var error: JSONValue = ["code": .integer(code), "message": .string(message)]
        if let data, case .object(var o) = error {
            o["data"] = data
            error = .object(o)
        }
        return ["jsonrpc": "2.0", "id": request.json?["id"] ?? .null, "error": error]
    }
}

/// Steps run one after another on an event loop driven by the test's own thread (the client and the
/// stub are loop-confined, so nothing crosses threads). Each step calls `next` when it is done.
final class LoopScript {
    let loop: EventLoop
    private var steps: [(@escaping () -> Void) -> Void] = []
    private var isFinished = false

    init(loop: EventLoop) {
        self.loop = loop
    }

    func then(_ step: @escaping (_ next: @escaping () -> Void) -> Void) {
        steps.append(step)
    }

    /// A step that waits `milliseconds` on the loop.
    func pause(_ milliseconds: Int64) {
        then { [loop] next in
            loop.arm(LoopTimer { next() }, after: milliseconds)  // the wheel keeps an armed timer alive
        }
    }

    /// Runs every step; false when they did not finish within `timeoutMilliseconds`.
    func run(timeoutMilliseconds: Int64 = 10_000) -> Bool {
        let guardTimer = LoopTimer { [loop] in loop.stop() }
        loop.arm(guardTimer, after: timeoutMilliseconds)
        runNext()
        if !isFinished { loop.run() }
        loop.cancel(guardTimer)
        return isFinished
    }

    private func runNext() {
        guard !steps.isEmpty else {
            isFinished = true
            loop.stop()
            return
        }
        let step = steps.removeFirst()
        step { [weak self] in self?.runNext() }
    }
}

/// A configuration snapshot whose upstream is `url`.
func makeState(
    upstream url: UpstreamURL, responseTimeout: Duration = .seconds(5),
    configure: (inout GatewayConfig) -> Void = { _ in }
) throws -> GatewayState {
    var config = GatewayConfig()
    config.upstream.url = url
    config.upstream.responseTimeout = responseTimeout
    config.upstream.connectTimeout = .seconds(2)
    configure(&config)
    return try GatewayState(config: config)
}

extension MCPClientResult {
    var value: Value? {
        if case .success(let v) = self { return v }
        return nil
    }
}
