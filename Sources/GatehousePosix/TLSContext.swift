import CGatehouseShims
import COpenSSL
import Glibc

/// Server-side TLS settings (`[tls]` of PRODUCT.md §2), already checked by the configuration layer;
/// `TLSContext` still refuses values OpenSSL cannot use.
public struct TLSServerSettings: Sendable {
    /// Whether client certificates are asked for (`tls.client_auth`).
    public enum ClientAuth: Sendable {
        /// No certificate request.
        case off
        /// A certificate is requested; a client without one is admitted, a presented certificate that
        /// does not verify against `client_ca` fails the handshake.
        case optional
        /// A client without a certificate that verifies against `client_ca` fails the handshake.
        case require
    }

    /// The seed's TLS 1.2 cipher list (`tls.ciphers` default).
    public static let defaultCiphers = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS"

    /// PEM certificate chain, leaf first.
    public var certificatePath: String
    /// PEM private key of the leaf.
    public var privateKeyPath: String
    /// "1.2" or "1.3".
    public var minimumVersion: String
    /// TLS 1.2 cipher list in OpenSSL syntax (TLS 1.3 suites are fixed, see `TLSContext`).
    public var ciphers: String
    /// PEM CA bundle for client certificates; "" = no client certificates.
    public var clientCAPath: String
    /// Whether client certificates are requested, and whether they are mandatory.
    public var clientAuth: ClientAuth

    public init(
        certificatePath: String = "", privateKeyPath: String = "", minimumVersion: String = "1.2",
        ciphers: String = TLSServerSettings.defaultCiphers, clientCAPath: String = "",
        clientAuth: ClientAuth = .off
    ) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.minimumVersion = minimumVersion
        self.ciphers = ciphers
        self.clientCAPath = clientCAPath
        self.clientAuth = clientAuth
    }
}

/// One `SSL_CTX` for a configuration, shared by every event loop: it is read-only after `init`, and
/// OpenSSL's `SSL_CTX` is safe for concurrent `SSL_new` (its session cache has its own lock).
///
/// Session tickets are encrypted with keys OpenSSL generates per context; a reload (SIGHUP) builds a new
/// context and so rotates them. Tickets issued under the old context stop resuming after the reload,
/// which costs those clients one full handshake and nothing else.
public final class TLSContext: @unchecked Sendable {
    /// TLS 1.3 suites, in the server's order of preference.
    public static let tls13CipherSuites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
    /// Key-exchange groups, in order of preference.
    public static let groups = "X25519:P-256:P-384"
    /// Entries in the server-side session cache (for clients resuming by session id, TLS 1.2).
    public static let sessionCacheSize = 20_480

    let context: OpaquePointer
    /// Server context (accepts) or client context (connects).
    public let isServer: Bool
    /// Whether the peer's certificate is verified: client certificates on a server with
    /// `clientAuth != .off`, the server's certificate on a client with `verifyPeer`.
    public let verifiesPeer: Bool
    /// Epoch seconds of this context's own leaf certificate's notAfter (for `check --production`).
    public private(set) var certificateNotAfter: Int64?

    /// A server context: the certificate chain and key of `settings`, the protocol and cipher policy of
    /// issue 3, ALPN `http/1.1`, session tickets and a server-side session cache.
    public init(server settings: TLSServerSettings) throws(TLSError) {
        let minimum: Int32
        switch settings.minimumVersion {
        case "1.2": minimum = gh_TLS1_2_VERSION()
        case "1.3": minimum = gh_TLS1_3_VERSION()
        default:
            throw TLSError("tls.min_version must be \"1.2\" or \"1.3\", not \"\(settings.minimumVersion)\"")
        }
        guard !settings.certificatePath.isEmpty, !settings.privateKeyPath.isEmpty else {
            throw TLSError("TLS certificate and key paths required when HTTPS is enabled")
        }
        if settings.clientAuth != .off && settings.clientCAPath.isEmpty {
            throw TLSError("tls.client_auth requires tls.client_ca (a PEM CA bundle)")
        }
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.drainingQueue("cannot create a TLS server context")
        }
        self.context = context
        isServer = true
        verifiesPeer = settings.clientAuth != .off
        // From here on, a throw frees `context` through deinit.
        certificateNotAfter = nil
        try configureProtocol(minimum: minimum)
        guard SSL_CTX_set_cipher_list(context, settings.ciphers) == 1 else {
            throw TLSError.drainingQueue("tls.ciphers selects no usable cipher (\"\(settings.ciphers)\")")
        }
        guard SSL_CTX_set_ciphersuites(context, Self.tls13CipherSuites) == 1 else {
            throw TLSError.drainingQueue("cannot set the TLS 1.3 cipher suites")
        }
        _ = gh_SSL_CTX_set_options(
            context,
            gh_SSL_OP_NO_COMPRESSION() | gh_SSL_OP_NO_RENEGOTIATION() | gh_SSL_OP_CIPHER_SERVER_PREFERENCE())
        // The DHE suites of the seed's list need parameters; the RFC 7919 groups sized to the key.
        _ = gh_SSL_CTX_set_dh_auto(context, 1)

