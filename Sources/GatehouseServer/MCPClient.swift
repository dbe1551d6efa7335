import GatehouseHTTP
import GatehouseJSON
import GatehousePolicy
import GatehousePosix

/// What one request the gateway made as an MCP client came to.
public enum MCPClientResult<Value> {
    /// The JSON-RPC `result` (for `tools/call` a CallToolResult, `isError` included).
    case success(Value)
    /// The upstream answered with a JSON-RPC `error` object (given whole).
    case rpcError(JSONValue)
    /// No answer within the caller's timeout.
    case timeout
    /// The upstream could not be reached, or did not answer as an MCP server does.
    case unavailable(reason: String)
}

/// Calls upstream tools for the REST door: the gateway's `MCPClient`, or a stand-in in tests.
public protocol MCPToolCalling: AnyObject {
    /// Serve with `state` from now on (a reload may have moved the upstream).
    func use(_ state: GatewayState)

    /// Calls `name` with `arguments` (a JSON object); `headers` are added to the upstream request.
    /// `completion` runs once, on the loop.
    func callTool(
        name: String, arguments: JSONValue, timeoutMilliseconds: Int64, headers: [(String, String)],
        completion: @escaping (MCPClientResult<JSONValue>) -> Void)
}

/// The gateway as an MCP client of its upstream (Streamable HTTP), confined to one event loop.
///
/// It opens one session and shares it among every request made on its loop. The session is opened as
/// the 2.x Python SDK client does in automatic mode: a `server/discover` probe first; a server that
/// answers it with `2026-07-28` among its versions is spoken to in that revision (no session, the
/// version in each request's `_meta` and headers); anything else — a 400 `Missing session ID`, a
/// JSON-RPC error such as -32601 — falls back to `initialize` + `notifications/initialized`. Once a
/// server is known to be of the handshake era, a lost session is re-opened with `initialize` directly.
///
/// A request answered 404 on a session (the upstream restarted or expired it) re-opens the session and
/// is sent once more. Answers may be JSON or SSE; in SSE, notifications and server requests before the
/// response are skipped. Every request carries `Host: <upstream authority>`, `MCP-Protocol-Version`
/// (after the handshake) and `Mcp-Session-Id` when the upstream gave one. Connections come from the
/// loop's upstream pool and go back to it after a complete answer.
///
/// Not thread-safe: create, call and drop it on its loop's thread.
public final class MCPClient: MCPToolCalling {
    /// How requests reach the upstream once a session is open.
    enum Session: Equatable {
        /// 2024-11-05 … 2025-11-25: after `initialize`; the negotiated version and the session id, if any.
        case handshake(version: String, sessionID: String?)
        /// 2026-07-28: no session; each request carries the version in `_meta` and in headers.
        case modern(version: String)
    }

    /// What is known of the upstream's protocol revision.
    enum Era { case unknown, handshake, modern }

    static let clientName = "gatehouse"
    static let clientVersion = "0.1.0"
    /// The newest handshake revision, asked for in `initialize`.
    static let handshakeVersion = "2025-11-25"
    /// The session-less revision, probed with `server/discover`.
    static let modernVersion = "2026-07-28"
    static let handshakeVersions: Set<String> = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    /// JSON-RPC code of an unsupported protocol version (2026-07-28).
    static let unsupportedVersionCode = -32022
    /// Pages of `tools/list` followed at most.
    static let maxToolPages = 1000

    unowned let loop: EventLoop
    let pool: UpstreamPool
    private let ownsPool: Bool
    /// The configuration requests are made under (upstream address, TLS, timeouts).
    public private(set) var state: GatewayState
    /// The MCP endpoint's path on the upstream, below the upstream URL's base path (e.g. "/mcp").
    public let endpointPath: String

    var session: Session?
    var era = Era.unknown
    private var opening: SessionOpening?
    /// Requests waiting for the session being opened.
    private var waiting: [Operation] = []
    /// Requests started and not finished (they own their timers and exchanges).
    private var operations: [ObjectIdentifier: Operation] = [:]
    private var nextRequestID = 1
    /// Bumped when the upstream changes: an opening started for an older one is ignored.
    private var generation = 0

