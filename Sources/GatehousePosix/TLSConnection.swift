import CGatehouseShims
import COpenSSL
import Glibc

/// The outcome of one TLS read or write on a non-blocking socket.
public enum TLSIO: Equatable {
    /// This many plaintext bytes were read or written.
    case bytes(Int)
    /// Wait until the socket is readable, then call again.
    case wantRead
    /// Wait until the socket is writable, then call again (a write: with the same bytes).
    case wantWrite
    /// The peer closed: a clean close_notify, or EOF without one (HTTP framing detects truncation).
    case closed
}

/// The outcome of one handshake step.
public enum TLSHandshake: Equatable {
    case done
    case wantRead
    case wantWrite
}

/// A TLS session a client can offer again to resume (`TLSConnection(context:fd:serverName:resuming:)`).
public final class TLSSession: @unchecked Sendable {
    let session: OpaquePointer

    /// Takes ownership of one reference to `session`.
    init(owning session: OpaquePointer) {
        self.session = session
    }

    deinit {
        SSL_SESSION_free(session)
    }
}

/// One TLS session on a non-blocking socket the caller owns (the caller also closes the descriptor).
/// Every call returns at once: want-read / want-write say which readiness to wait for, which the
/// level-triggered event loop then reports. Used from one loop thread at a time.
///
/// Writes go through OpenSSL's socket BIO, i.e. `write()`: the process ignores SIGPIPE
/// (`gh_block_signals`), so a vanished peer is an EPIPE error, not a signal.
public final class TLSConnection {
    private let context: TLSContext
    private let ssl: OpaquePointer
    /// After a fatal error OpenSSL forbids `SSL_shutdown` (it would send on a broken session).
    private var hasFailed = false
    private var cachedPrincipal: String??

