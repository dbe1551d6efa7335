import Foundation
import XCTest

@testable import GatehousePolicy

final class LogFormatTests: XCTestCase {
    func testTimestampsOfKnownInstants() {
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 1), "1970-01-01T00:00:00.001Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 999), "1970-01-01T00:00:00.999Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 1_000), "1970-01-01T00:00:01.000Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 1_234_567_890_012), "2009-02-13T23:31:30.012Z")
        // Contract's example instant.
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 1_795_774_034_275), "2026-11-27T10:07:14.275Z")
        // Leap days: 2000 (divisible by 400), 2024; 2100 is not a leap year.
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 951_782_400_000), "2000-02-29T00:00:00.000Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 951_868_800_000), "2000-03-01T00:00:00.000Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 1_709_251_199_999), "2024-02-29T23:59:59.999Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 4_107_456_000_000), "2100-02-28T00:00:00.000Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 4_107_542_400_000), "2100-03-01T00:00:00.000Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 1_735_689_599_050), "2024-12-31T23:59:59.050Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 1_735_689_600_000), "2025-01-01T00:00:00.000Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: 253_402_300_799_999), "9999-12-31T23:59:59.999Z")
        // Before the epoch.
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: -1), "1969-12-31T23:59:59.999Z")
        XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: -86_400_000), "1969-12-31T00:00:00.000Z")
    }

    func testTimestampsAgreeWithFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let millis = Int64(state >> 22) % 8_000_000_000_000
            let expected = formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
            XCTAssertEqual(LogFormat.timestamp(epochMilliseconds: millis), expected)
        }
    }

    private func parse(_ line: [UInt8]) throws -> [String: Any] {
        XCTAssertEqual(line.last, 0x0A)
        XCTAssertEqual(line.filter { $0 == 0x0A }.count, 1, "exactly one line")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    }

    func testAuthEventFields() throws {
        let principal = Principal(name: "ci-bot", kind: .apiKey, permissions: ["*"])
        let ok = try parse(
            LogFormat.line(
                .authenticated(principal, ipAddress: "10.0.0.1", userAgent: "curl/8", requestID: "r1"),
                timestampMillis: 1_795_774_034_275))
        XCTAssertEqual(
            Set(ok.keys), ["event_type", "timestamp", "ip_address", "user_agent", "request_id", "user_id", "success", "details"])
        XCTAssertEqual(ok["event_type"] as? String, "auth")
        XCTAssertEqual(ok["timestamp"] as? String, "2026-11-27T10:07:14.275Z")
        XCTAssertEqual(ok["ip_address"] as? String, "10.0.0.1")
        XCTAssertEqual(ok["user_agent"] as? String, "curl/8")
        XCTAssertEqual(ok["request_id"] as? String, "r1")
        XCTAssertEqual(ok["user_id"] as? String, "ci-bot")
        XCTAssertEqual(ok["success"] as? Bool, true)
        XCTAssertEqual(ok["details"] as? [String: String], ["method": "api_key"])

        let failed = try parse(
            LogFormat.line(
                .authenticationFailed(.invalidToken(reason: "expired"), ipAddress: "::1", userAgent: nil, requestID: "r2"),
                timestampMillis: 0))
        XCTAssertTrue(failed["user_id"] is NSNull)
        XCTAssertTrue(failed["user_agent"] is NSNull)
        XCTAssertEqual(failed["success"] as? Bool, false)
        XCTAssertEqual(failed["details"] as? [String: String], ["method": "jwt", "reason": "expired"])

        let missing = try parse(
            LogFormat.line(
                .authenticationFailed(.missingHeader, ipAddress: "::1", userAgent: nil, requestID: "r3"),
                timestampMillis: 0))
        let details = try XCTUnwrap(missing["details"] as? [String: Any])
        XCTAssertTrue(details["method"] is NSNull)
        XCTAssertEqual(details["reason"] as? String, "missing_header")
    }

    func testAccessEventFields() throws {
        let event = SecurityEvent(
            .access(resource: "tools/call:echo", action: "tools/call", userID: "u1", allowed: false),
            ipAddress: "1.2.3.4", userAgent: "ua", requestID: "r")
        let parsed = try parse(LogFormat.line(event, timestampMillis: 5))
        XCTAssertEqual(
            Set(parsed.keys),
            ["event_type", "timestamp", "ip_address", "user_agent", "request_id", "resource", "action", "user_id", "allowed"])
        XCTAssertEqual(parsed["event_type"] as? String, "access")
        XCTAssertEqual(parsed["resource"] as? String, "tools/call:echo")
        XCTAssertEqual(parsed["action"] as? String, "tools/call")
        XCTAssertEqual(parsed["user_id"] as? String, "u1")
        XCTAssertEqual(parsed["allowed"] as? Bool, false)
    }

    func testSecurityEventFields() throws {
        let event = SecurityEvent(
            .security(
                severity: .high, kind: "tool_changed",
                details: [("tool", "echo"), ("count", 3), ("enforced", true), ("previous", .null), ("kind", "spoofed")]),
            ipAddress: nil, userAgent: nil, requestID: nil)
        XCTAssertEqual(event.eventType, "security")
        let parsed = try parse(LogFormat.line(event, timestampMillis: 5))
        XCTAssertEqual(
            Set(parsed.keys), ["event_type", "timestamp", "ip_address", "user_agent", "request_id", "severity", "details"])
        XCTAssertEqual(parsed["severity"] as? String, "high")
        XCTAssertTrue(parsed["ip_address"] is NSNull)
        XCTAssertTrue(parsed["request_id"] is NSNull)
        let details = try XCTUnwrap(parsed["details"] as? [String: Any])
        XCTAssertEqual(details["kind"] as? String, "tool_changed")
        XCTAssertEqual(details["tool"] as? String, "echo")
        XCTAssertEqual(details["count"] as? Int, 3)
        XCTAssertEqual(details["enforced"] as? Bool, true)
        XCTAssertTrue(details["previous"] is NSNull)
        XCTAssertEqual(details.count, 5)
    }

    func testAccessRecordFields() throws {
        let record = AccessRecord(
            method: "POST", path: "/mcp?token=SECRET#frag", status: 200, durationMilliseconds: 12.3456,
            bytesIn: 120, bytesOut: 4096, upstreamMilliseconds: 10.5, userID: "ci-bot", rpcMethod: "tools/call",
            tool: "echo", requestID: "rid", ipAddress: "127.0.0.1")
        let line = LogFormat.line(record, timestampMillis: 1_795_774_034_275)
        XCTAssertFalse(String(decoding: line, as: UTF8.self).contains("SECRET"))
        let parsed = try parse(line)
        XCTAssertEqual(
            Set(parsed.keys),
            [
                "event_type", "timestamp", "method", "path", "status", "duration_ms", "bytes_in", "bytes_out",
                "upstream_ms", "user_id", "rpc_method", "tool", "request_id", "ip_address",
            ])
        XCTAssertEqual(parsed["event_type"] as? String, "request")
        XCTAssertEqual(parsed["method"] as? String, "POST")
        XCTAssertEqual(parsed["path"] as? String, "/mcp")
        XCTAssertEqual(parsed["status"] as? Int, 200)
        XCTAssertEqual(parsed["duration_ms"] as? Double, 12.346)
        XCTAssertEqual(parsed["bytes_in"] as? Int, 120)
        XCTAssertEqual(parsed["bytes_out"] as? Int, 4096)
        XCTAssertEqual(parsed["upstream_ms"] as? Double, 10.5)
        XCTAssertEqual(parsed["user_id"] as? String, "ci-bot")
        XCTAssertEqual(parsed["rpc_method"] as? String, "tools/call")
        XCTAssertEqual(parsed["tool"] as? String, "echo")
        XCTAssertEqual(parsed["request_id"] as? String, "rid")
        XCTAssertEqual(parsed["ip_address"] as? String, "127.0.0.1")

        var bare = record
        bare.upstreamMilliseconds = nil
        bare.userID = nil
        bare.rpcMethod = nil
        bare.tool = nil
        bare.durationMilliseconds = 0.0004
        let parsedBare = try parse(LogFormat.line(bare, timestampMillis: 0))
        for key in ["upstream_ms", "user_id", "rpc_method", "tool"] { XCTAssertTrue(parsedBare[key] is NSNull, key) }
        XCTAssertEqual(parsedBare["duration_ms"] as? Int, 0)
    }

    func testMillisecondFormatting() {
        func rendered(_ ms: Double) -> String {
            var json = JSONText()
            json.beginObject()
            json.field("v", milliseconds: ms)
            json.endObject()
            let text = String(decoding: json.bytes, as: UTF8.self)
            return String(text.dropFirst(5).dropLast())
        }
        XCTAssertEqual(rendered(0), "0")
        XCTAssertEqual(rendered(-3), "0")
        XCTAssertEqual(rendered(.nan), "0")
        XCTAssertEqual(rendered(.infinity), "0")
        XCTAssertEqual(rendered(1), "1")
        XCTAssertEqual(rendered(1.5), "1.5")
        XCTAssertEqual(rendered(1.05), "1.05")
        XCTAssertEqual(rendered(0.031), "0.031")
        XCTAssertEqual(rendered(0.001), "0.001")
        XCTAssertEqual(rendered(2.9999), "3")
        XCTAssertEqual(rendered(123456.789), "123456.789")
    }

    func testHostileStringsAreEscaped() throws {
        var controls = ""
        for c in 0..<0x20 { controls.unicodeScalars.append(Unicode.Scalar(UInt8(c))) }
        let hostile = "\"},\"injected\":true,\"x\":\"\\" + controls + "\u{7F}\u{2028}\u{2029}é😀"
        let event = SecurityEvent(
            .access(resource: hostile, action: hostile, userID: hostile, allowed: true),
            ipAddress: hostile, userAgent: hostile, requestID: hostile)
        let line = LogFormat.line(event, timestampMillis: 0)
        for b in line.dropLast() { XCTAssertTrue(b >= 0x20, "raw control byte \(b) in a log line") }
        let parsed = try parse(line)
        XCTAssertNil(parsed["injected"])
        for key in ["resource", "action", "user_id", "ip_address", "user_agent", "request_id"] {
            XCTAssertEqual(parsed[key] as? String, hostile, key)
        }
        let text = String(decoding: line, as: UTF8.self)
        XCTAssertTrue(text.contains(#"\u0000"#))
        XCTAssertTrue(text.contains(#"\u001f"#))
        XCTAssertTrue(text.contains(#"\u007f"#))
        XCTAssertTrue(text.contains(#"\u2028"#))
        XCTAssertTrue(text.contains(#"\n"#))
    }

    func testInvalidUTF8BecomesReplacementCharacters() throws {
        let cases: [[UInt8]] = [
            [0x80], [0xC0, 0xAF], [0xC3], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF0, 0x9F, 0x98], [0xFF], [0x61, 0xE2, 0x82, 0x62],
        ]
        for bad in cases {
            var json = JSONText()
            json.beginObject()
            json.field("v", bytes: bad)
            json.endObject()
            let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.bytes)) as? [String: String])
            XCTAssertTrue(parsed["v"]?.contains("\u{FFFD}") ?? false, "\(bad)")
            // The output bytes are valid UTF-8.
            XCTAssertEqual(Array(String(decoding: json.bytes, as: UTF8.self).utf8), json.bytes)
        }
        var valid = JSONText()
        valid.beginObject()
        valid.field("v", bytes: Array("aé€😀".utf8))
        valid.endObject()
        XCTAssertEqual(String(decoding: valid.bytes, as: UTF8.self), #"{"v":"aé€😀"}"#)
    }

    func testLongClientStringsAreCut() throws {
        let long = String(repeating: "A", count: 10_000)
        let event = SecurityEvent(
            .security(severity: .low, kind: "rate_limited", details: [("origin", .string(long))]),
            ipAddress: "1.1.1.1", userAgent: long, requestID: "r")
        let parsed = try parse(LogFormat.line(event, timestampMillis: 0))
        XCTAssertEqual((parsed["user_agent"] as? String)?.utf8.count, LogFormat.maxClientStringBytes)
        let details = try XCTUnwrap(parsed["details"] as? [String: Any])
        XCTAssertEqual((details["origin"] as? String)?.utf8.count, LogFormat.maxClientStringBytes)
    }

    func testRequestIDs() {
        XCTAssertTrue(RequestID.isAcceptable("abc-123_XYZ.~!"))
        XCTAssertTrue(RequestID.isAcceptable(String(repeating: "a", count: 128)))
        XCTAssertFalse(RequestID.isAcceptable(String(repeating: "a", count: 129)))
        XCTAssertFalse(RequestID.isAcceptable(""))
        XCTAssertFalse(RequestID.isAcceptable("a b"))
        XCTAssertFalse(RequestID.isAcceptable("a\tb"))
        XCTAssertFalse(RequestID.isAcceptable("a\u{7F}"))
        XCTAssertFalse(RequestID.isAcceptable("é"))
        XCTAssertFalse(RequestID.isAcceptable("a\r\nX-Injected: 1"))
        XCTAssertEqual(RequestID.resolve(clientValue: "mine"), "mine")
        XCTAssertNotEqual(RequestID.resolve(clientValue: "not mine"), "not mine")
        XCTAssertEqual(RequestID.resolve(clientValue: nil).count, 32)

        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = RequestID.generate()
            XCTAssertEqual(id.count, 32)
            XCTAssertTrue(RequestID.isAcceptable(id))
            XCTAssertTrue(id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
            seen.insert(id)
        }
        XCTAssertEqual(seen.count, 1000)
    }
}
