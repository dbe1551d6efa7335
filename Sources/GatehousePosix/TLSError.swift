import CGatehouseShims
import COpenSSL
import Glibc

/// What went wrong in TLS, with the OpenSSL error queue drained into `message` so that the log says
/// why a handshake failed (swift-nio-ssl's `SSLErrors.swift`), not only that it did.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    /// One line: what was being done, then OpenSSL's reasons (or the errno text) after a colon.
    public var message: String
    /// The peer went away (reset, broken pipe, EOF in the middle of a handshake): an ordinary end of a
    /// connection, worth a debug line rather than a warning.
    public var isPeerGone: Bool

    public init(_ message: String, isPeerGone: Bool = false) {
        self.message = message
        self.isPeerGone = isPeerGone
    }

    public var description: String { message }

    /// `what`, followed by every entry of this thread's OpenSSL error queue (which is emptied).
    static func drainingQueue(_ what: String) -> TLSError {
        let reasons = drainErrorQueue()
        return TLSError(reasons.isEmpty ? what : "\(what): \(reasons)")
    }

    /// Empties this thread's OpenSSL error queue into one readable line ("" when it was empty):
    /// each entry as "library: reason (detail)", duplicates dropped, oldest first.
    static func drainErrorQueue() -> String {
        var parts: [String] = []
        while true {
            var data: UnsafePointer<CChar>? = nil
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            var text: String
            if let reason = ERR_reason_error_string(code) {
                text = String(cString: reason)
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            if let library = ERR_lib_error_string(code) {
                text = "\(String(cString: library)): \(text)"
            }
            if flags & ERR_TXT_STRING != 0, let data, data.pointee != 0 {
                text += " (\(String(cString: data)))"
            }
            if !parts.contains(text) { parts.append(text) }
        }
        return parts.joined(separator: "; ")
    }

    /// The text of an errno value, for "read: Connection reset by peer".
    static func errnoText(_ code: Int32) -> String {
        strerror(code).map { String(cString: $0) } ?? "errno \(code)"
    }
}
