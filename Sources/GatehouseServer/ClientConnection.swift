import GatehouseHTTP
import GatehouseJSON
import GatehousePolicy
import GatehousePosix
import CGatehouseShims
import Glibc

/// One client connection: reads requests, runs them through the request phases (contract §3), forwards
/// them to the upstream and streams the answer back. One request at a time: a pipelined request waits in
/// the input buffer until the answer before it is complete, so answers always leave in order.
final class ClientConnection: EventHandler, UpstreamConnectionDelegate {
    /// Above this many buffered bytes towards a peer, reading from the other side pauses (back-pressure).
    static let highWaterMark = 256 * 1024
    static let lowWaterMark = 64 * 1024
    static let readChunk = 16 * 1024

    /// The request being served and what is known about it; reset for each request.
    struct Exchange {
        var isActive = false
        var head: HTTPRequestHead?
        var requestID = ""
        var startMilliseconds: Int64 = 0
        var bytesIn: Int64 = 0
        var bytesOut: Int64 = 0
        var principal: Principal?
        /// The client's address: the peer, or what trusted proxies say in X-Forwarded-For.
        var clientIP = ""
        /// Added to whatever answers the request: RateLimit-*, and CORS headers for an allowed Origin.
        var responseHeaders: [(String, String)] = []
        var rpcMethod: String?
        var tool: String?
        /// What inspection learned of an MCP POST (ids, tools/list, called tools).
        var mcpInfo: MCPRequestInfo?
        /// A tools/call: its timer runs until the whole answer is in (mcp.call_timeout / tool_timeouts).
        var isCallTimed = false
        /// A tools/list answer in JSON, held whole to be filtered before it goes out.
        var heldResponseHead: HTTPResponseHead?
        var heldResponseBody: [UInt8] = []
        /// A tools/list answer as SSE: events are parsed and filtered one by one.
        var sseFilter: SSEParser?
        var isResponseSSE = false
        /// The client's request has been read to its end.
        var isRequestDone = false
        /// The phase the request is in (where a parked request resumes).
        var phase: Phase = .gatewayEndpoints
        /// Waiting in a phase (JWKS refetch, Redis decision); the body stays unread meanwhile.
        var isParked = false
        /// Authentication already waited once for a JWKS refetch.
        var hasAwaitedKeys = false
        /// A rate decision that arrived while parked.
        var pendingRateDecision: RateDecision?
        /// The answer has been written to the output buffer completely.
        var isResponseDone = false
        /// Answered early: the rest of the request body is read and dropped.
        var isDiscardingBody = false
        /// An MCP POST: the body is read whole (bounded by max_body_bytes) before forwarding.
        var isCollectingBody = false
        /// A call through the REST door (§12): answered by the gateway's own MCP client.
        var isRESTCall = false
        /// Tells exchanges of one connection apart (an answer that arrives late must find its own).
        var serial = 0
        var body: [UInt8] = []
        var upstream: UpstreamConnection?
        /// A request held whole and sent on a pooled connection: if that connection turns out to have been
        /// closed by the upstream (it fails before any response byte), the request is sent once more on a
        /// fresh one — the keep-alive race every proxy meets when an upstream restarts or times out idlers.
        var replay: (body: [UInt8]?, timeout: Int64?)?
        var isUpstreamRequestChunked = false
        var hasSentContinue = false
        var isResponseStarted = false
        var isResponseChunked = false
        var status = 0
        var upstreamStartMilliseconds: Int64 = 0
        var upstreamMilliseconds: Double?
        var upstreamResponseKeepAlive = false
        var upstreamResponseCloseDelimited = false
    }

    /// Strong on purpose: the loop context outlives its connections (it holds them in `connections` until
    /// they close), and a strong `let` costs no reference-count check per use, which `unowned` does on
    /// every one of the dozens of accesses a request makes.
    let context: LoopContext
    private let loop: EventLoop
    let fd: Int32
    let peer: SocketAddress
    let peerHost: String
    /// Read and write buffers, allocated while bytes are in flight and released when the connection
    /// idles: ten thousand idle keep-alive connections must not each hold 20 KiB of empty buffers.
    private var input = ByteBuffer()
    private var output = ByteBuffer()
    private var parser: HTTPRequestParser
    private var ex = Exchange()
    private var isClosed = false
    /// Runs once when the connection closes (releases its per-address slot).
    var onClose: (() -> Void)?
    private var isParserFailed = false
    private var isReading = true
    private var wantsWrite = false
    private var closeWhenFlushed = false
    private var isDraining = false
    private var isProcessingInput = false
    /// The socket, in clear or through the TLS session when the listener terminates TLS.
    private var transport: StreamTransport
    private var isHandshaking = false
    /// The principal of a client certificate that verified against tls.client_ca.
    private var peerCertificatePrincipal: String?
    private var headerTimer: LoopTimer!
    private var idleTimer: LoopTimer!
    private var responseTimer: LoopTimer!

    private var state: GatewayState { context.state }

    init(context: LoopContext, fd: Int32, peer: SocketAddress) {
        self.context = context
        self.loop = context.loop
        self.fd = fd
        self.peer = peer
        self.peerHost = peer.host
        self.parser = HTTPRequestParser(limits: context.state.limits)
        self.transport = StreamTransport(fd: fd)
        weak var weakSelf: ClientConnection?
        headerTimer = LoopTimer { weakSelf?.headerTimedOut() }
        idleTimer = LoopTimer { weakSelf?.idleTimedOut() }
        responseTimer = LoopTimer { weakSelf?.responseTimedOut() }
        weakSelf = self
        context.loop.register(fd, readable: true, writable: false, handler: self)
        context.connectionOpened(self)
        if let tlsContext = context.state.tlsContext {
            do {
                transport = StreamTransport(fd: fd, tls: try TLSConnection(context: tlsContext, fd: fd))
                isHandshaking = true
                // The handshake shares the head deadline: a client that stalls in it is a slow client too.
                context.loop.arm(headerTimer, after: context.state.tlsHandshakeTimeoutMilliseconds)
            } catch {
                tlsFailed(error)
            }
            return
        }
        context.loop.arm(headerTimer, after: context.state.headerTimeoutMilliseconds)
    }