        try loadCertificate(chain: settings.certificatePath, key: settings.privateKeyPath)

        // Resumption: stateless tickets (on by default) plus a server-side cache for session ids. The
        // id context is required once peers are verified, or resumption fails the handshake.
        _ = gh_SSL_CTX_set_session_cache_mode(context, Int(SSL_SESS_CACHE_SERVER))
        _ = gh_SSL_CTX_sess_set_cache_size(context, Self.sessionCacheSize)
        let idContext: [UInt8] = Array("gatehouse".utf8)
        guard SSL_CTX_set_session_id_context(context, idContext, UInt32(idContext.count)) == 1 else {
            throw TLSError.drainingQueue("cannot set the session id context")
        }

        SSL_CTX_set_alpn_select_cb(context, selectHTTP11, nil)

        if settings.clientAuth != .off {
            try loadClientCA(settings.clientCAPath)
            var mode = SSL_VERIFY_PEER
            if settings.clientAuth == .require { mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT }
            SSL_CTX_set_verify(context, mode, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        certificateNotAfter = Self.notAfter(of: SSL_CTX_get0_certificate(context))
    }

    /// A client context (upstream https, JWKS fetch): TLS 1.2 or 1.3, the peer verified against
    /// `clientCAFile` (or the system trust store when nil or empty) when `verifyPeer`; SNI and the
    /// hostname check are per connection (`TLSConnection(context:fd:serverName:)`). A certificate and key,
    /// when given, are offered to servers that ask for one.
    public convenience init(
        clientCAFile: String?, verifyPeer: Bool, certificatePath: String? = nil, privateKeyPath: String? = nil
    ) throws(TLSError) {
        try self.init(
            clientCAFile: clientCAFile, verifyPeer: verifyPeer, certificatePath: certificatePath,
            privateKeyPath: privateKeyPath, maximumVersion: gh_TLS1_3_VERSION())
    }

    /// The client context with a protocol ceiling (tests use it to play an old client).
    init(
        clientCAFile: String?, verifyPeer: Bool, certificatePath: String?, privateKeyPath: String?,
        maximumVersion: Int32
    ) throws(TLSError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSError.drainingQueue("cannot create a TLS client context")
        }
        self.context = context
        isServer = false
        verifiesPeer = verifyPeer
        certificateNotAfter = nil
        try configureProtocol(minimum: gh_TLS1_2_VERSION(), maximum: maximumVersion)
        _ = gh_SSL_CTX_set_options(context, gh_SSL_OP_NO_COMPRESSION() | gh_SSL_OP_NO_RENEGOTIATION())
        if let caFile = clientCAFile, !caFile.isEmpty {
            try Self.checkReadable(caFile, what: "CA file")
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw TLSError.drainingQueue("cannot load CA file \(caFile)")
            }
        } else if verifyPeer {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw TLSError.drainingQueue("cannot load the system trust store")
            }
        }
        SSL_CTX_set_verify(context, verifyPeer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        if let certificatePath, let privateKeyPath, !certificatePath.isEmpty {
            try loadCertificate(chain: certificatePath, key: privateKeyPath)
            certificateNotAfter = Self.notAfter(of: SSL_CTX_get0_certificate(context))
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// Version range, groups and the buffer modes the event loop relies on.
    private func configureProtocol(minimum: Int32, maximum: Int32 = gh_TLS1_3_VERSION()) throws(TLSError) {
        guard gh_SSL_CTX_set_min_proto_version(context, minimum) == 1,
            gh_SSL_CTX_set_max_proto_version(context, maximum) == 1
        else { throw TLSError.drainingQueue("cannot set the TLS version range") }
        guard gh_SSL_CTX_set1_groups_list(context, Self.groups) == 1 else {
            throw TLSError.drainingQueue("cannot set the key-exchange groups \(Self.groups)")
        }
        // Partial writes: `write` reports what went out and the caller keeps the rest in its buffer, which
        // may move between attempts. Released buffers keep idle keep-alive connections small.
        _ = gh_SSL_CTX_set_mode(
            context,
            gh_SSL_MODE_ENABLE_PARTIAL_WRITE() | gh_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER()
                | gh_SSL_MODE_RELEASE_BUFFERS())
        // Read-ahead: one read(2) takes whatever the socket holds (a record's header and body, or several
        // records) instead of two reads per record; `TLSConnection.hasBufferedInput` tells the owner when
        // bytes wait in OpenSSL rather than in the socket (epoll would not report them).
        gh_SSL_CTX_set_read_ahead(context, 1)
    }

    /// The PEM chain (leaf first) and its key; a key that is not the leaf's is refused.
    private func loadCertificate(chain: String, key: String) throws(TLSError) {
        try Self.checkReadable(chain, what: "certificate")
        try Self.checkReadable(key, what: "private key")
        guard SSL_CTX_use_certificate_chain_file(context, chain) == 1 else {
            throw TLSError.drainingQueue("cannot load certificate chain \(chain)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
            // OpenSSL also lands here when the key parses but belongs to another certificate.
            let reasons = TLSError.drainErrorQueue()
            if reasons.contains("key values mismatch") {
                throw TLSError("certificate and key do not match (\(chain), \(key)): \(reasons)")
            }
            throw TLSError(
                reasons.isEmpty ? "cannot load private key \(key)" : "cannot load private key \(key): \(reasons)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            let reasons = TLSError.drainErrorQueue()
            throw TLSError(
                reasons.isEmpty
                    ? "certificate and key do not match (\(chain), \(key))"
                    : "certificate and key do not match (\(chain), \(key)): \(reasons)")
        }
    }

    /// `client_ca` as the trust store for client certificates and as the CA list sent to clients.
    private func loadClientCA(_ path: String) throws(TLSError) {
        try Self.checkReadable(path, what: "client CA file")
        guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
            throw TLSError.drainingQueue("cannot load client CA file \(path)")
        }
        guard let names = SSL_load_client_CA_file(path) else {
            throw TLSError.drainingQueue("client CA file \(path) holds no certificate")
        }
        SSL_CTX_set_client_CA_list(context, names)
    }

    /// Refuses a file that cannot be opened, naming it and the reason (OpenSSL's own message for a
    /// missing file says neither clearly).
    static func checkReadable(_ path: String, what: String) throws(TLSError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TLSError("cannot read \(what) \(path): \(TLSError.errnoText(errno))")
        }
        var info = stat()
        let isDirectory = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
        _ = close(fd)
        if isDirectory { throw TLSError("cannot read \(what) \(path): it is a directory") }
    }

    /// Epoch seconds of a certificate's notAfter.
    static func notAfter(of certificate: OpaquePointer?) -> Int64? {
        guard let certificate, let time = X509_get0_notAfter(certificate) else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Int64(timegm(&parts))
    }
}

/// ALPN on the server: `http/1.1` when the client offers it, otherwise no ALPN at all (h2-only clients
/// are refused quietly: the HTTP/1.1 parser answers whatever they send next). The client's list is
/// untrusted bytes: every length is checked before use.
private func selectHTTP11(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?, _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32,
    _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_NOACK }
    let wanted: StaticString = "http/1.1"
    let total = Int(offeredLength)
    var index = 0
    while index < total {
        let length = Int(offered[index])
        let start = index + 1
        guard length > 0, start + length <= total else { return SSL_TLSEXT_ERR_NOACK }
        if length == wanted.utf8CodeUnitCount
            && memcmp(offered + start, wanted.utf8Start, length) == 0
        {
            out.pointee = offered + start
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index = start + length
    }
    return SSL_TLSEXT_ERR_NOACK
}
