import GatehouseConfig
import GatehouseHTTP
import GatehousePolicy
import GatehousePosix
import Glibc
import Synchronization

/// The JWT side of authentication for one configuration: the verifier (secret, jwks_file, and the keys
/// last fetched from jwks_url), the verified-token cache, and the JWKS fetching — at start, every
/// `jwks_refresh`, and when a token names an unknown `kid` (at most every `jwks_refetch_min_interval`).
/// A failed fetch keeps the keys it had.
public final class JWTAuthority: @unchecked Sendable {
    struct Current {
        var verifier: JWTVerifier
        var fetchedAt: Int64?  // monotonic ms of the last good fetch
        var lastAttempt: Int64 = -1_000_000_000
        var isFetching = false
        /// Requests parked on a refetch: each resumes on its own loop.
        var waiters: [(EventLoop, @Sendable () -> Void)] = []
    }

    let settings: JWTSettingsRuntime
    let fileKeys: JWKSet?
    let url: UpstreamURL?
    let refreshMilliseconds: Int64
    let refetchMinIntervalMilliseconds: Int64
    let tokenCache = TokenCache(capacity: 10_000)
    private let current: Mutex<Current>
    private let isStopped = Atomic<Bool>(false)
    private var refreshTimer: LoopTimer?
    private var tlsContext: TLSContext?

    init(settings: JWTSettingsRuntime, fileKeys: JWKSet?, url: UpstreamURL?, refresh: Duration, refetchMinInterval: Duration) {
        self.settings = settings
        self.fileKeys = fileKeys
        self.url = url
        refreshMilliseconds = GatewayState.milliseconds(refresh)
        refetchMinIntervalMilliseconds = GatewayState.milliseconds(refetchMinInterval)
        // With a jwks_url whose first fetch has not landed yet, an empty set (not "no set"): a token then
        // names an unknown kid and triggers a fetch, instead of reading as key confusion.
        let initial = fileKeys ?? (url != nil ? JWKSet(keys: []) : nil)
        current = Mutex(Current(verifier: JWTVerifier(settings: settings, keys: initial, clock: SystemClock())))
        if let url, url.isTLS { tlsContext = try? TLSContext(clientCAFile: nil, verifyPeer: true) }
    }

    public var verifier: JWTVerifier { current.withLock { $0.verifier } }

    /// Seconds since the last successful JWKS fetch (nil: none yet, or no jwks_url), for /metrics.
    public var keysAgeSeconds: Double? {
        current.withLock { c in c.fetchedAt.map { Double(monotonicMilliseconds() - $0) / 1000 } }
    }

    /// Starts fetching on `loop` (call on that loop): now, then every jwks_refresh.
    func start(on loop: EventLoop, logs: GatewayLogs) {
        guard url != nil else { return }
        let timer = LoopTimer { [weak self, unowned loop] in
            guard let self, !self.isStopped.load(ordering: .relaxed) else { return }
            self.fetch(on: loop, logs: logs)
            if let t = self.refreshTimer { loop.arm(t, after: self.refreshMilliseconds) }
        }
        refreshTimer = timer
        fetch(on: loop, logs: logs)
        loop.arm(timer, after: refreshMilliseconds)
    }

    /// A replaced configuration's authority stops refreshing (its timer fires once more at most, and does nothing).
    func stop() {
        isStopped.store(true, ordering: .relaxed)
    }

    /// A token named a `kid` we do not have: refetch unless one ran recently. True when `resume` will be
    /// called (on `loop`) after the fetch; false when the caller should refuse now.
    func refetchForUnknownKey(
        kid: String, from loop: EventLoop, fetchLoop: EventLoop, logs: GatewayLogs,
        resume: @escaping @Sendable () -> Void
    ) -> Bool {
        guard url != nil else { return false }
        let now = monotonicMilliseconds()
        let decision: (park: Bool, startFetch: Bool) = current.withLock { c in
            if c.isFetching {
                c.waiters.append((loop, resume))
                return (true, false)
            }
            // A fetch that finished between this request's verification and now may have brought the key:
            // verify again rather than refuse.
            if c.verifier.keys?.contains(kid: kid) == true {
                loop.execute(resume)
                return (true, false)
            }
            guard now - c.lastAttempt >= refetchMinIntervalMilliseconds else { return (false, false) }
            c.waiters.append((loop, resume))
            return (true, true)
        }
        if decision.startFetch {
            let bound = LoopBound(value: (self, fetchLoop))
            fetchLoop.execute {
                let (authority, l) = bound.value
                authority.fetch(on: l, logs: logs)
            }
        }
        return decision.park
    }

