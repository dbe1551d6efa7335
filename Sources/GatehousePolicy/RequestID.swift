import GatehouseCrypto
import Synchronization

/// Request ids: ≤ 128 visible ASCII from the client is kept; else a fresh random one (random prefix
/// chosen once per process, plus a counter, so generating one costs an atomic increment).
public enum RequestID {
    public static let maxLength = 128

    /// Whether a client's `X-Request-Id` is a sane token: 1…128 bytes of visible ASCII (0x21…0x7E).
    public static func isAcceptable(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        return utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    /// The client's id when acceptable, else a fresh one.
    public static func resolve(clientValue: String?) -> String {
        if let clientValue, isAcceptable(clientValue) { return clientValue }
        return generate()
    }

    /// 32 lower-case hex digits: 16 of a per-process random prefix, 16 of a counter.
    public static func generate() -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        var out = prefix
        out.reserveCapacity(32)
        var shift: UInt64 = 60
        while true {
            out.append(hexDigits[Int((n >> shift) & 0xF)])
            if shift == 0 { break }
            shift -= 4
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    private static let prefix: [UInt8] = Array(Encoding.hex(SecureRandom.bytes(8)).utf8)
    private static let counter = Atomic<UInt64>(0)
}
