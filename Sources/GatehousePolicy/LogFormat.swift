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

    /// Appends the timestamp text (without quotes) in place: the digits go straight into `out`.
    static func appendTimestamp(_ millis: Int64, to out: inout [UInt8]) {
        let (days, msOfDay) = floorDivide(millis, 86_400_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let seconds = msOfDay / 1000
        if year < 0 { out.append(UInt8(ascii: "-")) }
        appendDigits(year.magnitude, width: 4, to: &out)
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

    /// Room reserved for a line before its variable-length strings: enough for every fixed part
    /// (names, timestamp, numbers, punctuation) so that the output array is allocated exactly once
    /// unless a string needs escaping that grows it.
    private static let fixedLineCapacity = 384

    /// A security event as one JSON line ending in `\n`.
    public static func line(_ event: SecurityEvent, timestampMillis: Int64) -> [UInt8] {
        var capacity = fixedLineCapacity + clientLength(event.userAgent) + clientLength(event.requestID)
            + (event.ipAddress?.utf8.count ?? 0)
        switch event.payload {
        case .auth(let userID, _, _, let reason):
            capacity += (userID?.utf8.count ?? 0) + (reason?.utf8.count ?? 0)
        case .access(let resource, let action, let userID, _):
            capacity += clientLength(resource) + clientLength(action) + (userID?.utf8.count ?? 0)
        case .security(_, let kind, let details):
            capacity += kind.utf8.count
            for (name, value) in details {
                capacity += name.utf8.count + 4
                if case .string(let text) = value { capacity += clientLength(text) } else { capacity += 20 }
            }
        }
        var json = JSONText(capacity: capacity)
        json.beginObject()
        json.field("event_type", event.eventType)
        json.field("timestamp", timestampMillis: timestampMillis)
        json.field("ip_address", event.ipAddress)
        json.field("user_agent", event.userAgent, maxBytes: maxClientStringBytes)
        json.field("request_id", event.requestID, maxBytes: maxClientStringBytes)
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
            json.field("resource", resource, maxBytes: maxClientStringBytes)
            json.field("action", action, maxBytes: maxClientStringBytes)
            json.field("user_id", userID)
            json.field("allowed", allowed)
        case .security(let severity, let kind, let details):
            json.field("severity", severity.rawValue)
            json.key("details")
            json.beginObject()
            json.field("kind", kind)
            for (name, value) in details where name != "kind" {
                json.field(name, value: value, maxStringBytes: maxClientStringBytes)
            }
            json.endObject()
        }
        json.endObject()
        json.endLine()
        return json.bytes
    }

    /// An access record as one JSON line ending in `\n`.
    public static func line(_ record: AccessRecord, timestampMillis: Int64) -> [UInt8] {
        let pathBytes = min(pathLength(record.path), maxClientStringBytes)
        let capacity = fixedLineCapacity + pathBytes + clientLength(record.method)
            + clientLength(record.rpcMethod) + clientLength(record.tool) + clientLength(record.requestID)
            + (record.userID?.utf8.count ?? 0) + record.ipAddress.utf8.count
        var json = JSONText(capacity: capacity)
        json.beginObject()
        json.field("event_type", "request")
        json.field("timestamp", timestampMillis: timestampMillis)
        json.field("method", record.method, maxBytes: maxClientStringBytes)
        // Only the path: a query string or fragment (which may hold secrets) is never logged.
        json.field("path", record.path, maxBytes: pathBytes)
        json.field("status", record.status)
        json.field("duration_ms", milliseconds: record.durationMilliseconds)
        json.field("bytes_in", record.bytesIn)
        json.field("bytes_out", record.bytesOut)
        json.field("upstream_ms", milliseconds: record.upstreamMilliseconds)
        json.field("user_id", record.userID)
        json.field("rpc_method", record.rpcMethod, maxBytes: maxClientStringBytes)
        json.field("tool", record.tool, maxBytes: maxClientStringBytes)
        json.field("request_id", record.requestID, maxBytes: maxClientStringBytes)
        json.field("ip_address", record.ipAddress)
        json.endObject()
        json.endLine()
        return json.bytes
    }

    /// The UTF-8 length of a client string as it will be logged (before escaping), for the capacity
    /// estimate. `utf8.count` is O(1) for native strings.
    private static func clientLength(_ text: String?) -> Int {
        min(text?.utf8.count ?? 0, maxClientStringBytes)
    }

    /// The number of UTF-8 bytes of a request target before its query string or fragment.
    private static func pathLength(_ target: String) -> Int {
        let utf8 = target.utf8
        func isPathEnd(_ b: UInt8) -> Bool { b == UInt8(ascii: "?") || b == UInt8(ascii: "#") }
        if let length = utf8.withContiguousStorageIfAvailable({ $0.firstIndex(where: isPathEnd) ?? $0.count }) {
            return length
        }
        guard let end = utf8.firstIndex(where: isPathEnd) else { return utf8.count }
        return utf8.distance(from: utf8.startIndex, to: end)
    }

    /// Appends `value` in decimal, zero-padded to `width` digits.
    private static func appendDigits(_ value: Int64, width: Int, to out: inout [UInt8]) {
        JSONText.appendDecimal(value.magnitude, minimumDigits: width, to: &out)
    }

    private static func appendDigits(_ value: UInt64, width: Int, to out: inout [UInt8]) {
        JSONText.appendDecimal(value, minimumDigits: width, to: &out)
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