    /// A client with its own connection pool (`gatehouse pin`, tests).
    public convenience init(loop: EventLoop, state: GatewayState, endpointPath: String) {
        self.init(loop: loop, pool: UpstreamPool(loop: loop), ownsPool: true, state: state, endpointPath: endpointPath)
    }

    /// A client sharing the loop's upstream pool with the proxy.
    init(loop: EventLoop, pool: UpstreamPool, ownsPool: Bool = false, state: GatewayState, endpointPath: String) {
        self.loop = loop
        self.pool = pool
        self.ownsPool = ownsPool
        self.state = state
        self.endpointPath = endpointPath
    }

    /// The MCP path a client for `state` talks to: `/mcp` when it is one of `mcp.paths`, else the first
    /// of them in byte order (GatewayState keeps a set).
    public static func endpointPath(for state: GatewayState) -> String {
        if state.mcpPaths.contains("/mcp") || state.mcpPaths.isEmpty { return "/mcp" }
        return state.mcpPaths.min { $0.utf8.lexicographicallyPrecedes($1.utf8) } ?? "/mcp"
    }

    /// Serve with `state` from now on. A different upstream (address, authority, base path, TLS) drops
    /// the session and what was learned of the server; a reload that keeps the upstream keeps them.
    public func use(_ state: GatewayState) {
        guard state !== self.state else { return }
        let old = self.state
        self.state = state
        let sameUpstream =
            old.upstreamAuthority == state.upstreamAuthority && old.upstreamBasePath == state.upstreamBasePath
            && old.upstreamAddress.description == state.upstreamAddress.description
            && (old.upstreamTLSContext == nil) == (state.upstreamTLSContext == nil)
        guard !sameUpstream else { return }
        generation += 1
        session = nil
        era = .unknown
        if let o = opening {
            opening = nil
            o.cancel(on: loop)
            if !waiting.isEmpty { openSession() }
        }
    }

    /// Ends every request in flight (as unavailable) and closes the pool when the client owns it.
    public func close() {
        for op in Array(operations.values) { finish(op, .unavailable(reason: "the MCP client was closed")) }
        waiting = []
        opening?.cancel(on: loop)
        opening = nil
        if ownsPool { pool.closeAll() }
    }

    // MARK: Requests

    public func callTool(
        name: String, arguments: JSONValue, timeoutMilliseconds: Int64, headers: [(String, String)] = [],
        completion: @escaping (MCPClientResult<JSONValue>) -> Void
    ) {
        var params = JSONObject()
        params["name"] = .string(name)
        params["arguments"] = arguments
        request(
            method: "tools/call", params: params, name: name,
            deadline: monotonicMilliseconds() + timeoutMilliseconds, headers: headers, completion: completion)
    }

    /// Every tool of the upstream, following `nextCursor` page after page, within one timeout (by
    /// default the connect timeout plus twice the response timeout).
    public func listTools(
        timeoutMilliseconds: Int64? = nil, headers: [(String, String)] = [],
        completion: @escaping (MCPClientResult<[JSONValue]>) -> Void
    ) {
        let timeout =
            timeoutMilliseconds ?? state.connectTimeoutMilliseconds + 2 * state.responseTimeoutMilliseconds
        listPage(
            cursor: nil, collected: [], page: 1, deadline: monotonicMilliseconds() + timeout, headers: headers,
            completion: completion)
    }

    private func listPage(
        cursor: String?, collected: [JSONValue], page: Int, deadline: Int64, headers: [(String, String)],
        completion: @escaping (MCPClientResult<[JSONValue]>) -> Void
    ) {
        var params = JSONObject()
        if let cursor { params["cursor"] = .string(cursor) }
        request(method: "tools/list", params: params, name: nil, deadline: deadline, headers: headers) {
            [weak self] result in
            switch result {
            case .success(let value):
                guard let tools = value["tools"]?.arrayValue else {
                    completion(.unavailable(reason: "the tools/list result has no tools array"))
                    return
                }
                let all = collected + tools
                guard let next = value["nextCursor"]?.stringValue, !next.isEmpty else {
                    completion(.success(all))
                    return
                }
                guard let self, page < MCPClient.maxToolPages, next != cursor else {
                    completion(.unavailable(reason: "tools/list pages do not end (cursor \(JSONWriter.quoted(next)))"))
                    return
                }
                self.listPage(
                    cursor: next, collected: all, page: page + 1, deadline: deadline, headers: headers,
                    completion: completion)
            case .rpcError(let error): completion(.rpcError(error))
            case .timeout: completion(.timeout)
            case .unavailable(let reason): completion(.unavailable(reason: reason))
            }
        }
    }

