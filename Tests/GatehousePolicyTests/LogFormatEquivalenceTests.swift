import XCTest

@testable import GatehousePolicy

/// The log lines must stay byte-for-byte what they were before the writer was made allocation-free:
/// the formatter as it was then is kept below (`ReferenceLogFormat`, `ReferenceJSONText`) and both are
/// run on many randomized inputs.
final class LogFormatEquivalenceTests: XCTestCase {
    /// SplitMix64: deterministic, so a failure reproduces.
    private struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Pieces that exercise every branch of the escaper: plain runs, quotes, backslashes, every control
    /// character, DEL, 2/3/4-byte characters, U+2028/U+2029 and their neighbours, query/fragment marks.
    private static let pieces: [String] = {
        var pieces = ["a", "plain ascii text", "/mcp/path", "\"", "\\", "\u{7F}", "é", "€", "😀", "\u{2028}",
            "\u{2029}", "\u{2027}", "\u{202A}", "\u{FFFD}", "?", "#", "?q=1", " ", "~", "\u{80}", "\u{7FF}",
            "\u{10FFFF}", "中文"]
        for c in 0..<0x20 { pieces.append(String(Unicode.Scalar(UInt8(c)))) }
        return pieces
    }()

    private func randomString(_ g: inout Generator) -> String {
        var s = ""
        switch Int.random(in: 0..<6, using: &g) {
        case 0:
            // Around the 1024-byte cut, so that the cut falls inside multi-byte characters too.
            let fill = Int.random(in: 1000...1030, using: &g)
            s = String(repeating: "x", count: fill)
            while s.utf8.count < 1030 { s += Self.pieces.randomElement(using: &g)! }
        case 1:
            return ""
        case 2:
            // Long and escape-heavy: the escaped text grows past the reserved capacity.
            for _ in 0..<Int.random(in: 200...700, using: &g) { s += Self.pieces.randomElement(using: &g)! }
        default:
            for _ in 0..<Int.random(in: 0...20, using: &g) { s += Self.pieces.randomElement(using: &g)! }
        }
        return s
    }

    private func maybe<T>(_ value: T, _ g: inout Generator) -> T? {
        Bool.random(using: &g) ? value : nil
    }

    private func randomInt64(_ g: inout Generator) -> Int64 {
        switch Int.random(in: 0..<5, using: &g) {
        case 0: return [Int64.min, Int64.max, 0, -1, 1, Int64.min + 1].randomElement(using: &g)!
        case 1: return Int64.random(in: -1000...1000, using: &g)
        default: return Int64(bitPattern: g.next())
        }
    }

    private func randomMilliseconds(_ g: inout Generator) -> Double {
        switch Int.random(in: 0..<8, using: &g) {
        case 0:
            return [0, -0.0, -3, .nan, .infinity, -.infinity, 0.0004, 0.0005, 2.9999, 1.05].randomElement(using: &g)!
        case 1: return Double.random(in: 8.9e12...9.1e12, using: &g)  // around the fixed-point limit
        case 2: return Double.random(in: 1e13...9e18, using: &g)
        case 3: return Double(Int.random(in: 0...100_000, using: &g)) / 1000
        default: return Double.random(in: -10...100_000, using: &g)
        }
    }

    private func randomTimestamp(_ g: inout Generator) -> Int64 {
        switch Int.random(in: 0..<3, using: &g) {
        case 0: return Int64(bitPattern: g.next())
        case 1: return Int64.random(in: -100_000_000_000_000...300_000_000_000_000, using: &g)
        default: return [Int64.min, Int64.max, 0, -1, 1_795_774_034_275].randomElement(using: &g)!
        }
    }

    private func randomValue(_ g: inout Generator) -> LogValue {
        switch Int.random(in: 0..<4, using: &g) {
        case 0: return .string(randomString(&g))
        case 1: return .int(randomInt64(&g))
        case 2: return .bool(Bool.random(using: &g))
        default: return .null
        }
    }

    private func randomEvent(_ g: inout Generator) -> SecurityEvent {
        let payload: SecurityEvent.Payload
        switch Int.random(in: 0..<3, using: &g) {
        case 0:
            let kinds: [Principal.Kind?] = [nil, .apiKey, .jwt]
            payload = .auth(
                userID: maybe(randomString(&g), &g), success: Bool.random(using: &g),
                method: kinds.randomElement(using: &g)!, reason: maybe(randomString(&g), &g))
        case 1:
            payload = .access(
                resource: randomString(&g), action: randomString(&g), userID: maybe(randomString(&g), &g),
                allowed: Bool.random(using: &g))
        default:
            var details: [(String, LogValue)] = []
            for _ in 0..<Int.random(in: 0...5, using: &g) {
                let name = Int.random(in: 0..<4, using: &g) == 0 ? "kind" : randomString(&g)
                details.append((name, randomValue(&g)))
            }
            let severities: [SecurityEvent.Severity] = [.low, .medium, .high]
            payload = .security(
                severity: severities.randomElement(using: &g)!, kind: randomString(&g), details: details)
        }
        return SecurityEvent(
            payload, ipAddress: maybe(randomString(&g), &g), userAgent: maybe(randomString(&g), &g),
            requestID: maybe(randomString(&g), &g))
    }