    // MARK: Transport (plain or TLS)

    private func continueHandshake() {
        guard let tls = transport.tls else { return }
        do {
            switch try tls.handshake() {
            case .done:
                isHandshaking = false
                context.metrics.recordTLSHandshake(succeeded: true)
                peerCertificatePrincipal = tls.peerPrincipal
                loop.cancel(headerTimer)
                loop.arm(headerTimer, after: state.headerTimeoutMilliseconds)
                loop.setInterest(fd, readable: true, writable: false)
                readFromSocket()
            case .wantRead:
                loop.setInterest(fd, readable: true, writable: false)
            case .wantWrite:
                loop.setInterest(fd, readable: false, writable: true)
            }
        } catch {
            tlsFailed(error)
        }
    }

    private func tlsFailed(_ error: TLSError) {
        context.metrics.recordTLSHandshake(succeeded: false)
        if !error.isPeerGone {
            context.logs.write(
                SecurityEvent(
                    .security(severity: .low, kind: "tls_handshake_failed", details: [("reason", .string(error.message))]),
                    ipAddress: peerHost, userAgent: nil, requestID: nil))
        }
        close()
    }

    func handleEvent(_ events: UInt32) {
        if isHandshaking {
            continueHandshake()
            return
        }
        if events & EventBits.writable != 0 {
            if transport.readWantsWrite {
                transport.readWantsWrite = false
                updateInterest()
                readFromSocket()
            }
            flushOutput()
        }
        if isClosed { return }
        if events & (EventBits.readable | EventBits.error | EventBits.hangup | EventBits.readHangup) != 0 {
            readFromSocket()
        }
    }

    private func readFromSocket() {
        var eof = false
        var failure: Int32 = 0
        /// Everything the socket and the TLS session had was read: epoll reports what comes next.
        var drained = false
        let inputCap = 4 * ClientConnection.readChunk + state.limits.maxHeaderBytes
        while isReading && input.readableBytes < inputCap {
            let r = input.writeWithUnsafeMutableBytes(minimumWritableBytes: ClientConnection.readChunk) { p -> Int in
                transport.read(p)
            }
            if transport.readWantsWrite { updateInterest() }
            if r > 0 {
                // A short read drained the socket — unless TLS read ahead more records than it handed out.
                if r < ClientConnection.readChunk && !transport.mayHaveMoreInput {
                    drained = true
                    break
                }
                continue
            }
            if r == 0 { eof = true; break }
            let e = Int32(-r)
            if e == EINTR { continue }
            if e != EAGAIN { failure = e }
            drained = true
            break
        }
        if !input.isEmpty && !ex.isActive && idleTimer.isArmed {
            loop.cancel(idleTimer)
            loop.arm(headerTimer, after: state.headerTimeoutMilliseconds)
        }
        processInput()
        if isClosed { return }
        if eof || failure != 0 {
            clientGone()
            return
        }
        // Level-triggered epoll would report a full buffer's socket forever: stop asking until it drains
        // (a pipelining client waits while the answer before its requests is written).
        if input.readableBytes >= inputCap { setReading(false) }
        releaseIdleBuffers()
        // Stopped early (full buffer, reading paused) with records still inside TLS: epoll cannot see them.
        if !drained && isReading && transport.mayHaveMoreInput { loop.markReadable(fd) }
    }

    // MARK: Request parsing

    private func processInput() {
        guard !isProcessingInput else { return }
        isProcessingInput = true
        defer { isProcessingInput = false }
        while !isClosed && !isParserFailed {
            if ex.isActive && (ex.isRequestDone || ex.isParked) { break }
            if !ex.isActive && (closeWhenFlushed || isDraining) { break }
            if let up = ex.upstream, up.output.readableBytes > ClientConnection.highWaterMark {
                setReading(false)
                break
            }
            let part: HTTPRequestPart?
            do {
                part = try parser.next(&input)
            } catch {
                parseFailed(error)
                return
            }
            guard let part else { break }
            switch part {
            case .head(let head): beginExchange(head)
            case .body(let bytes): requestBody(bytes)
            case .end: requestEnded()
            }
        }
        if input.isEmpty { input.clear() }
    }

    private func parseFailed(_ error: HTTPParseError) {
        isParserFailed = true
        if ex.isActive && ex.isResponseStarted {
            abort()
            return
        }
        if !ex.isActive { startExchangeRecord(head: nil) }
        if error.isSmuggling {
            context.logs.write(
                SecurityEvent(
                    .security(severity: .high, kind: "smuggling_attempt", details: [("reason", .string(error.reason))]),
                    ipAddress: peerHost, userAgent: ex.head?.headers.first(name: "User-Agent"), requestID: ex.requestID))
        }
        ex.isRequestDone = true
        closeWhenFlushed = true
        if let up = ex.upstream { ex.upstream = nil; context.pool.discard(up) }
        respond(Rejection.standard(status: error.status))
    }

    private var exchangeCount = 0

    private func startExchangeRecord(head: HTTPRequestHead?) {
        exchangeCount += 1
        ex = Exchange()
        ex.serial = exchangeCount
        ex.isActive = true
        ex.head = head
        ex.requestID = RequestID.resolve(clientValue: head?.headers.first(name: "X-Request-Id"))
        ex.startMilliseconds = monotonicMilliseconds()
    }

    // MARK: The request phases (contract §3)

