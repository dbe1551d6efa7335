/// The TLS protocol floor (`tls.min_version`).
public enum TLSVersion: String, Sendable, CaseIterable {
    case tls12 = "1.2"
    case tls13 = "1.3"
}

/// Whether client certificates are asked for (`tls.client_auth`).
public enum ClientAuthMode: String, Sendable, CaseIterable {
    case off, optional, require
}

/// Which `Host` the upstream sees (`upstream.host_header`).
public enum HostHeaderMode: String, Sendable, CaseIterable {
    /// The upstream's own authority (the official SDK servers answer 421 to anything else).
    case upstream
    /// The client's Host, unchanged.
    case client
}

/// A kind of credential a request may present (`auth.methods`).
public enum CredentialKind: String, Sendable, CaseIterable {
    case apiKey = "api_key"
    case jwt
    case mtls
}

/// A JWS algorithm of `auth.jwt.algorithms`; "none" has no case on purpose.
public enum JWTAlgorithm: String, Sendable, CaseIterable {
    case hs256 = "HS256"
    case hs384 = "HS384"
    case hs512 = "HS512"
    case rs256 = "RS256"
    case rs384 = "RS384"
    case rs512 = "RS512"
    case ps256 = "PS256"
    case ps384 = "PS384"
    case ps512 = "PS512"
    case es256 = "ES256"
    case es384 = "ES384"
    case edDSA = "EdDSA"

    /// HMAC algorithms, verified with `auth.jwt.secret`.
    public var isHMAC: Bool { self == .hs256 || self == .hs384 || self == .hs512 }
}

/// What a rate-limit bucket is keyed by (`rate_limit.per`).
public enum RateLimitScope: String, Sendable, CaseIterable {
    /// The client address, checked before authentication.
    case ip
    /// The authenticated principal, checked after authentication.
    case principal
}

/// Where rate-limit buckets live (`rate_limit.backend`).
public enum RateLimitBackend: String, Sendable, CaseIterable {
    case local, redis
}

/// What a request gets when Redis cannot be asked (`rate_limit.redis_failure`).
public enum RedisFailureMode: String, Sendable, CaseIterable {
    case allow, deny
}

/// Treatment of strings inside tool arguments (`mcp.sanitize`, §6.4).
public enum SanitizeMode: String, Sendable, CaseIterable {
    case off, reject, escape
}

/// Tool definition pinning (`mcp.pin_tools`, §6.7).
public enum PinToolsMode: String, Sendable, CaseIterable {
    case off, warn, enforce
}

/// Log verbosity (`logging.level`); "warn" and "warning" are the same.
public enum LogLevel: String, Sendable, CaseIterable {
    case debug, info, warn, error
}

/// Where a log goes (`logging.security_log`, `logging.access_log`).
public enum LogDestination: Sendable, Equatable, CustomStringConvertible {
    case stdout, stderr, off
    /// A file path, opened for appending and reopened on SIGHUP.
    case file(String)

    init(parsing text: String) throws(ValueError) {
        switch text {
        case "stdout": self = .stdout
        case "stderr": self = .stderr
        case "off": self = .off
        case "": throw ValueError("expected \"stdout\", \"stderr\", \"off\" or a file path")
        default: self = .file(text)
        }
    }

    public var description: String {
        switch self {
        case .stdout: return "stdout"
        case .stderr: return "stderr"
        case .off: return "off"
        case .file(let path): return path
        }
    }
}