    /// One JSON-RPC request `method` with `params`, answered by `deadline` (monotonic milliseconds).
    /// `name` is mirrored in `Mcp-Name` for a 2026-07-28 server.
    func request(
        method: String, params: JSONObject, name: String?, deadline: Int64, headers: [(String, String)],
        completion: @escaping (MCPClientResult<JSONValue>) -> Void
    ) {
        let remaining = deadline - monotonicMilliseconds()
        guard remaining > 0 else {
            completion(.timeout)
            return
        }
        let op = Operation(method: method, params: params, name: name, headers: headers, completion: completion)
        let timer = LoopTimer { [weak self, weak op] in
            guard let self, let op else { return }
            self.waiting.removeAll { $0 === op }
            self.finish(op, .timeout)
        }
        op.timer = timer
        operations[ObjectIdentifier(op)] = op
        loop.arm(timer, after: remaining)
        dispatch(op)
    }

    private func dispatch(_ op: Operation) {
        guard op.completion != nil else { return }
        if let session {
            send(op, on: session)
        } else {
            waiting.append(op)
            if opening == nil { openSession() }
        }
    }

    private func send(_ op: Operation, on session: Session) {
        let id = takeRequestID()
        var params = op.params
        var headers: [(String, String)] = []
        switch session {
        case .handshake(let version, let sessionID):
            if let sessionID { headers.append(("Mcp-Session-Id", sessionID)) }
            headers.append(("MCP-Protocol-Version", version))
        case .modern(let version):
            params["_meta"] = .object(Self.modernMeta(version: version, merging: params["_meta"]?.objectValue))
            headers.append(contentsOf: Self.modernHeaders(version: version, method: op.method, name: op.name))
        }
        headers.append(contentsOf: op.headers)
        let body = Self.requestBody(id: id, method: op.method, params: params)
        let exchange = MCPExchange(
            pool: pool, state: state, target: target, headers: headers, body: body,
            replayable: op.method != "tools/call"
        ) { [weak self, weak op] outcome in
            guard let self, let op else { return }
            self.exchangeEnded(op, session: session, outcome: outcome)
        }
        op.exchange = exchange
        exchange.start()
    }

    private func exchangeEnded(_ op: Operation, session used: Session, outcome: MCPExchange.Outcome) {
        op.exchange = nil
        guard op.completion != nil else { return }
        switch outcome {
        case .failed(let reason):
            finish(op, .unavailable(reason: reason))
        case .answered(let status, _, let message):
            if status == 404, case .handshake(_, _?) = used, !op.hasReopened {
                // The upstream no longer knows the session (restarted, or expired it): open a new one.
                op.hasReopened = true
                sessionLost(used)
                dispatch(op)
                return
            }
            if let error = message?["error"] {
                if Self.errorCode(error) == Self.unsupportedVersionCode, !op.hasReopened {
                    // The server was replaced by one of another era: find out again.
                    op.hasReopened = true
                    sessionLost(used)
                    era = .unknown
                    dispatch(op)
                    return
                }
                finish(op, .rpcError(error))
                return
            }
            if (200..<300).contains(status), let result = message?["result"] {
                finish(op, .success(result))
                return
            }
            finish(op, .unavailable(reason: "the upstream answered HTTP \(status) without a JSON-RPC response"))
        }
    }

    private func finish(_ op: Operation, _ result: MCPClientResult<JSONValue>) {
        operations[ObjectIdentifier(op)] = nil
        guard let completion = op.completion else { return }
        op.completion = nil
        if let timer = op.timer { loop.cancel(timer) }
        op.exchange?.cancel()
        op.exchange = nil
        completion(result)
    }

    private func sessionLost(_ lost: Session) {
        if session == lost { session = nil }
    }

    func takeRequestID() -> Int {
        defer { nextRequestID = nextRequestID == Int.max ? 1 : nextRequestID + 1 }
        return nextRequestID
    }