    /// The request phases of §3, in the contract's order. The order is the point: rate limiting by address
    /// comes before any work is spent; CORS comes before authentication because preflights carry no
    /// credentials; the principal's limit needs authentication; inspection needs the principal (permissions,
    /// session owner). A phase lets the request go on, answers it (which ends it), or parks it until
    /// something it waits for arrives (a JWKS refetch, a Redis decision); `runPhases` then resumes with
    /// the same phase. The access log and security events are written however the request ends (step 10).
    enum Phase: Int, Comparable {
        case gatewayEndpoints, rateLimitByAddress, cors, authentication, rateLimitByPrincipal, mcpInspection, forwarding

        static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
    }

    /// What a phase did.
    enum PhaseOutcome { case next, answered, parked }

    private func beginExchange(_ head: HTTPRequestHead) {
        loop.cancel(headerTimer)
        loop.cancel(idleTimer)
        startExchangeRecord(head: head)
        if isDraining { closeWhenFlushed = true }
        ex.clientIP = state.trustedProxies.isEmpty
            ? peerHost
            : ClientAddress.resolve(
                peer: peerHost, xForwardedFor: head.headers.values(name: "X-Forwarded-For"),
                isTrusted: { [state] bytes in state.trustedProxies.contains { $0.contains(bytes) } })
        runPhases(from: .gatewayEndpoints)
    }

    /// Runs the phases from `first` until one answers or parks, or forwarding starts.
    private func runPhases(from first: Phase) {
        guard let head = ex.head else { return }
        var phase: Phase? = first
        while let current = phase {
            ex.phase = current
            let outcome: PhaseOutcome
            switch current {
            case .gatewayEndpoints: outcome = gatewayEndpointsPhase(head)
            case .rateLimitByAddress:
                outcome = state.rateLimitPerPrincipal ? .next : rateLimitPhase(key: ex.clientIP, subject: .ip, head: head)
            case .cors: outcome = corsPhase(head)
            case .authentication: outcome = authenticationPhase(head)
            case .rateLimitByPrincipal:
                if state.rateLimitPerPrincipal, let p = ex.principal {
                    outcome = rateLimitPhase(key: p.name, subject: .principal(p.name), head: head)
                } else {
                    outcome = .next
                }
            case .mcpInspection: outcome = mcpInspectionPhase(head)
            case .forwarding:
                startForwarding(body: nil)
                sendContinueIfExpected()
                outcome = .answered
            }
            switch outcome {
            case .next: phase = Phase(rawValue: current.rawValue + 1)
            case .answered: phase = nil
            case .parked:
                ex.isParked = true
                phase = nil
            }
        }
    }

    /// Resumes a parked request at the phase it parked in (on the loop thread).
    private func resumeParked() {
        guard !isClosed, ex.isActive, ex.isParked else { return }
        ex.isParked = false
        runPhases(from: ex.phase)
        processInput()
    }