    /// One fetch of jwks_url on `loop`; on success the verifier is replaced (and the cache emptied).
    private func fetch(on loop: EventLoop, logs: GatewayLogs) {
        guard let url else { return }
        let proceed = current.withLock { c -> Bool in
            if c.isFetching { return false }
            c.isFetching = true
            c.lastAttempt = monotonicMilliseconds()
            return true
        }
        guard proceed else { return }
        HTTPFetch.get(url: url, tls: tlsContext, on: loop, timeoutMilliseconds: 5000) { [weak self] result in
            guard let self else { return }
            var outcome: String
            var keys: JWKSet?
            switch result {
            case .success(let (status, body)):
                if status == 200 {
                    do {
                        keys = try JWKSet.parse(body)
                        outcome = "ok"
                    } catch {
                        outcome = "invalid JWK Set: \(error)"
                    }
                } else {
                    outcome = "HTTP \(status)"
                }
            case .failure(let error):
                outcome = error.message
            }
            let merged = keys.map { JWKSet(keys: (self.fileKeys?.keys ?? []) + $0.keys, notes: $0.notes) }
            let waiters = self.current.withLock { c -> [(EventLoop, @Sendable () -> Void)] in
                c.isFetching = false
                if let merged {
                    c.verifier = JWTVerifier(settings: self.settings, keys: merged, clock: SystemClock())
                    c.fetchedAt = monotonicMilliseconds()
                }
                let w = c.waiters
                c.waiters = []
                return w
            }
            if merged != nil { self.tokenCache.removeAll() }
            logs.write(
                SecurityEvent(
                    .security(
                        severity: merged != nil ? .low : .medium,
                        kind: merged != nil ? "jwks_fetched" : "jwks_fetch_failed",
                        details: [("url", .string(url.description)), ("outcome", .string(outcome)),
                                  ("keys", .int(Int64(merged?.keys.count ?? 0)))]),
                    ipAddress: nil, userAgent: nil, requestID: nil))
            for (l, resume) in waiters { l.execute(resume) }
        }
    }
}

/// Why a fetch failed.
struct FetchError: Error {
    var message: String
}

/// A one-shot HTTP(S) GET on the event loop (JWKS documents): connect, send, read to the end, parse with
/// the gateway's own response parser. Bounded in time and size.
final class HTTPFetch: UpstreamConnectionDelegate {
    private let completion: (Result<(Int, [UInt8]), FetchError>) -> Void
    private var connection: UpstreamConnection?
    private var status = 0
    private var body: [UInt8] = []
    private var isDone = false
    private var timer: LoopTimer?
    private unowned let loop: EventLoop
    private static let maxBody = 1 << 20

    static func get(url: UpstreamURL, tls: TLSContext?, on loop: EventLoop, timeoutMilliseconds: Int64,
                    completion: @escaping (Result<(Int, [UInt8]), FetchError>) -> Void) {
        let fetch = HTTPFetch(loop: loop, completion: completion)
        fetch.begin(url: url, tls: tls, timeoutMilliseconds: timeoutMilliseconds)
    }

    private init(loop: EventLoop, completion: @escaping (Result<(Int, [UInt8]), FetchError>) -> Void) {
        self.loop = loop
        self.completion = completion
    }

    private func begin(url: UpstreamURL, tls: TLSContext?, timeoutMilliseconds: Int64) {
        do {
            let address = try SocketAddress.resolve(host: url.host, port: url.port)
            let (fd, inProgress) = try Socket.connect(to: address)
            var session: TLSConnection?
            if url.isTLS {
                guard let tls else { closeDescriptor(fd); return finish(.failure(FetchError(message: "no TLS context"))) }
                session = try? TLSConnection(context: tls, fd: fd, serverName: url.host)
            }
            let c = UpstreamConnection(loop: loop, fd: fd, connecting: inProgress, limits: HTTPLimits(), tls: session)
            c.delegate = self
            connection = c
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: url.authority)
            headers.add(name: "Accept", value: "application/json, application/jwk-set+json")
            headers.add(name: "Connection", value: "close")
            headers.add(name: "User-Agent", value: "gatehouse")
            HTTPSerializer.writeRequestHead(method: "GET", target: url.requestTarget, headers: headers, into: &c.output)
            c.parser.expectResponse(toRequestMethod: "GET")
            // The fetch keeps itself alive through the timer until it finishes.
            let t = LoopTimer { [self] in self.finish(.failure(FetchError(message: "timed out"))) }
            timer = t
            loop.arm(t, after: timeoutMilliseconds)
            if c.state == .connected { c.flush() }
        } catch {
            finish(.failure(FetchError(message: "\(error)")))
        }
    }

    func upstreamConnected(_ upstream: UpstreamConnection) {}
    func upstreamWritable(_ upstream: UpstreamConnection) {}

    func upstreamFailed(_ upstream: UpstreamConnection, error: SystemError?, beforeResponse: Bool) {
        finish(.failure(FetchError(message: error.map { "\($0)" } ?? "connection failed")))
    }

    func upstreamReadable(_ upstream: UpstreamConnection, eof: Bool) {
        do {
            while let part = try upstream.parser.next(&upstream.input) {
                switch part {
                case .head(let h): status = h.status
                case .body(let b):
                    body.append(contentsOf: b)
                    if body.count > HTTPFetch.maxBody { return finish(.failure(FetchError(message: "document over 1 MiB"))) }
                case .end: return finish(.success((status, body)))
                }
            }
            if eof {
                if case .end = try upstream.parser.finish() ?? .end(trailers: HTTPHeaders()), status != 0 {
                    return finish(.success((status, body)))
                }
                finish(.failure(FetchError(message: "connection closed early")))
            }
        } catch {
            finish(.failure(FetchError(message: "bad response: \(error)")))
        }
    }

    private func finish(_ result: Result<(Int, [UInt8]), FetchError>) {
        guard !isDone else { return }
        isDone = true
        if let t = timer { loop.cancel(t) }
        timer = nil
        connection?.delegate = nil
        connection?.close()
        connection = nil
        completion(result)
    }
}