    /// The request target on the upstream.
    var target: String { state.upstreamBasePath + endpointPath }

    // MARK: Opening a session

    private func openSession() {
        let o = SessionOpening(generation: generation)
        opening = o
        let timer = LoopTimer { [weak self, weak o] in
            guard let self, let o, self.opening === o else { return }
            self.openingFailed(o, .timeout)
        }
        o.timer = timer
        // The whole opening (up to three exchanges) gets one connect and one response timeout.
        loop.arm(timer, after: state.connectTimeoutMilliseconds + state.responseTimeoutMilliseconds)
        if era == .handshake {
            initialize(o)
        } else {
            discover(o)
        }
    }

    /// Step 1 (unknown era): `server/discover` at 2026-07-28.
    private func discover(_ o: SessionOpening) {
        var params = JSONObject()
        params["_meta"] = .object(Self.modernMeta(version: Self.modernVersion, merging: nil))
        let body = Self.requestBody(id: takeRequestID(), method: "server/discover", params: params)
        let headers = Self.modernHeaders(version: Self.modernVersion, method: "server/discover", name: nil)
        post(o, headers: headers, body: body) { [weak self] outcome in
            guard let self else { return }
            switch outcome {
            case .failed(let reason):
                // Not an era verdict: the upstream is down.
                self.openingFailed(o, .unavailable(reason: reason))
            case .answered(let status, _, let message):
                switch Self.discoverVerdict(status: status, message: message) {
                case .modern:
                    self.era = .modern
                    self.opened(o, .modern(version: Self.modernVersion))
                case .handshake:
                    self.initialize(o)
                case .incompatible(let reason):
                    self.openingFailed(o, .unavailable(reason: reason))
                }
            }
        }
    }

    /// What a `server/discover` answer says of the server.
    enum DiscoverVerdict: Equatable {
        case modern
        case handshake
        case incompatible(String)
    }

    /// As the SDK decides it: a result listing 2026-07-28 is a modern server; -32022 naming only
    /// versions this client does not speak is incompatible; everything else means "try initialize".
    static func discoverVerdict(status: Int, message: JSONValue?) -> DiscoverVerdict {
        if (200..<300).contains(status), let result = message?["result"],
            let versions = result["supportedVersions"]?.arrayValue
        {
            return versions.contains(.string(modernVersion)) ? .modern : .handshake
        }
        if let error = message?["error"], errorCode(error) == unsupportedVersionCode,
            let supported = error["data"]?["supported"]?.arrayValue?.compactMap(\.stringValue),
            !supported.contains(modernVersion), !supported.contains(where: handshakeVersions.contains)
        {
            return .incompatible(
                "the upstream speaks only protocol versions \(supported.joined(separator: ", "))")
        }
        return .handshake
    }

    /// Step 2: `initialize`.
    private func initialize(_ o: SessionOpening) {
        var params = JSONObject()
        params["protocolVersion"] = .string(Self.handshakeVersion)
        params["capabilities"] = .object(JSONObject())
        params["clientInfo"] = Self.clientInfo
        let body = Self.requestBody(id: takeRequestID(), method: "initialize", params: params)
        post(o, headers: [], body: body) { [weak self] outcome in
            guard let self else { return }
            switch outcome {
            case .failed(let reason):
                self.openingFailed(o, .unavailable(reason: reason))
            case .answered(let status, let headers, let message):
                if let error = message?["error"] {
                    let text = error["message"]?.stringValue ?? "error \(Self.errorCode(error) ?? 0)"
                    self.openingFailed(o, .unavailable(reason: "the upstream refused initialize: \(text)"))
                    return
                }
                guard (200..<300).contains(status), let version = message?["result"]?["protocolVersion"]?.stringValue
                else {
                    self.openingFailed(
                        o, .unavailable(reason: "the upstream answered initialize with HTTP \(status)"))
                    return
                }
                self.era = .handshake
                self.initialized(o, version: version, sessionID: headers.first(name: "Mcp-Session-Id"))
            }
        }
    }

