/// Why authentication failed; `message` is the contract's exact 401 text (§4), `reason` is the log reason.
public enum AuthFailure: Error, Sendable, Equatable {
    case missingHeader, invalidScheme, invalidFormat, invalidAPIKey
    /// A JWT that failed a check; `reason` is a short snake_case word for the log (`expired`, `bad_signature`, …).
    case invalidToken(reason: String)

    /// The `error` text of the 401 body.
    public var message: String {
        switch self {
        case .missingHeader: return "Missing Authorization header"
        case .invalidScheme: return "Invalid authorization scheme"
        case .invalidFormat: return "Invalid authorization format"
        case .invalidAPIKey: return "Invalid API key"
        case .invalidToken: return "Invalid or expired token"
        }
    }

    /// The `details.reason` of the `auth` event and the `reason` label of the auth-failure metric.
    public var reason: String {
        switch self {
        case .missingHeader: return "missing_header"
        case .invalidScheme: return "invalid_scheme"
        case .invalidFormat: return "invalid_format"
        case .invalidAPIKey: return "unknown_key"
        case .invalidToken(let reason): return reason
        }
    }

    /// Whether a credential was presented: the challenge then carries `error="invalid_token"`.
    public var tokenPresented: Bool {
        switch self {
        case .missingHeader, .invalidScheme, .invalidFormat: return false
        case .invalidAPIKey, .invalidToken: return true
        }
    }

    /// The credential kind the failure is about, when one could be told (`method` in the `auth` event).
    public var method: Principal.Kind? {
        switch self {
        case .missingHeader, .invalidScheme, .invalidFormat: return nil
        case .invalidAPIKey: return .apiKey
        case .invalidToken: return .jwt
        }
    }
}