    private func randomRecord(_ g: inout Generator) -> AccessRecord {
        AccessRecord(
            method: randomString(&g), path: randomString(&g), status: Int(truncatingIfNeeded: randomInt64(&g)),
            durationMilliseconds: randomMilliseconds(&g), bytesIn: randomInt64(&g), bytesOut: randomInt64(&g),
            upstreamMilliseconds: maybe(randomMilliseconds(&g), &g), userID: maybe(randomString(&g), &g),
            rpcMethod: maybe(randomString(&g), &g), tool: maybe(randomString(&g), &g),
            requestID: randomString(&g), ipAddress: randomString(&g))
    }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testSecurityEventLinesMatchReference() {
        var g = Generator(state: 1)
        for round in 0..<3000 {
            let event = randomEvent(&g)
            let millis = randomTimestamp(&g)
            let expected = ReferenceLogFormat.line(event, timestampMillis: millis)
            let actual = LogFormat.line(event, timestampMillis: millis)
            if actual != expected {
                XCTFail("round \(round):\n\(text(actual))\n\(text(expected))")
                return
            }
        }
    }

    func testAccessRecordLinesMatchReference() {
        var g = Generator(state: 2)
        for round in 0..<3000 {
            let record = randomRecord(&g)
            let millis = randomTimestamp(&g)
            let expected = ReferenceLogFormat.line(record, timestampMillis: millis)
            let actual = LogFormat.line(record, timestampMillis: millis)
            if actual != expected {
                XCTFail("round \(round):\n\(text(actual))\n\(text(expected))")
                return
            }
        }
    }

    func testTimestampsMatchReference() {
        var g = Generator(state: 3)
        for _ in 0..<20_000 {
            let millis = randomTimestamp(&g)
            XCTAssertEqual(
                LogFormat.timestamp(epochMilliseconds: millis), ReferenceLogFormat.timestamp(epochMilliseconds: millis))
        }
    }

    /// Strings cannot hold invalid UTF-8, so raw bytes go through the writer directly: random bytes
    /// biased to lead and continuation bytes, whole and cut at every length, contiguous or not.
    func testRawBytesMatchReference() {
        var g = Generator(state: 4)
        let interesting: [UInt8] = [
            0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x22, 0x5C, 0x7E, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
            0xE2, 0x80, 0xA8, 0xA9, 0xED, 0x9F, 0xA0, 0xEF, 0xF0, 0x8F, 0x90, 0xF4, 0xF5, 0xFF, 0x41,
        ]
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...40, using: &g)
            let input = (0..<count).map { _ in
                Bool.random(using: &g) ? interesting.randomElement(using: &g)! : UInt8.random(in: 0...255, using: &g)
            }
            var expected: [UInt8] = []
            ReferenceJSONText.appendString(input, to: &expected)
            var actual: [UInt8] = []
            JSONText.appendString(input, to: &actual)
            XCTAssertEqual(actual, expected, "\(input)")

            let cut = Int.random(in: 0...count, using: &g)
            var expectedCut: [UInt8] = []
            ReferenceJSONText.appendString(Array(input.prefix(cut)), to: &expectedCut)
            var actualCut: [UInt8] = []
            JSONText.appendString(input, maxBytes: cut, to: &actualCut)
            XCTAssertEqual(actualCut, expectedCut, "\(input) cut at \(cut)")
            // A collection without contiguous storage takes the copying path.
            var actualLazy: [UInt8] = []
            JSONText.appendString(input.lazy.map { $0 }, maxBytes: cut, to: &actualLazy)
            XCTAssertEqual(actualLazy, expectedCut, "\(input) cut at \(cut), not contiguous")
        }
    }

    func testIntegersAndMillisecondsMatchReference() {
        var g = Generator(state: 5)
        for _ in 0..<20_000 {
            let int = randomInt64(&g)
            let ms = randomMilliseconds(&g)
            var actual = JSONText()
            actual.beginObject()
            actual.field("i", int)
            actual.field("ms", milliseconds: ms)
            actual.field("v", value: .int(int))
            actual.endObject()
            var expected = ReferenceJSONText()
            expected.beginObject()
            expected.field("i", int)
            expected.field("ms", milliseconds: ms)
            expected.field("v", value: .int(int))
            expected.endObject()
            XCTAssertEqual(actual.bytes, expected.bytes, "\(int) \(ms)")
        }
    }
}

// MARK: - The formatter before the allocation-free rewrite, kept verbatim as the reference.

/// Log records of §10, one JSON object per line with the contract's field names, timestamps UTC with
/// milliseconds.
private enum ReferenceLogFormat {
    /// Client-chosen strings (user agent, path) are cut to this many bytes so one line stays small.
    static let maxClientStringBytes = 1024

