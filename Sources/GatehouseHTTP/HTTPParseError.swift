/// Why a message was refused. `status` is the answer the client gets; `isSmuggling` marks the patterns
/// that desynchronize HTTP parsers (the security log records them as `smuggling_attempt`, and the
/// connection is closed).
public struct HTTPParseError: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The class of refusal, which decides the status.
    public enum Kind: Sendable, Equatable, Hashable {
        /// Malformed request: 400.
        case badRequest
        /// Request head over `maxHeaderBytes` or `maxHeaderCount`: 431.
        case headerTooLarge
        /// Request body over `maxBodyBytes`: 413.
        case bodyTooLarge
        /// A transfer coding other than `chunked`: 501.
        case unsupportedTransferCoding
        /// The upstream's response is malformed or cut short: 502.
        case badResponse
    }

    public var kind: Kind
    public var status: Int
    public var isSmuggling: Bool
    /// A short explanation for the security log. It never quotes the received bytes.
    public var reason: String

    public init(kind: Kind, isSmuggling: Bool = false, reason: String) {
        self.kind = kind
        self.status = Self.status(for: kind)
        self.isSmuggling = isSmuggling
        self.reason = reason
    }

    public static func status(for kind: Kind) -> Int {
        switch kind {
        case .badRequest: 400
        case .headerTooLarge: 431
        case .bodyTooLarge: 413
        case .unsupportedTransferCoding: 501
        case .badResponse: 502
        }
    }

    public var description: String {
        "HTTP \(status) (\(kind))\(isSmuggling ? " smuggling" : ""): \(reason)"
    }

    static func badRequest(_ reason: String, smuggling: Bool = false) -> HTTPParseError {
        HTTPParseError(kind: .badRequest, isSmuggling: smuggling, reason: reason)
    }

    static func smuggling(_ reason: String) -> HTTPParseError {
        HTTPParseError(kind: .badRequest, isSmuggling: true, reason: reason)
    }

    static func headerTooLarge(_ reason: String) -> HTTPParseError {
        HTTPParseError(kind: .headerTooLarge, reason: reason)
    }

    static func bodyTooLarge(_ reason: String) -> HTTPParseError {
        HTTPParseError(kind: .bodyTooLarge, reason: reason)
    }

    static func unsupportedCoding(_ reason: String, smuggling: Bool) -> HTTPParseError {
        HTTPParseError(kind: .unsupportedTransferCoding, isSmuggling: smuggling, reason: reason)
    }

    /// The same refusal seen from the client side of an upstream exchange: always a 502.
    var asBadResponse: HTTPParseError {
        HTTPParseError(kind: .badResponse, isSmuggling: isSmuggling, reason: reason)
    }
}