    /// A server session when `context` is a server context; otherwise a client session that sends
    /// `serverName` as SNI (unless it is an IP address) and checks the certificate against it, offering
    /// ALPN `http/1.1` and resuming `session` when given.
    public init(
        context: TLSContext, fd: Int32, serverName: String? = nil, resuming session: TLSSession? = nil
    ) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.context) else {
            throw TLSError.drainingQueue("cannot create a TLS session")
        }
        self.context = context
        self.ssl = ssl
        guard SSL_set_fd(ssl, fd) == 1 else {
            throw TLSError.drainingQueue("cannot attach the TLS session to descriptor \(fd)")
        }
        if context.isServer {
            SSL_set_accept_state(ssl)
            return
        }
        SSL_set_connect_state(ssl)
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        // SSL_set_alpn_protos is the one OpenSSL call that returns 0 on success.
        guard SSL_set_alpn_protos(ssl, alpn, UInt32(alpn.count)) == 0 else {
            throw TLSError.drainingQueue("cannot set ALPN")
        }
        if let serverName, !serverName.isEmpty {
            try setServerName(serverName)
        }
        if let session, SSL_set_session(ssl, session.session) != 1 {
            throw TLSError.drainingQueue("cannot offer the saved TLS session")
        }
    }

    deinit {
        SSL_free(ssl)
    }

    /// SNI and the expected identity of the server's certificate: a DNS name, or an IP address (checked
    /// against IP SANs and never sent as SNI, RFC 6066 §3).
    private func setServerName(_ name: String) throws(TLSError) {
        let host = name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        var address = in6_addr()
        let isIP = inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1
        if isIP {
            guard let parameters = SSL_get0_param(ssl), X509_VERIFY_PARAM_set1_ip_asc(parameters, host) == 1 else {
                throw TLSError.drainingQueue("cannot set the expected server address \(host)")
            }
            return
        }
        guard gh_SSL_set_tlsext_host_name(ssl, host) == 1 else {
            throw TLSError.drainingQueue("cannot set the server name \(host)")
        }
        SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        guard SSL_set1_host(ssl, host) == 1 else {
            throw TLSError.drainingQueue("cannot set the expected server name \(host)")
        }
    }

    /// One step of the handshake; call again on the readiness it asks for until `.done`.
    public func handshake() throws(TLSError) -> TLSHandshake {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        let savedErrno = errno
        if result == 1 { return .done }
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default: throw failure("TLS handshake failed", code: code, errno: savedErrno, duringHandshake: true)
        }
    }

    /// Bytes already read from the socket but not yet handed out (decrypted or still to decrypt): the
    /// owner must read again before waiting for epoll, which knows only about the socket.
    public var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    /// Reads decrypted bytes. `.closed` once the peer has closed; may return `.wantWrite` (TLS 1.2
    /// key updates and alerts need to send).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSIO {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .bytes(0) }
        ERR_clear_error()
        var count = 0
        let result = SSL_read_ex(ssl, base, buffer.count, &count)
        let savedErrno = errno
        if result == 1 { return .bytes(count) }
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL where savedErrno == 0 && ERR_peek_error() == 0:
            hasFailed = true
            return .closed
        case SSL_ERROR_SSL where gh_ERR_is_unexpected_eof(ERR_peek_error()) == 1:
            ERR_clear_error()
            hasFailed = true
            return .closed
        default: throw failure("TLS read failed", code: code, errno: savedErrno, duringHandshake: false)
        }
    }

    /// Encrypts and sends up to `bytes.count` bytes; a partial count is normal. After `.wantWrite` or
    /// `.wantRead`, call again with the same bytes (the buffer may have moved) once the socket is ready.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> TLSIO {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .bytes(0) }
        ERR_clear_error()
        var count = 0
        let result = SSL_write_ex(ssl, base, bytes.count, &count)
        let savedErrno = errno
        if result == 1 { return .bytes(count) }
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        default: throw failure("TLS write failed", code: code, errno: savedErrno, duringHandshake: false)
        }
    }

    /// Decrypted bytes wait inside OpenSSL: read again without waiting for epoll, which cannot see them.
    public var hasBufferedPlaintext: Bool { SSL_pending(ssl) > 0 }

    /// Sends close_notify if the session is healthy and the socket takes it at once; never waits for
    /// the peer's answer and never blocks. The caller closes the descriptor afterwards.
    public func shutdown() {
        guard !hasFailed, SSL_is_init_finished(ssl) == 1 else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// The negotiated protocol ("TLSv1.3"), once the handshake is done.
    public var protocolVersion: String? {
        guard SSL_is_init_finished(ssl) == 1, let version = SSL_get_version(ssl) else { return nil }
        return String(cString: version)
    }

    /// The negotiated cipher suite (OpenSSL's name), once the handshake is done.
    public var cipher: String? {
        guard SSL_is_init_finished(ssl) == 1, let cipher = SSL_get_current_cipher(ssl),
            let name = SSL_CIPHER_get_name(cipher)
        else { return nil }
        return String(cString: name)
    }

    /// The ALPN protocol both sides agreed on, nil when none was.
    public var alpn: String? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The handshake resumed an earlier session (ticket or session id).
    public var isResumed: Bool { SSL_session_reused(ssl) == 1 }

    /// A session to offer on a later connection to the same server (client side), once one is
    /// resumable. With TLS 1.3 the tickets arrive after the handshake: read some data first.
    public var resumableSession: TLSSession? {
        guard let session = SSL_get1_session(ssl) else { return nil }
        guard SSL_SESSION_is_resumable(session) == 1 else {
            SSL_SESSION_free(session)
            return nil
        }
        return TLSSession(owning: session)
    }

    /// A peer certificate that verified (against `client_ca` on a server): its principal is the first
    /// DNS or URI subject alternative name, else the subject CN. nil without a verified certificate.
    public var peerPrincipal: String? {
        if let cachedPrincipal { return cachedPrincipal }
        guard SSL_is_init_finished(ssl) == 1 else { return nil }
        let principal = computePeerPrincipal()
        cachedPrincipal = .some(principal)
        return principal
    }

    private func computePeerPrincipal() -> String? {
        guard context.verifiesPeer, SSL_get_verify_result(ssl) == Int(X509_V_OK),
            let certificate = SSL_get0_peer_certificate(ssl)
        else { return nil }
        return PeerIdentity.principal(of: certificate)
    }

    /// The error of a failed call: what failed, OpenSSL's reasons, the errno of a failed syscall and
    /// the certificate verification result, in one line.
    private func failure(_ what: String, code: Int32, errno savedErrno: Int32, duringHandshake: Bool) -> TLSError {
        hasFailed = true
        var details: [String] = []
        let reasons = TLSError.drainErrorQueue()
        var isPeerGone = false
        switch code {
        case SSL_ERROR_SYSCALL:
            if savedErrno != 0 {
                details.append(TLSError.errnoText(savedErrno))
                isPeerGone = savedErrno == ECONNRESET || savedErrno == EPIPE || savedErrno == ENOTCONN
            } else if reasons.isEmpty {
                details.append("the peer closed the connection")
                isPeerGone = true
            }
        case SSL_ERROR_ZERO_RETURN:
            details.append("the peer closed the connection")
            isPeerGone = true
        default: break
        }
        if !reasons.isEmpty {
            details.append(reasons)
            if reasons.contains("unexpected eof") { isPeerGone = true }
        }
        if duringHandshake, context.verifiesPeer {
            let verify = SSL_get_verify_result(ssl)
            if verify != Int(X509_V_OK), let text = X509_verify_cert_error_string(verify) {
                details.append("certificate verification: \(String(cString: text))")
            }
        }
        if details.isEmpty { details.append("SSL error \(code)") }
        return TLSError("\(what): \(details.joined(separator: "; "))", isPeerGone: isPeerGone)
    }
}

/// The principal of a verified certificate (PRODUCT.md §5): first DNS or URI SAN, else subject CN.
/// Names with control characters or invalid UTF-8 are skipped: a principal ends up in logs and rules.
enum PeerIdentity {
    static func principal(of certificate: OpaquePointer) -> String? {
        if let names = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) {
            let stack = OpaquePointer(names)
            defer { GENERAL_NAMES_free(stack) }
            for index in 0..<max(0, OPENSSL_sk_num(stack)) {
                guard let raw = OPENSSL_sk_value(stack, index) else { continue }
                let name = raw.assumingMemoryBound(to: GENERAL_NAME.self).pointee
                let string: UnsafeMutablePointer<ASN1_STRING>?
                switch name.type {
                case GEN_DNS: string = name.d.dNSName
                case GEN_URI: string = name.d.uniformResourceIdentifier
                default: continue
                }
                if let text = text(of: string) { return text }
            }
        }
        guard let subject = X509_get_subject_name(certificate) else { return nil }
        let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(subject, index),
            let data = X509_NAME_ENTRY_get_data(entry)
        else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>? = nil
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length > 0, let utf8 else { return nil }
        defer { gh_OPENSSL_free(utf8) }
        return checked(UnsafeBufferPointer(start: utf8, count: Int(length)))
    }

    private static func text(of string: UnsafeMutablePointer<ASN1_STRING>?) -> String? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        let length = ASN1_STRING_length(string)
        guard length > 0 else { return nil }
        return checked(UnsafeBufferPointer(start: data, count: Int(length)))
    }

    private static func checked(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
