import CGatehouseShims
import Glibc

/// An IPv4 or IPv6 socket address, resolved once (at configuration load) and reused.
public struct SocketAddress: Sendable, CustomStringConvertible {
    /// Raw sockaddr bytes (sockaddr_in or sockaddr_in6).
    var storage: sockaddr_storage
    public let length: socklen_t

    public var family: Int32 { Int32(storage.ss_family) }

    /// Resolves `host` (numeric address or name) and `port`. Numeric hosts never touch DNS.
    public static func resolve(host: String, port: UInt16) throws(SystemError) -> SocketAddress {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let h = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let rc = getaddrinfo(h.isEmpty ? "0.0.0.0" : h, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw SystemError("getaddrinfo(\(host))", errno: rc == EAI_SYSTEM ? Glibc.errno : EINVAL)
        }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        let len = first.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(len)))
        }
        return SocketAddress(storage: storage, length: len)
    }

    /// Builds an address from what accept()/getsockname() filled in.
    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// The port in host order.
    public var port: UInt16 {
        var s = storage
        return withUnsafePointer(to: &s) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    /// The raw address bytes (4 for IPv4, 16 for IPv6), for CIDR checks and per-IP accounting.
    public var addressBytes: [UInt8] {
        var s = storage
        return withUnsafePointer(to: &s) { p -> [UInt8] in
            if family == AF_INET {
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) }
                }
            }
            return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                withUnsafeBytes(of: sin6.pointee.sin6_addr) { Array($0) }
            }
        }
    }

    /// The numeric host ("127.0.0.1", "::1"); IPv4-mapped IPv6 shown as IPv4.
    public var host: String {
        let bytes = addressBytes
        if bytes.count == 4 { return bytes.map { String($0) }.joined(separator: ".") }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return bytes[12...].map { String($0) }.joined(separator: ".")
        }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var raw = bytes
        _ = inet_ntop(AF_INET6, &raw, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var s = storage
        return withUnsafePointer(to: &s) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}

/// Socket creation and the calls around it, all non-blocking.
public enum Socket {
    /// A listening socket bound to `address`. With `reusePort`, several loops bind the same port and the
    /// kernel spreads new connections across them.
    public static func listen(on address: SocketAddress, reusePort: Bool, backlog: Int32 = 4096) throws(SystemError) -> Int32 {
        let fd = gh_socket_nonblocking(address.family, Int32(SOCK_STREAM.rawValue))
        guard fd >= 0 else { throw SystemError("socket", errno: Glibc.errno) }
        if reusePort {
            if gh_set_reuseport(fd) != 0 { let e = Glibc.errno; closeDescriptor(fd); throw SystemError("setsockopt(SO_REUSEPORT)", errno: e) }
        } else {
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let rc = address.withSockAddr { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else { let e = Glibc.errno; closeDescriptor(fd); throw SystemError("bind(\(address))", errno: e) }
        guard Glibc.listen(fd, backlog) == 0 else { let e = Glibc.errno; closeDescriptor(fd); throw SystemError("listen", errno: e) }
        return fd
    }

    /// The address a socket is bound to (after binding port 0).
    public static func localAddress(of fd: Int32) throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { throw SystemError("getsockname", errno: Glibc.errno) }
        return SocketAddress(storage: storage, length: len)
    }

    /// Accepts one connection: the new non-blocking descriptor and the peer, or nil when none is waiting.
    public static func accept(_ fd: Int32) throws(SystemError) -> (fd: Int32, peer: SocketAddress)? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let c = withUnsafeMutablePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { gh_accept4(fd, $0, &len) }
            }
            if c >= 0 {
                _ = gh_set_nodelay(c)
                return (c, SocketAddress(storage: storage, length: len))
            }
            let e = Glibc.errno
            switch e {
            case EINTR, ECONNABORTED: continue
            case EAGAIN: return nil
            default: throw SystemError("accept4", errno: e)
            }
        }
    }

    /// Starts a non-blocking connect; `inProgress` means wait for writability, then check `pendingError`.
    public static func connect(to address: SocketAddress) throws(SystemError) -> (fd: Int32, inProgress: Bool) {
        let fd = gh_socket_nonblocking(address.family, Int32(SOCK_STREAM.rawValue))
        guard fd >= 0 else { throw SystemError("socket", errno: Glibc.errno) }
        _ = gh_set_nodelay(fd)
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return (fd, false) }
        let e = Glibc.errno
        if e == EINPROGRESS || e == EINTR { return (fd, true) }
        closeDescriptor(fd)
        throw SystemError("connect(\(address))", errno: e)
    }

    /// SO_ERROR of a socket whose connect finished (0 = connected).
    public static func pendingError(_ fd: Int32) -> Int32 { gh_socket_error(fd) }

    /// True when a pooled connection's peer has closed or sent unexpected bytes (checked before reuse).
    public static func isStale(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let r = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if r == 0 { return true }
        if r > 0 { return true }
        return Glibc.errno != EAGAIN
    }

    /// Sends from `bytes` without raising SIGPIPE: bytes sent (> 0), or minus an errno (EAGAIN: wait).
    @inline(__always)
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        return n < 0 ? -Int(Glibc.errno) : n
    }

    /// Reads into `buffer`: bytes read (> 0), 0 at end of stream, or minus an errno (EAGAIN: wait).
    @inline(__always)
    public static func receive(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
        return n < 0 ? -Int(Glibc.errno) : n
    }

    /// Half-closes the write side (lets a peer see EOF while we still read).
    public static func shutdownWrite(_ fd: Int32) { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }
}