    /// Step 3: `notifications/initialized`; the session is ready once the upstream accepted it.
    private func initialized(_ o: SessionOpening, version: String, sessionID: String?) {
        var headers: [(String, String)] = []
        if let sessionID { headers.append(("Mcp-Session-Id", sessionID)) }
        headers.append(("MCP-Protocol-Version", version))
        let body = Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8)
        post(o, headers: headers, body: body) { [weak self] outcome in
            guard let self else { return }
            switch outcome {
            case .failed(let reason):
                self.openingFailed(o, .unavailable(reason: reason))
            case .answered(let status, _, _):
                guard (200..<300).contains(status) else {
                    self.openingFailed(
                        o, .unavailable(reason: "the upstream answered notifications/initialized with HTTP \(status)"))
                    return
                }
                self.opened(o, .handshake(version: version, sessionID: sessionID))
            }
        }
    }

    /// One exchange of the opening `o`; `then` runs only while `o` is still the opening in progress.
    private func post(
        _ o: SessionOpening, headers: [(String, String)], body: [UInt8],
        then: @escaping (MCPExchange.Outcome) -> Void
    ) {
        let exchange = MCPExchange(pool: pool, state: state, target: target, headers: headers, body: body) {
            [weak self, weak o] outcome in
            guard let self, let o, self.opening === o else { return }
            o.exchange = nil
            then(outcome)
        }
        o.exchange = exchange
        exchange.start()
    }

    private func opened(_ o: SessionOpening, _ session: Session) {
        opening = nil
        o.cancel(on: loop)
        guard o.generation == generation else {
            if !waiting.isEmpty { openSession() }
            return
        }
        self.session = session
        let ready = waiting
        waiting = []
        for op in ready { dispatch(op) }
    }

    private func openingFailed(_ o: SessionOpening, _ result: MCPClientResult<JSONValue>) {
        opening = nil
        o.cancel(on: loop)
        let failed = waiting
        waiting = []
        for op in failed { finish(op, result) }
    }

    // MARK: Messages

    static var clientInfo: JSONValue {
        ["name": .string(clientName), "version": .string(clientVersion)]
    }

    /// The 2026-07-28 envelope of `params._meta`: protocol version, client info and capabilities.
    static func modernMeta(version: String, merging existing: JSONObject?) -> JSONObject {
        var meta = existing ?? JSONObject()
        meta["io.modelcontextprotocol/protocolVersion"] = .string(version)
        meta["io.modelcontextprotocol/clientInfo"] = clientInfo
        meta["io.modelcontextprotocol/clientCapabilities"] = .object(JSONObject())
        return meta
    }

    /// The headers a 2026-07-28 request mirrors from its body.
    static func modernHeaders(version: String, method: String, name: String?) -> [(String, String)] {
        var headers = [("MCP-Protocol-Version", version), ("Mcp-Method", method)]
        if let name { headers.append(("Mcp-Name", MCPHeaderValue.encode(name))) }
        return headers
    }

    static func requestBody(id: Int, method: String, params: JSONObject) -> [UInt8] {
        let message: JSONValue = [
            "jsonrpc": "2.0", "id": .integer(id), "method": .string(method), "params": .object(params),
        ]
        return JSONWriter.serialize(message)
    }

    static func errorCode(_ error: JSONValue) -> Int? {
        error["code"]?.intValue
    }
}

extension MCPClient {
    /// One request of a caller: its message, its deadline timer, the exchange carrying it.
    final class Operation {
        let method: String
        let params: JSONObject
        let name: String?
        let headers: [(String, String)]
        var completion: ((MCPClientResult<JSONValue>) -> Void)?
        var timer: LoopTimer?
        var exchange: MCPExchange?
        /// Sent again once after a lost session; never twice.
        var hasReopened = false

        init(
            method: String, params: JSONObject, name: String?, headers: [(String, String)],
            completion: @escaping (MCPClientResult<JSONValue>) -> Void
        ) {
            self.method = method
            self.params = params
            self.name = name
            self.headers = headers
            self.completion = completion
        }
    }

    /// The session being opened: discover, initialize, initialized, under one timer.
    final class SessionOpening {
        let generation: Int
        var timer: LoopTimer?
        var exchange: MCPExchange?

        init(generation: Int) {
            self.generation = generation
        }

        func cancel(on loop: EventLoop) {
            if let timer { loop.cancel(timer) }
            exchange?.cancel()
            exchange = nil
        }
    }
}
