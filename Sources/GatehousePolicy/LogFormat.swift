/// Log records of §10, one JSON object per line with the contract's field names, timestamps UTC with
/// milliseconds.
public enum LogFormat {
    /// Client-chosen strings (user agent, path) are cut to this many bytes so one line stays small.
    public static let maxClientStringBytes = 1024

    /// `2026-11-27T10:07:14.275Z` for milliseconds since the Unix epoch (negative values are before 1970).
    public static func timestamp(epochMilliseconds: Int64) -> String {
        var out = [UInt8]()
        out.reserveCapacity(24)
        appendTimestamp(epochMilliseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendTimestamp(_ millis: Int64, to out: inout [UInt8]) {
        let (days, msOfDay) = floorDivide(millis, 86_400_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let seconds = msOfDay / 1000
        if year < 0 {
            out.append(UInt8(ascii: "-"))
            appendDigits(-year, width: 4, to: &out)
        } else {
            appendDigits(year, width: 4, to: &out)
        }
        out.append(UInt8(ascii: "-"))
        appendDigits(month, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(day, width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendDigits(seconds / 3600, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(seconds / 60 % 60, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(seconds % 60, width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        appendDigits(msOfDay % 1000, width: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// A security event as one JSON line ending in `\n`.
    public static func line(_ event: SecurityEvent, timestampMillis: Int64) -> [UInt8] {
        var json = JSONText()
        json.beginObject()
        json.field("event_type", event.eventType)
        timestampField(&json, timestampMillis)
        json.field("ip_address", event.ipAddress)
        json.field("user_agent", bytes: event.userAgent.map(clientBytes))
        json.field("request_id", bytes: event.requestID.map(clientBytes))
        switch event.payload {
        case .auth(let userID, let success, let method, let reason):
            json.field("user_id", userID)
            json.field("success", success)
            json.key("details")
            json.beginObject()
            json.field("method", method?.rawValue)
            if let reason { json.field("reason", reason) }
            json.endObject()
        case .access(let resource, let action, let userID, let allowed):
            json.field("resource", bytes: clientBytes(resource))
            json.field("action", bytes: clientBytes(action))
            json.field("user_id", userID)
            json.field("allowed", allowed)
        case .security(let severity, let kind, let details):
            json.field("severity", severity.rawValue)
            json.key("details")
            json.beginObject()
            json.field("kind", kind)
            for (name, value) in details where name != "kind" {
                if case .string(let text) = value {
                    json.field(name, bytes: clientBytes(text))
                } else {
                    json.field(name, value: value)
                }
            }
            json.endObject()
        }
        json.endObject()
        var bytes = json.bytes
        bytes.append(0x0A)
        return bytes
    }

    /// An access record as one JSON line ending in `\n`.
    public static func line(_ record: AccessRecord, timestampMillis: Int64) -> [UInt8] {
        var json = JSONText()
        json.beginObject()
        json.field("event_type", "request")
        timestampField(&json, timestampMillis)
        json.field("method", bytes: clientBytes(record.method))
        json.field("path", bytes: clientBytes(pathOnly(record.path)))
        json.field("status", record.status)
        json.field("duration_ms", milliseconds: record.durationMilliseconds)
        json.field("bytes_in", record.bytesIn)
        json.field("bytes_out", record.bytesOut)
        json.field("upstream_ms", milliseconds: record.upstreamMilliseconds)
        json.field("user_id", record.userID)
        json.field("rpc_method", bytes: record.rpcMethod.map(clientBytes))
        json.field("tool", bytes: record.tool.map(clientBytes))
        json.field("request_id", bytes: clientBytes(record.requestID))
        json.field("ip_address", record.ipAddress)
        json.endObject()
        var bytes = json.bytes
        bytes.append(0x0A)
        return bytes
    }

    private static func timestampField(_ json: inout JSONText, _ millis: Int64) {
        var text = [UInt8]()
        text.reserveCapacity(24)
        appendTimestamp(millis, to: &text)
        json.field("timestamp", bytes: text)
    }

    private static func clientBytes(_ text: String) -> [UInt8] {
        let utf8 = text.utf8
        if utf8.count <= maxClientStringBytes { return Array(utf8) }
        return Array(utf8.prefix(maxClientStringBytes))
    }

    private static func pathOnly(_ target: String) -> String {
        guard let q = target.utf8.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) else {
            return target
        }
        return String(Substring(target.utf8[..<q]))
    }

    private static func appendDigits(_ value: Int64, width: Int, to out: inout [UInt8]) {
        var digits = [UInt8]()
        var v = value
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(v % 10))
            v /= 10
        } while v > 0
        if digits.count < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits.count)) }
        out.append(contentsOf: digits.reversed())
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 {
            q -= 1
            r += b
        }
        return (q, r)
    }

    /// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
