import GatehouseHTTP
import GatehouseJSON
import GatehousePolicy
import GatehousePosix

/// One POST of the MCP client to the upstream: a connection from the pool, the request written, the
/// answer read until its JSON-RPC response shows up — whole for `application/json`, event by event for
/// `text/event-stream` (notifications and server requests before it are skipped).
///
/// A pooled connection that fails before any byte of an answer (the upstream closed it while idle) is
/// replaced by a fresh one and the request written again — unless the request is `replayable: false`
/// (a `tools/call`: the upstream may have begun it before the connection broke, and a tool's side effect
/// must not happen twice). The connection goes back to the pool after a
/// complete answer that keeps it alive. An SSE stream still open after its response is read (and
/// ignored) for a moment longer, as SDK servers end it right after the response; it is closed if it
/// does not end by then.
/// Time limits belong to the owner, which calls `cancel`.
final class MCPExchange: UpstreamConnectionDelegate {
    /// How the exchange ended.
    enum Outcome {
        /// An HTTP answer; `message` is the JSON-RPC response in it (nil: none, e.g. a 202 or an HTML error).
        case answered(status: Int, headers: HTTPHeaders, message: JSONValue?)
        /// No HTTP answer: connect refused, reset, closed early, or not HTTP.
        case failed(reason: String)
    }

    /// Answers larger than this (a tool result is held whole) are refused.
    static let maxAnswerBytes = 16 << 20
    /// How long an SSE stream may stay open after its response before its connection is closed.
    static let drainMilliseconds: Int64 = 1000

    private let pool: UpstreamPool
    private let state: GatewayState
    private let target: String
    private let headers: [(String, String)]
    private let body: [UInt8]
    private let isReplayable: Bool
    private var completion: ((Outcome) -> Void)?
    private var connection: UpstreamConnection?
    private var head: HTTPResponseHead?
    private var answerBody: [UInt8] = []
    private var events: SSEParser?
    /// The response was found (in an SSE stream, possibly before the stream's end).
    private var isAnswered = false
    /// While an answered SSE stream drains: the exchange keeps itself alive (its owner let go of it).
    private var drainingSelf: MCPExchange?
    private var drainTimer: LoopTimer?

    init(
        pool: UpstreamPool, state: GatewayState, target: String, headers: [(String, String)], body: [UInt8],
        replayable: Bool = true, completion: @escaping (Outcome) -> Void
    ) {
        self.isReplayable = replayable
        self.pool = pool
        self.state = state
        self.target = target
        self.headers = headers
        self.body = body
        self.completion = completion
    }

    /// Connects (or takes a pooled connection) and writes the request. The completion may run before
    /// `start` returns.
    func start(fresh: Bool = false) {
        let c: UpstreamConnection
        do {
            c = try pool.acquire(state: state, fresh: fresh)
        } catch {
            finish(.failed(reason: error.description))
            return
        }
        c.delegate = self
        connection = c
        head = nil
        answerBody = []
        events = nil
        c.parser.expectResponse(toRequestMethod: "POST")
        var fields = HTTPHeaders()
        fields.reserveCapacity(headers.count + 6)
        fields.add(name: "Host", value: state.upstreamAuthority)
        fields.add(name: "Content-Type", value: "application/json")
        fields.add(name: "Accept", value: "application/json, text/event-stream")
        fields.add(name: "User-Agent", value: "gatehouse/\(MCPClient.clientVersion)")
        for (name, value) in headers { fields.add(name: name, value: value) }
        fields.add(name: "Content-Length", value: String(body.count))
        HTTPSerializer.writeRequestHead(method: "POST", target: target, headers: fields, into: &c.output)
        c.output.writeBytes(body)
        if c.state == .connected { c.flush() }
    }

    /// Abandons the exchange: no completion, the connection closed (a 2026-07-28 server takes that as
    /// the request's cancellation).
    func cancel() {
        completion = nil
        dropConnection()
    }

    // MARK: UpstreamConnectionDelegate

    func upstreamConnected(_ upstream: UpstreamConnection) {}
    func upstreamWritable(_ upstream: UpstreamConnection) {}

    /// A pooled connection broke before any byte of the answer and the request may be sent again.
    private func mayReplay(_ upstream: UpstreamConnection) -> Bool {
        head == nil && upstream.failedAsStaleIdle && isReplayable && completion != nil
    }

