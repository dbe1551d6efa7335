/// Durations as the configuration writes them: a whole number and a unit, `"250ms"`, `"30s"`, `"5m"`, `"24h"`.
public enum DurationText {
    static let expected = "expected a duration like \"30s\""

    /// The duration `text` names, or nil when it is not `<digits><ms|s|m|h>`.
    public static func parse(_ text: String) -> Duration? {
        let bytes = Array(text.utf8)
        var index = 0
        var number: Int64 = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            // Twelve digits of hours is already far beyond any sensible timeout; stop before overflow.
            guard index < 12 else { return nil }
            number = number * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard index > 0 else { return nil }
        switch String(decoding: bytes[index...], as: UTF8.self) {
        case "ms": return .milliseconds(number)
        case "s": return .seconds(number)
        case "m": return .seconds(number * 60)
        case "h": return .seconds(number * 3600)
        default: return nil
        }
    }

    /// Exact text for `duration` in the units `parse` reads, the way the contract writes them: the
    /// largest unit that counts at least 10 (`"10m"`, `"24h"`), else seconds (`"60s"`, `"300s"`), or
    /// milliseconds for fractions (`"1500ms"`).
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = attoseconds / 1_000_000_000_000_000
        if attoseconds != 0 { return "\(seconds * 1000 + milliseconds)ms" }
        if seconds % 3600 == 0, seconds / 3600 >= 10 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0, seconds / 60 >= 10 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