    /// `2026-11-27T10:07:14.275Z` for milliseconds since the Unix epoch (negative values are before 1970).
    static func timestamp(epochMilliseconds: Int64) -> String {
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
    static func line(_ event: SecurityEvent, timestampMillis: Int64) -> [UInt8] {
        var json = ReferenceJSONText()
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
    static func line(_ record: AccessRecord, timestampMillis: Int64) -> [UInt8] {
        var json = ReferenceJSONText()
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

    private static func timestampField(_ json: inout ReferenceJSONText, _ millis: Int64) {
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

private struct ReferenceJSONText {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// Writes `"name":` and leaves the writer ready for the value.
    mutating func key(_ name: String) {
        separate()
        Self.appendString(name.utf8, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func field(_ name: String, _ value: String?) {
        key(name)
        string(value)
    }

    mutating func field(_ name: String, bytes value: [UInt8]?) {
        key(name)
        if let value { Self.appendString(value, to: &bytes) } else { appendRaw("null") }
        needsComma = true
    }

    mutating func field(_ name: String, _ value: Int64?) {
        key(name)
        if let value { appendRaw(String(value)) } else { appendRaw("null") }
        needsComma = true
    }

    mutating func field(_ name: String, _ value: Int?) {
        field(name, value.map(Int64.init))
    }

    mutating func field(_ name: String, _ value: Bool?) {
        key(name)
        switch value {
        case .some(true): appendRaw("true")
        case .some(false): appendRaw("false")
        case .none: appendRaw("null")
        }
        needsComma = true
    }

    /// Milliseconds with up to three decimals (`12.5`, `0.031`); negative or non-finite values are written as 0.
    mutating func field(_ name: String, milliseconds value: Double?) {
        key(name)
        if let value { appendMilliseconds(value) } else { appendRaw("null") }
        needsComma = true
    }

    mutating func field(_ name: String, value: LogValue) {
        key(name)
        switch value {
        case .string(let s): Self.appendString(s.utf8, to: &bytes)
        case .int(let i): appendRaw(String(i))
        case .bool(let b): appendRaw(b ? "true" : "false")
        case .null: appendRaw("null")
        }
        needsComma = true
    }

    mutating func string(_ value: String?) {
        separate()
        if let value { Self.appendString(value.utf8, to: &bytes) } else { appendRaw("null") }
        needsComma = true
    }

    /// Writes already-valid JSON text as a value.
    mutating func rawValue(_ text: String) {
        separate()
        appendRaw(text)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func appendRaw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func appendMilliseconds(_ value: Double) {
        guard value.isFinite, value > 0 else {
            appendRaw("0")
            return
        }
        // Fixed point with three decimals, trailing zeros trimmed: no Foundation formatter needed.
        let micros = (value * 1000).rounded()
        guard micros < 9.0e15 else {
            appendRaw(String(Int64(value)))
            return
        }
        let total = Int64(micros)
        appendRaw(String(total / 1000))
        var fraction = total % 1000
        if fraction == 0 { return }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        var text = String(fraction)
        while text.utf8.count < digits { text = "0" + text }
        bytes.append(UInt8(ascii: "."))
        appendRaw(text)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `input` as a quoted JSON string. Input is treated as bytes: well-formed UTF-8 is copied,
    /// anything else (stray continuation bytes, overlongs, surrogates, truncated sequences) becomes U+FFFD.
    static func appendString<C: Collection>(_ input: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.append(UInt8(ascii: "\""))
        if let done = input.withContiguousStorageIfAvailable({ appendEscaped($0, to: &out) }) {
            _ = done
        } else {
            let copy = Array(input)
            copy.withUnsafeBufferPointer { appendEscaped($0, to: &out) }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscaped(_ s: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            if c < 0x80 {
                switch c {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(c)
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(c)
                case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
                case 0..<0x20, 0x7F:
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    out.append(hexDigits[Int(c >> 4)])
                    out.append(hexDigits[Int(c & 0x0F)])
                default: out.append(c)
                }
                i += 1
                continue
            }
            let length = validSequenceLength(s, at: i)
            if length == 0 {
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                i += 1
                continue
            }
            // U+2028 and U+2029 are legal JSON but break JavaScript line-based readers of logs.
            if length == 3, c == 0xE2, s[i + 1] == 0x80, s[i + 2] == 0xA8 || s[i + 2] == 0xA9 {
                out.append(contentsOf: Array("\\u202".utf8))
                out.append(s[i + 2] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9"))
                i += 3
                continue
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: s[i..<i + length]))
            i += length
        }
    }

    /// The length of the well-formed UTF-8 sequence starting at `i` (RFC 3629 table), or 0.
    private static func validSequenceLength(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let c = s[i]
        let n = s.count
        func cont(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            i + k < n && range.contains(s[i + k])
        }
        switch c {
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0...0xBF) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80...0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90...0xBF) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80...0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }
}