    func upstreamFailed(_ upstream: UpstreamConnection, error: SystemError?, beforeResponse: Bool) {
        guard connection === upstream else { return }
        connection = nil
        pool.discard(upstream)
        stopDraining()
        if mayReplay(upstream) {
            start(fresh: true)  // an idle connection the upstream had closed: once more on a new one
            return
        }
        let reason = error.map { "upstream: \($0)" } ?? "upstream connection failed"
        finish(.failed(reason: reason))
    }

    func upstreamReadable(_ upstream: UpstreamConnection, eof: Bool) {
        guard connection === upstream else { return }
        do {
            while connection === upstream, let part = try upstream.parser.next(&upstream.input) {
                handle(part, upstream)
            }
            if eof, connection === upstream {
                if let part = try upstream.parser.finish() {
                    handle(part, upstream)
                } else if mayReplay(upstream) {
                    connection = nil
                    pool.discard(upstream)
                    start(fresh: true)
                    return
                }
                if connection === upstream { fail("the upstream closed the connection before the answer ended") }
            }
        } catch {
            fail("the upstream's answer is not valid HTTP: \(error)")
            return
        }
        // The response came in an SSE stream that is still open: read on to its end, briefly.
        if isAnswered, connection === upstream, drainTimer == nil {
            drainingSelf = self
            let timer = LoopTimer { [weak self] in self?.dropConnection() }
            drainTimer = timer
            pool.loop.arm(timer, after: Self.drainMilliseconds)
        }
    }

    // MARK: The answer

    private func handle(_ part: HTTPResponsePart, _ upstream: UpstreamConnection) {
        switch part {
        case .head(let h):
            head = h
            let type = h.headers.first(name: "Content-Type")?.lowercased() ?? ""
            if type.hasPrefix("text/event-stream") { events = SSEParser() }
        case .body(let bytes):
            guard !isAnswered else { return }
            if var parser = events {
                let parsed = parser.feed(bytes)
                events = parser
                for (event, _) in parsed where !event.isCommentOnly && (event.event ?? "message") == "message" {
                    guard let message = Self.response(in: event.data.utf8) else { continue }
                    answer(message)
                    return
                }
                if parser.pendingByteCount > Self.maxAnswerBytes { fail("an SSE event of the upstream is over 16 MiB") }
                return
            }
            answerBody.append(contentsOf: bytes)
            if answerBody.count > Self.maxAnswerBytes { fail("the upstream's answer is over 16 MiB") }
        case .end:
            // Back to the pool before the owner hears of the answer, so that its next request can reuse it.
            if let h = head, connection === upstream {
                connection = nil
                upstream.delegate = nil
                if h.keepAlive && h.framing != .untilClose && upstream.input.isEmpty {
                    pool.release(upstream, maxIdle: state.maxIdleUpstreamConnections)
                } else {
                    pool.discard(upstream)
                }
                stopDraining()
            }
            if !isAnswered {
                let message: JSONValue? = events == nil ? Self.response(in: answerBody) : JSONValue?.none
                answer(message)
            }
        }
    }

    private func answer(_ message: JSONValue?) {
        isAnswered = true
        answerBody = []
        finish(.answered(status: head?.status ?? 0, headers: head?.headers ?? HTTPHeaders(), message: message))
    }

    /// The JSON-RPC response in `bytes`: an object with `result` or `error` and no `method` (one request
    /// per POST, so it is ours), or the first such element of a batch. Nil for anything else.
    static func response<C: Collection>(in bytes: C) -> JSONValue? where C.Element == UInt8 {
        guard !bytes.isEmpty, let value = try? JSONReader.parse(bytes, maxDepth: MCPResponseFilter.maxResponseDepth)
        else { return JSONValue?.none }
        func isResponse(_ v: JSONValue) -> Bool {
            guard case .object(let o) = v else { return false }
            return o["method"] == nil && (o["result"] != nil || o["error"] != nil)
        }
        // Spelled out: JSONValue is ExpressibleByNilLiteral, so a bare `nil` here could read as JSON null.
        switch value {
        case .object where isResponse(value): return .some(value)
        case .array(let elements): return elements.first(where: isResponse)
        default: return JSONValue?.none
        }
    }

    private func fail(_ reason: String) {
        dropConnection()
        finish(.failed(reason: reason))
    }

    private func dropConnection() {
        if let c = connection {
            connection = nil
            c.delegate = nil
            pool.discard(c)
        }
        stopDraining()
    }

    private func stopDraining() {
        if let timer = drainTimer { pool.loop.cancel(timer) }
        drainTimer = nil
        drainingSelf = nil
    }

    private func finish(_ outcome: Outcome) {
        guard let completion else { return }
        self.completion = nil
        completion(outcome)
    }
}