    /// 2. Gateway endpoints, answered without authentication.
    private func gatewayEndpointsPhase(_ head: HTTPRequestHead) -> PhaseOutcome {
        let path = head.path
        guard head.method == "GET" || head.method == "HEAD" else { return .next }
        if path == "/healthz" {
            respondLocal(status: 200, headers: [], body: Array(#"{"status":"ok"}"#.utf8))
            return .answered
        }
        if !state.oauthMetadata.isEmpty, let document = state.oauthMetadata[String(path)] {
            respondLocal(status: 200, headers: [("Content-Type", "application/json")], body: document)
            return .answered
        }
        return .next
    }

    /// 3 and 6. One token from the client's bucket (by address or by principal).
    private func rateLimitPhase(key: String, subject: RateLimitSubject, head: HTTPRequestHead) -> PhaseOutcome {
        guard let limiter = state.rateLimiter else { return .next }
        if let redis = context.redisLimiter(for: state) {
            if let decision = ex.pendingRateDecision {
                ex.pendingRateDecision = nil
                return applyRateDecision(decision, subject: subject, head: head)
            }
            let bound = LoopBound(value: self)
            let failureAllows = state.redisFailureAllows
            let logs = context.logs
            let clientIP = ex.clientIP
            let requestID = ex.requestID
            redis.take(key: key, limit: limiter.limit) { result in
                let c = bound.value
                switch result {
                case .decided(let decision):
                    c.ex.pendingRateDecision = decision
                case .failed(let reason):
                    logs.write(
                        SecurityEvent(
                            .security(
                                severity: .high, kind: "rate_limit_backend_failed",
                                details: [("reason", .string(reason)), ("mode", .string(failureAllows ? "allow" : "deny"))]),
                            ipAddress: clientIP, userAgent: nil, requestID: requestID))
                    c.ex.pendingRateDecision = RateDecision(
                        allowed: failureAllows, limit: limiter.limit.capacity, remaining: 0, resetSeconds: 1,
                        retryAfterSeconds: 1)
                }
                c.resumeParked()
            }
            return .parked
        }
        return applyRateDecision(limiter.take(key: key, now: gh_monotonic_ns()), subject: subject, head: head)
    }

    private func applyRateDecision(_ decision: RateDecision, subject: RateLimitSubject, head: HTTPRequestHead) -> PhaseOutcome {
        decision.appendHeaders(to: &ex.responseHeaders, includingRetryAfter: false)
        if decision.allowed { return .next }
        context.metrics.recordRateLimited()
        respond(
            decision.rejection(
                subject: subject, ipAddress: ex.clientIP, userAgent: head.headers.first(name: "User-Agent"),
                requestID: ex.requestID))
        return .answered
    }

    /// 4. CORS and Origin.
    private func corsPhase(_ head: HTTPRequestHead) -> PhaseOutcome {
        let origin = head.headers.first(name: "Origin")
        switch state.cors.evaluate(
            method: head.method, origin: origin,
            requestMethodHeader: head.headers.first(name: "Access-Control-Request-Method"))
        {
        case .noOrigin:
            return .next
        case .allowed(let headers):
            ex.responseHeaders.append(contentsOf: headers)
            return .next
        case .preflightAllowed(let headers):
            respondLocal(status: 204, headers: headers, body: [])
            return .answered
        case .preflightRefused:
            respond(
                CORSPolicy.rejection(
                    origin: origin ?? "", preflight: true, ipAddress: ex.clientIP,
                    userAgent: head.headers.first(name: "User-Agent"), requestID: ex.requestID))
            return .answered
        case .refused:
            respond(
                CORSPolicy.rejection(
                    origin: origin ?? "", preflight: false, ipAddress: ex.clientIP,
                    userAgent: head.headers.first(name: "User-Agent"), requestID: ex.requestID))
            return .answered
        }
    }

    /// A JWT with an unknown kid waits for one JWKS refetch; its reason while parked.
    static let parkedReason = "awaiting_jwks"

    /// 5. Authentication.
    private func authenticationPhase(_ head: HTTPRequestHead) -> PhaseOutcome {
        let allowRefetch = !ex.hasAwaitedKeys
        switch authenticate(head, allowKeyRefetch: allowRefetch) {
        case .failure(.invalidToken(reason: ClientConnection.parkedReason)):
            ex.hasAwaitedKeys = true
            return .parked
        case .failure(let failure):
            context.metrics.recordAuthFailure(failure)
            let event = SecurityEvent.authenticationFailed(
                failure, ipAddress: ex.clientIP, userAgent: head.headers.first(name: "User-Agent"), requestID: ex.requestID)
            respond(Rejection.unauthorized(failure, resourceMetadata: state.resourceMetadataURL, securityEvent: event))
            return .answered
        case .success(let principal):
            ex.principal = principal
            context.logs.write(
                SecurityEvent.authenticated(
                    principal, ipAddress: ex.clientIP, userAgent: head.headers.first(name: "User-Agent"),
                    requestID: ex.requestID))
            return .next
        }
    }

    /// 7. MCP messages are read whole and inspected before they go on (§6); GET streams and DELETE carry
    /// no message but a session id that must be the caller's.
    private func mcpInspectionPhase(_ head: HTTPRequestHead) -> PhaseOutcome {
        if head.method == "POST", let restPath = state.restPath, head.path == restPath {
            ex.isRESTCall = true
            ex.isCollectingBody = true
            sendContinueIfExpected()
            return .answered  // the door runs when the body is complete (requestEnded)
        }
        guard state.mcpPaths.contains(String(head.path)) else { return .next }
        if head.method == "POST" {
            ex.isCollectingBody = true
            if case .contentLength(let n) = head.framing { ex.body.reserveCapacity(n) }
            sendContinueIfExpected()
            return .answered  // inspection runs when the body is complete (requestEnded)
        }
        if let rejection = state.mcp.checkSession(
            headers: head.headers, principal: ex.principal, requestID: ex.requestID, ipAddress: ex.clientIP,
            userAgent: head.headers.first(name: "User-Agent"))
        {
            respond(rejection)
            return .answered
        }
        return .next
    }

    private func authenticate(_ head: HTTPRequestHead, allowKeyRefetch: Bool) -> Result<Principal, AuthFailure> {
        let authorization = head.headers.first(name: "Authorization")
        // A verified client certificate is a credential of its own (kind mtls) when no bearer is presented.
        if authorization == nil, state.acceptsClientCertificates, let name = peerCertificatePrincipal {
            return .success(Principal(name: name, kind: .mtls, permissions: state.clientCertificatePermissions))
        }
        switch BearerCredential.parse(authorization: authorization) {
        case .failure(let f):
            return .failure(f)
        case .success(.apiKey(let key)):
            guard state.acceptsAPIKeys, let p = state.apiKeys.authenticate(key: key) else {
                return .failure(.invalidAPIKey)
            }
            return .success(p)
        case .success(.jwt(let token)):
            guard let jwt = state.jwt else { return .failure(.invalidToken(reason: "jwt_not_accepted")) }
            let now = wallClockMilliseconds() / 1000
            if let principal = jwt.tokenCache.lookup(token: token, now: now) { return .success(principal) }
            switch jwt.verifier.verify(token) {
            case .valid(let principal, let expiresAt):
                jwt.tokenCache.insert(token: token, principal: principal, expiresAt: expiresAt)
                return .success(principal)
            case .invalid(let reason):
                return .failure(.invalidToken(reason: reason))
            case .unknownKeyID(let kid):
                // Rotation: refetch the JWK Set once (rate-limited) and authenticate again when it is back.
                if allowKeyRefetch {
                    let bound = LoopBound(value: self)
                    let parked = jwt.refetchForUnknownKey(
                        kid: kid, from: loop, fetchLoop: context.homeLoop, logs: context.logs,
                        resume: { bound.value.resumeParked() })
                    if parked { return .failure(.invalidToken(reason: ClientConnection.parkedReason)) }
                }
                return .failure(.invalidToken(reason: "unknown_kid"))
            }
        }
    }

    private func sendContinueIfExpected() {
        guard let head = ex.head, head.expectsContinue, !ex.hasSentContinue, !ex.isRequestDone else { return }
        ex.hasSentContinue = true
        output.writeString("HTTP/1.1 100 Continue\r\n\r\n")
        flushOutput()
    }

    private func requestBody(_ bytes: ArraySlice<UInt8>) {
        ex.bytesIn += Int64(bytes.count)
        loop.arm(headerTimer, after: state.headerTimeoutMilliseconds)
        if ex.isDiscardingBody { return }
        if ex.isCollectingBody {
            ex.body.append(contentsOf: bytes)
            return
        }
        guard let up = ex.upstream else { return }
        if ex.isUpstreamRequestChunked {
            HTTPSerializer.writeChunk(bytes, into: &up.output)
        } else {
            up.output.writeBytes(bytes)
        }
        up.flush()
    }

    private func requestEnded() {
        loop.cancel(headerTimer)
        ex.isRequestDone = true
        if ex.isCollectingBody {
            ex.isCollectingBody = false
            let body = ex.body
            ex.body = []
            if ex.isRESTCall { executeREST(body) } else { inspectAndForward(body) }
        } else if let up = ex.upstream, ex.isUpstreamRequestChunked {
            HTTPSerializer.writeLastChunk(into: &up.output)
            up.flush()
        }
        checkExchangeComplete()
    }

    /// Step 7 for the REST door: validation, authorization, sanitization and the call through the loop's MCP
    /// client (§12), answered when the upstream answers or the request's timeout passes.
    private func executeREST(_ body: [UInt8]) {
        ex.rpcMethod = "tools/call"
        let serial = ex.serial
        let client = context.mcpClient
        client.use(state)
        RESTDoor.handle(
            body: body, principal: ex.principal, state: state, client: client, requestID: ex.requestID,
            ipAddress: ex.clientIP, userAgent: ex.head?.headers.first(name: "User-Agent"),
            log: { [logs = context.logs] in logs.write($0) }
        ) { [weak self] answer in
            guard let self, !self.isClosed, self.ex.isActive, self.ex.serial == serial else { return }
            self.ex.tool = answer.tool
            self.respondLocal(status: answer.status, headers: answer.headers, body: answer.body)
        }
    }

    /// Step 7 for an MCP POST: inspection (§6.1–6.7), per-tool rate limits, then forwarding with the
    /// call's own timeout.
    private func inspectAndForward(_ body: [UInt8]) {
        guard let head = ex.head else { return }
        let decision = state.mcp.inspect(
            body: body, headers: head.headers, principal: ex.principal, requestID: ex.requestID,
            ipAddress: ex.clientIP, userAgent: head.headers.first(name: "User-Agent"))
        let info = decision.info
        ex.mcpInfo = info
        ex.rpcMethod = info.rpcMethod
        ex.tool = info.tool
        for event in info.accessEvents { context.logs.write(event) }
        switch decision {
        case .reject(let rejection, _):
            respond(rejection)
        case .forward(let rewritten, _):
            if let limiter = state.rateLimiter, let principal = ex.principal {
                for tool in info.calledTools {
                    guard let d = limiter.takeToolCall(principal: principal.name, tool: tool, now: gh_monotonic_ns()) else { continue }
                    if !d.allowed {
                        context.metrics.recordRateLimited()
                        respond(
                            d.rejection(
                                subject: .tool(principal: principal.name, tool: tool), ipAddress: ex.clientIP,
                                userAgent: head.headers.first(name: "User-Agent"), requestID: ex.requestID))
                        return
                    }
                }
            }
            var timeout: Int64?
            if let tool = info.callTimeoutTool {
                timeout = state.toolTimeoutMilliseconds[tool] ?? state.callTimeoutMilliseconds
                ex.isCallTimed = true
            }
            startForwarding(body: rewritten ?? body, timeoutMilliseconds: timeout)
        }
    }

    // MARK: Forwarding (step 8)

    private func startForwarding(body: [UInt8]?, timeoutMilliseconds: Int64? = nil, fresh: Bool = false) {
        guard let head = ex.head else { return }
        let up: UpstreamConnection
        do {
            up = try context.pool.acquire(state: state, fresh: fresh)
        } catch {
            respond(Rejection.standard(status: 502))
            return
        }
        ex.replay = up.wasReused && isReplayable(head, body: body) ? (body, timeoutMilliseconds) : nil
        up.delegate = self
        ex.upstream = up
        ex.upstreamStartMilliseconds = monotonicMilliseconds()
        up.parser.expectResponse(toRequestMethod: head.method)
        var headers = ProxyHeaders.upstreamRequestHeaders(
            head, state: state, peer: peer, peerHost: peerHost, requestID: ex.requestID, principal: ex.principal)
        if let body {
            if !body.isEmpty || head.method == "POST" || head.method == "PUT" || head.method == "PATCH" {
                headers.add(name: "Content-Length", value: String(body.count))
            }
        } else {
            switch head.framing {
            case .contentLength(let n): headers.add(name: "Content-Length", value: String(n))
            case .chunked:
                headers.add(name: "Transfer-Encoding", value: "chunked")
                ex.isUpstreamRequestChunked = true
            case .none, .untilClose: break
            }
        }
        let target = state.upstreamBasePath.isEmpty
            ? String(head.originFormTarget) : state.upstreamBasePath + head.originFormTarget
        HTTPSerializer.writeRequestHead(method: head.method, target: target, headers: headers, into: &up.output)
        if let body { up.output.writeBytes(body) }
        loop.arm(responseTimer, after: timeoutMilliseconds ?? state.responseTimeoutMilliseconds)
        if up.state == .connected { up.flush() }
    }

    /// The whole request is in hand (a collected body, or none at all) and sending it twice does no harm:
    /// an idempotent method, or an MCP message that calls no tool (a tool may have side effects, and the
    /// upstream may have begun the call before the connection broke).
    private func isReplayable(_ head: HTTPRequestHead, body: [UInt8]?) -> Bool {
        guard body != nil || head.framing == .none else { return false }
        switch head.method {
        case "GET", "HEAD", "OPTIONS", "DELETE": return true
        case "POST":
            guard let info = ex.mcpInfo, let method = info.rpcMethod else { return false }
            return method != "tools/call" && info.calledTools.isEmpty
        default: return false
        }
    }

    func upstreamConnected(_ upstream: UpstreamConnection) {}

    func upstreamWritable(_ upstream: UpstreamConnection) {
        if !isReading && upstream.output.readableBytes < ClientConnection.lowWaterMark {
            setReading(true)
            processInput()
        }
    }

    func upstreamFailed(_ upstream: UpstreamConnection, error: SystemError?, beforeResponse: Bool) {
        guard ex.upstream === upstream else { return }
        ex.upstream = nil
        context.pool.discard(upstream)
        loop.cancel(responseTimer)
        if ex.isResponseStarted {
            abort()
            return
        }
        if let replay = ex.replay, upstream.failedAsStaleIdle, error?.errno != ETIMEDOUT {
            ex.replay = nil
            context.metrics.recordUpstreamRetry()
            startForwarding(body: replay.body, timeoutMilliseconds: replay.timeout, fresh: true)
            return
        }
        let timedOut = error?.errno == ETIMEDOUT
        respond(Rejection.standard(status: timedOut ? 504 : 502))
    }

    private func responseTimedOut() {
        guard ex.isActive, let up = ex.upstream else { return }
        ex.upstream = nil
        context.pool.discard(up)
        if !ex.isResponseStarted {
            respond(Rejection.standard(status: 504))
            return
        }
        // A tools/call that outlived its timeout on an SSE stream already open: a JSON-RPC error event for
        // its id, then the stream ends (§4, -32001).
        guard ex.isResponseSSE, ex.isResponseChunked else {
            abort()
            return
        }
        let id = ex.mcpInfo?.ids.first
        let event = ErrorBody.jsonRPC(
            id: id, code: ErrorBody.RPCCode.requestTimeout, message: "Request timeout", details: [],
            requestID: ex.requestID)
        var frame = Array("event: message\r\ndata: ".utf8)
        frame.append(contentsOf: event)
        frame.append(contentsOf: Array("\r\n\r\n".utf8))
        HTTPSerializer.writeChunk(frame, into: &output)
        HTTPSerializer.writeLastChunk(into: &output)
        ex.status = ex.status == 0 ? 504 : ex.status
        ex.isResponseDone = true
        if !ex.isRequestDone {
            // The rest of the request will not be read: the connection closes once the answer is out.
            closeWhenFlushed = true
            isParserFailed = true
            ex.isRequestDone = true
        }
        context.logs.write(
            SecurityEvent(
                .security(severity: .low, kind: "call_timeout", details: [("tool", .string(ex.tool ?? ""))]),
                ipAddress: ex.clientIP, userAgent: ex.head?.headers.first(name: "User-Agent"), requestID: ex.requestID))
        flushOutput()
        checkExchangeComplete()
    }

    func upstreamReadable(_ upstream: UpstreamConnection, eof: Bool) {
        guard ex.upstream === upstream else { return }
        // Everything this read produced (head, body, end) goes out in one write — one TLS record.
        defer { flushOutput() }
        do {
            while ex.upstream === upstream, let part = try upstream.parser.next(&upstream.input) {
                handleUpstreamPart(part, upstream)
            }
            if eof, ex.upstream === upstream {
                if let part = try upstream.parser.finish() {
                    ex.upstreamResponseKeepAlive = false
                    handleUpstreamPart(part, upstream)
                } else {
                    upstreamFailed(upstream, error: nil, beforeResponse: !ex.isResponseStarted)
                }
            }
        } catch {
            upstreamFailed(upstream, error: nil, beforeResponse: !ex.isResponseStarted)
            return
        }
        if ex.upstream === upstream && output.readableBytes > ClientConnection.highWaterMark {
            upstream.setReading(false)
        }
    }

    private func handleUpstreamPart(_ part: HTTPResponsePart, _ upstream: UpstreamConnection) {
        switch part {
        case .head(let head):
            if !ex.isCallTimed { loop.cancel(responseTimer) }
            ex.upstreamMilliseconds = Double(monotonicMilliseconds() - ex.upstreamStartMilliseconds)
            ex.upstreamResponseKeepAlive = head.keepAlive
            ex.upstreamResponseCloseDelimited = head.framing == .untilClose
            ex.isResponseSSE = head.headers.first(name: "Content-Type")?.lowercased().hasPrefix("text/event-stream") ?? false
            noteSession(head)
            if let info = ex.mcpInfo, info.expectsToolsList, head.status == 200 {
                if ex.isResponseSSE {
                    ex.sseFilter = SSEParser()
                } else if head.framing != .none {
                    // Held whole (bounded) and filtered at the end: its Content-Length changes.
                    ex.heldResponseHead = head
                    return
                }
            }
            writeResponseHead(head)
        case .body(let bytes):
            ex.bytesOut += Int64(bytes.count)
            if ex.heldResponseHead != nil {
                ex.heldResponseBody.append(contentsOf: bytes)
                if ex.heldResponseBody.count > ClientConnection.maxFilteredBody {
                    // Too large to filter: fail closed rather than show unfiltered tools.
                    ex.heldResponseHead = nil
                    ex.heldResponseBody = []
                    upstreamFailed(upstream, error: nil, beforeResponse: true)
                }
                return
            }
            if ex.sseFilter != nil {
                writeFilteredSSE(bytes)
            } else if ex.isResponseChunked {
                HTTPSerializer.writeChunk(bytes, into: &output)
            } else {
                output.writeBytes(bytes)
            }
        case .end:
            if ex.isCallTimed { loop.cancel(responseTimer) }
            if let held = ex.heldResponseHead, let info = ex.mcpInfo {
                let rewrite = state.mcp.filterResponse(
                    body: ex.heldResponseBody, info: info, principal: ex.principal, requestID: ex.requestID)
                for event in rewrite.events { context.logs.write(event) }
                let body = rewrite.body ?? ex.heldResponseBody
                ex.heldResponseHead = nil
                ex.heldResponseBody = []
                writeResponseHead(held, bodyLength: body.count)
                output.writeBytes(body)
            } else if let parser = ex.sseFilter {
                let rest = parser.pendingBytes
                ex.sseFilter = nil
                if !rest.isEmpty { HTTPSerializer.writeChunk(rest, into: &output) }
            }
            if ex.isResponseChunked { HTTPSerializer.writeLastChunk(into: &output) }
            ex.upstream = nil
            if ex.upstreamResponseKeepAlive && !ex.upstreamResponseCloseDelimited && upstream.input.isEmpty
                && ex.isRequestDone
            {
                context.pool.release(upstream, maxIdle: state.maxIdleUpstreamConnections)
            } else {
                context.pool.discard(upstream)
            }
            ex.isResponseDone = true
            flushOutput()
            checkExchangeComplete()
        }
    }

    /// Upstream answers larger than this are not held for tools/list filtering.
    static let maxFilteredBody = 16 << 20

    /// Learns and forgets session ids (§6.6): bound to the caller when the upstream hands one out,
    /// forgotten when a DELETE ends it or the upstream no longer knows it.
    private func noteSession(_ response: HTTPResponseHead) {
        guard let head = ex.head, state.mcpPaths.contains(String(head.path)) else { return }
        if let session = response.headers.first(name: "Mcp-Session-Id"), (200..<300).contains(response.status) {
            if !state.mcp.sessionEstablished(session, principal: ex.principal) {
                context.logs.write(
                    SecurityEvent(
                        .security(severity: .high, kind: "session_mismatch", details: [("reason", "upstream reissued a bound session")]),
                        ipAddress: ex.clientIP, userAgent: head.headers.first(name: "User-Agent"), requestID: ex.requestID))
            }
        }
        if let session = head.headers.first(name: "Mcp-Session-Id"),
            (head.method == "DELETE" && (200..<300).contains(response.status)) || response.status == 404
        {
            state.mcp.sessionEnded(session)
        }
    }

    /// SSE events of a tools/list answer: message events filtered, everything else passed byte for byte.
    private func writeFilteredSSE(_ bytes: ArraySlice<UInt8>) {
        guard var parser = ex.sseFilter, let info = ex.mcpInfo else { return }
        let events = parser.feed(bytes)
        ex.sseFilter = parser
        var out: [UInt8] = []
        for (event, raw) in events {
            if !event.isCommentOnly, event.event == nil || event.event == "message", !event.data.isEmpty {
                let rewrite = state.mcp.filterSSEEventData(
                    event.data, info: info, principal: ex.principal, requestID: ex.requestID)
                for e in rewrite.events { context.logs.write(e) }
                if let data = rewrite.body {
                    out.append(contentsOf: MCPResponseFilter.frameSSEEvent(event, data: data))
                    continue
                }
            }
            out.append(contentsOf: raw)
        }
        if !out.isEmpty { HTTPSerializer.writeChunk(out, into: &output) }
    }

    private func writeResponseHead(_ upstreamHead: HTTPResponseHead, bodyLength: Int? = nil) {
        guard let head = ex.head else { return }
        ex.isResponseStarted = true
        ex.status = upstreamHead.status
        var headers = ProxyHeaders.clientResponseHeaders(
            upstreamHead, state: state, requestID: ex.requestID, added: ex.responseHeaders,
            includingSecurityHeaders: false)
        var framing = upstreamHead.framing
        if let bodyLength {
            framing = .contentLength(bodyLength)
        } else if ex.sseFilter != nil, framing != .none {
            framing = .chunked  // rewritten events change the length
        }
        switch framing {
        case .contentLength(let n):
            headers.add(name: "Content-Length", value: String(n))
        case .chunked:
            headers.add(name: "Transfer-Encoding", value: "chunked")
            ex.isResponseChunked = true
        case .untilClose:
            if head.version == .http1_1 {
                headers.add(name: "Transfer-Encoding", value: "chunked")
                ex.isResponseChunked = true
            } else {
                closeWhenFlushed = true
            }
        case .none:
            if head.method == "HEAD", let cl = upstreamHead.headers.first(name: "Content-Length") {
                headers.add(name: "Content-Length", value: cl)
            }
        }
        if !keepsAlive(head) { headers.add(name: "Connection", value: "close") }
        HTTPSerializer.writeResponseHead(
            status: upstreamHead.status, headers: headers, preformatted: state.securityHeaderBlock, into: &output)
        // Not flushed here: upstreamReadable writes the head with whatever body came in the same read.
    }

    private func keepsAlive(_ head: HTTPRequestHead) -> Bool {
        head.keepAlive && !closeWhenFlushed && !isDraining
    }

    // MARK: Local answers

    /// Answers with a rejection of the contract (§4): its JSON body, its headers, its security event.
    private func respond(_ rejection: Rejection) {
        if let event = rejection.securityEvent { context.logs.write(event) }
        let own = Set(rejection.headers.map { $0.0.lowercased() })
        var headers = ex.responseHeaders.filter { !own.contains($0.0.lowercased()) }
        ex.responseHeaders = []
        headers.append(contentsOf: rejection.headers)
        headers.append(("Content-Type", "application/json"))
        respondLocal(status: rejection.status, headers: headers, body: rejection.body(requestID: ex.requestID))
    }

    private func respondLocal(status: Int, headers extra: [(String, String)], body: [UInt8]) {
        loop.cancel(responseTimer)
        if let up = ex.upstream {
            ex.upstream = nil
            context.pool.discard(up)
        }
        ex.status = status
        ex.isResponseStarted = true
        if !ex.isRequestDone {
            if ex.head?.expectsContinue == true && !ex.hasSentContinue {
                // The client waits for 100-continue before sending the body: it will not come.
                closeWhenFlushed = true
                isParserFailed = true
                ex.isRequestDone = true
            } else {
                ex.isDiscardingBody = true
                ex.isCollectingBody = false
                ex.body = []
            }
        }
        var headers = HTTPHeaders()
        headers.reserveCapacity(extra.count + ex.responseHeaders.count + state.securityHeaders.count + 4)
        for (n, v) in extra { headers.add(name: n, value: v) }
        for (n, v) in ex.responseHeaders { headers.add(name: n, value: v) }
        if !extra.contains(where: { $0.0 == "Content-Type" }) && !body.isEmpty {
            headers.add(name: "Content-Type", value: "application/json")
        }
        headers.add(name: "X-Request-Id", value: ex.requestID)
        headers.add(name: "Content-Length", value: String(body.count))
        if let head = ex.head { if !keepsAlive(head) { headers.add(name: "Connection", value: "close") } }
        else { headers.add(name: "Connection", value: "close") }
        HTTPSerializer.writeResponseHead(
            status: status, headers: headers, preformatted: state.securityHeaderBlock, into: &output)
        if ex.head?.method != "HEAD" { output.writeBytes(body) }
        ex.bytesOut += Int64(body.count)
        ex.isResponseDone = true
        flushOutput()
        checkExchangeComplete()
    }

    // MARK: End of an exchange

    private func checkExchangeComplete() {
        guard ex.isActive, ex.isRequestDone, ex.isResponseDone, !isClosed else { return }
        finishExchange()
        if closeWhenFlushed || isDraining || ex.head.map({ !$0.keepAlive }) ?? true {
            closeWhenFlushed = true
            ex = Exchange()
            flushOutput()
            return
        }
        ex = Exchange()
        if input.isEmpty {
            releaseIdleBuffers()
            loop.arm(idleTimer, after: state.idleTimeoutMilliseconds)
        } else {
            loop.arm(headerTimer, after: state.headerTimeoutMilliseconds)
        }
        setReading(true)
        processInput()
    }

    /// Step 10: the access record and the metrics.
    private func finishExchange() {
        let elapsed = monotonicMilliseconds() - ex.startMilliseconds
        let duration = Double(elapsed)
        let metrics = context.metrics
        metrics.recordRequest(status: ex.status, rpcMethod: ex.rpcMethod, durationNanoseconds: UInt64(max(0, elapsed)) * 1_000_000)
        if let up = ex.upstreamMilliseconds { metrics.recordUpstreamResponse(durationNanoseconds: UInt64(max(0, up)) * 1_000_000) }
        if ex.rpcMethod == "tools/call", let tool = ex.tool, ex.status != 400 {
            let outcome: ToolCallOutcome
            switch ex.status {
            case 200..<300: outcome = .ok
            case 403: outcome = .denied
            case 429: outcome = .rateLimited
            case 504: outcome = .timeout
            case 502: outcome = .upstreamError
            default: outcome = .error
            }
            metrics.recordToolCall(tool: tool, outcome: outcome)
        }
        context.logs.write(
            AccessRecord(
                method: ex.head?.method ?? "-", path: ex.head.map { String($0.path) } ?? "-", status: ex.status,
                durationMilliseconds: duration, bytesIn: ex.bytesIn, bytesOut: ex.bytesOut,
                upstreamMilliseconds: ex.upstreamMilliseconds, userID: ex.principal?.name, rpcMethod: ex.rpcMethod,
                tool: ex.tool, requestID: ex.requestID, ipAddress: ex.clientIP.isEmpty ? peerHost : ex.clientIP))
    }

    // MARK: Output and lifetime

    private func flushOutput() {
        guard !isClosed else { return }
        while !output.isEmpty {
            let r = output.withUnsafeReadableBytes { p -> Int in transport.write(p) }
            if r > 0 { output.moveReaderIndex(forwardBy: r); continue }
            let e = Int32(-r)
            if e == EINTR { continue }
            if e == EAGAIN { break }
            clientGone()
            return
        }
        if output.isEmpty {
            output.clear()
            // Only between exchanges: a finished exchange is logged (checkExchangeComplete) before it closes.
            if closeWhenFlushed && !ex.isActive {
                close()
                return
            }
        }
        let needWrite = !output.isEmpty
        if needWrite != wantsWrite {
            wantsWrite = needWrite
            updateInterest()
        }
        if output.readableBytes < ClientConnection.lowWaterMark, let up = ex.upstream, !up.isReading {
            up.setReading(true)
        }
    }

    /// Gives the buffers' memory back between requests (the next read allocates again).
    private func releaseIdleBuffers() {
        guard !ex.isActive else { return }
        if input.isEmpty && input.capacity > 0 { input = ByteBuffer() }
        if output.isEmpty && output.capacity > 0 { output = ByteBuffer() }
    }

    private func setReading(_ on: Bool) {
        guard on != isReading, !isClosed else { return }
        isReading = on
        updateInterest()
        // Input that TLS read ahead while reading was paused is invisible to epoll.
        if on && transport.mayHaveMoreInput { loop.markReadable(fd) }
    }

    private func updateInterest() {
        guard !isClosed, !isHandshaking else { return }
        loop.setInterest(fd, readable: isReading, writable: wantsWrite || transport.readWantsWrite)
    }

    /// The client closed or reset: whatever was in flight for it is abandoned, the upstream connection too.
    private func clientGone() {
        if ex.isActive && !ex.isResponseDone {
            if ex.status == 0 { ex.status = 499 }
            finishExchange()
        }
        abort()
    }

    private func abort() {
        if let up = ex.upstream {
            ex.upstream = nil
            context.pool.discard(up)
        }
        close()
    }

    private func headerTimedOut() {
        guard !isClosed else { return }
        if ex.isActive && ex.isRequestDone { return }
        if ex.isActive && ex.isResponseStarted {
            abort()
            return
        }
        if !ex.isActive && input.isEmpty && parser.isIdle {
            close()
            return
        }
        if !ex.isActive { startExchangeRecord(head: nil) }
        isParserFailed = true
        closeWhenFlushed = true
        ex.isRequestDone = true
        respond(Rejection.standard(status: 408))
    }

    private func idleTimedOut() {
        guard !isClosed, !ex.isActive else { return }
        close()
    }

    /// SIGTERM: finish the current exchange (if any), then close.
    func drain() {
        isDraining = true
        if !ex.isActive && output.isEmpty {
            close()
        }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.cancel(headerTimer)
        loop.cancel(idleTimer)
        loop.cancel(responseTimer)
        if let up = ex.upstream {
            ex.upstream = nil
            context.pool.discard(up)
        }
        if isHandshaking { transport.dropTLS() } else { transport.shutdown() }
        loop.deregister(fd)
        closeDescriptor(fd)
        context.counters.activeConnections.subtract(1, ordering: .relaxed)
        onClose?()
        onClose = nil
        context.connectionClosed(self)
    }
}
