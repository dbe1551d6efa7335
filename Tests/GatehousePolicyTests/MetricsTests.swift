import Dispatch
import Foundation
import XCTest

@testable import GatehousePolicy

/// The metrics registry and its Prometheus text output, read back with a strict parser of the 0.0.4
/// format (and with the `prometheus_client` parser of PyPI when a Python with it is at hand).
final class MetricsTests: XCTestCase {
    private static let requiredFamilies: [(String, String)] = [
        ("gatehouse_requests_total", "counter"), ("gatehouse_auth_failures_total", "counter"),
        ("gatehouse_rate_limited_total", "counter"), ("gatehouse_request_duration_seconds", "histogram"),
        ("gatehouse_upstream_duration_seconds", "histogram"), ("gatehouse_connections_active", "gauge"),
        ("gatehouse_tls_handshakes_total", "counter"), ("gatehouse_tool_calls_total", "counter"),
        ("gatehouse_loop_connections", "gauge"), ("gatehouse_upstream_pool_connections", "gauge"),
        ("gatehouse_log_lines_dropped_total", "counter"), ("gatehouse_rate_limit_tracked_keys", "gauge"),
        ("gatehouse_tls_handshake_failures_total", "counter"), ("gatehouse_upstream_retries_total", "counter"),
    ]

    private let millisecond: UInt64 = 1_000_000

    func testEveryFamilyIsDeclaredEvenWhenEmpty() throws {
        let exposition = try Exposition(parsing: Metrics(loopCount: 2).renderPrometheus())
        for (name, type) in Self.requiredFamilies {
            XCTAssertEqual(exposition.types[name], type, name)
            XCTAssertFalse(exposition.help[name, default: ""].isEmpty, name)
        }
        XCTAssertNil(exposition.types["gatehouse_jwks_age_seconds"])
        XCTAssertEqual(exposition.value("gatehouse_rate_limited_total"), 0)
        XCTAssertEqual(exposition.value("gatehouse_connections_active"), 0)
        XCTAssertEqual(exposition.value("gatehouse_loop_connections", ["loop": "1"]), 0)
        XCTAssertEqual(exposition.value("gatehouse_request_duration_seconds_bucket", ["le": "+Inf"]), 0)
        XCTAssertEqual(exposition.value("gatehouse_request_duration_seconds_count"), 0)
        XCTAssertEqual(exposition.value("gatehouse_request_duration_seconds_sum"), 0)
        XCTAssertTrue(exposition.samples(named: "gatehouse_requests_total").isEmpty)
        XCTAssertEqual(Metrics.prometheusContentType, "text/plain; version=0.0.4; charset=utf-8")
    }

    func testRequestsByCodeAndMethod() throws {
        let metrics = Metrics()
        metrics.recordRequest(status: 200, rpcMethod: "tools/call", durationNanoseconds: millisecond)
        metrics.recordRequest(status: 200, rpcMethod: "tools/call", durationNanoseconds: millisecond)
        metrics.recordRequest(status: 401, rpcMethod: nil, durationNanoseconds: millisecond)
        metrics.recordRequest(status: 404, rpcMethod: "made/up", durationNanoseconds: millisecond)
        metrics.recordRequest(status: 404, rpcMethod: "none", durationNanoseconds: millisecond)
        metrics.recordRequest(status: 599, rpcMethod: "batch", durationNanoseconds: millisecond)
        metrics.recordRequest(status: 100, rpcMethod: "initialize", durationNanoseconds: millisecond)
        metrics.recordRequest(status: 42, rpcMethod: "ping", durationNanoseconds: millisecond)
        let exposition = try Exposition(parsing: metrics.renderPrometheus())
        let name = "gatehouse_requests_total"
        XCTAssertEqual(exposition.value(name, ["code": "200", "rpc_method": "tools/call"]), 2)
        XCTAssertEqual(exposition.value(name, ["code": "401", "rpc_method": "none"]), 1)
        XCTAssertEqual(exposition.value(name, ["code": "404", "rpc_method": "other"]), 2)
        XCTAssertEqual(exposition.value(name, ["code": "599", "rpc_method": "batch"]), 1)
        XCTAssertEqual(exposition.value(name, ["code": "100", "rpc_method": "initialize"]), 1)
        XCTAssertEqual(exposition.value(name, ["code": "other", "rpc_method": "ping"]), 1)
        XCTAssertEqual(exposition.samples(named: name).count, 6)
        XCTAssertEqual(exposition.value("gatehouse_request_duration_seconds_count"), 8)
        XCTAssertEqual(Set(Metrics.rpcMethodLabels).count, Metrics.rpcMethodLabels.count)
    }

    func testHistogramBucketsAreCumulative() throws {
        let metrics = Metrics()
        for nanoseconds: UInt64 in [500_000, 1_000_000, 1_000_001, 3_000_000, 2_000_000_000, 1_000_000_000_000] {
            metrics.recordUpstreamResponse(durationNanoseconds: nanoseconds)
        }
        let exposition = try Exposition(parsing: metrics.renderPrometheus())
        let bucket = "gatehouse_upstream_duration_seconds_bucket"
        let buckets = exposition.samples(named: bucket)
        XCTAssertEqual(
            buckets.map { $0.labels["le"]! },
            Metrics.durationBucketsSeconds.map { $0.description } + ["+Inf"])
        XCTAssertEqual(buckets.first?.labels["le"], "0.001")
        XCTAssertEqual(exposition.value(bucket, ["le": "0.001"]), 2)  // bounds are inclusive
        XCTAssertEqual(exposition.value(bucket, ["le": "0.0025"]), 3)
        XCTAssertEqual(exposition.value(bucket, ["le": "0.005"]), 4)
        XCTAssertEqual(exposition.value(bucket, ["le": "1.0"]), 4)
        XCTAssertEqual(exposition.value(bucket, ["le": "2.5"]), 5)
        XCTAssertEqual(exposition.value(bucket, ["le": "300.0"]), 5)
        XCTAssertEqual(exposition.value(bucket, ["le": "+Inf"]), 6)
        XCTAssertEqual(exposition.value("gatehouse_upstream_duration_seconds_count"), 6)
        let sum = try XCTUnwrap(exposition.value("gatehouse_upstream_duration_seconds_sum"))
        XCTAssertEqual(sum, 1002.005500001, accuracy: 1e-9)
        // Monotone, never decreasing.
        let values = buckets.map(\.value)
        XCTAssertEqual(values, values.sorted())
        // The request histogram is separate.
        XCTAssertEqual(exposition.value("gatehouse_request_duration_seconds_count"), 0)
    }

    func testAuthFailureReasonsAreBounded() throws {
        let metrics = Metrics(maxReasonLabels: 2)
        metrics.recordAuthFailure(.missingHeader)
        metrics.recordAuthFailure(.missingHeader)
        metrics.recordAuthFailure(.invalidAPIKey)
        metrics.recordAuthFailure(.invalidToken(reason: "expired"))
        metrics.recordAuthFailure(reason: "bad_signature")
        metrics.recordAuthFailure(reason: "other")
        let exposition = try Exposition(parsing: metrics.renderPrometheus())
        let name = "gatehouse_auth_failures_total"
        XCTAssertEqual(exposition.value(name, ["reason": "missing_header"]), 2)
        XCTAssertEqual(exposition.value(name, ["reason": "unknown_key"]), 1)
        XCTAssertEqual(exposition.value(name, ["reason": "other"]), 3)
        XCTAssertEqual(exposition.samples(named: name).count, 3)
    }

    func testToolCallsAreBoundedAndLabelsEscaped() throws {
        let metrics = Metrics(maxToolLabels: 3)
        metrics.recordToolCall(tool: "echo", outcome: .ok)
        metrics.recordToolCall(tool: "echo", outcome: .ok)
        metrics.recordToolCall(tool: "echo", outcome: .rateLimited)
        metrics.recordToolCall(tool: "say \"hi\"\\now\nthen", outcome: .error)
        metrics.recordToolCall(tool: "other", outcome: .denied)
        metrics.recordToolCall(tool: "third", outcome: .timeout)
        metrics.recordToolCall(tool: "fourth", outcome: .denied)
        metrics.recordToolCall(tool: "fifth", outcome: .upstreamError)
        let rendered = metrics.renderPrometheus()
        let text = String(decoding: rendered, as: UTF8.self)
        XCTAssertTrue(
            text.contains(#"gatehouse_tool_calls_total{tool="say \"hi\"\\now\nthen",outcome="error"} 1"#), text)
        let exposition = try Exposition(parsing: rendered)
        let name = "gatehouse_tool_calls_total"
        XCTAssertEqual(exposition.value(name, ["tool": "echo", "outcome": "ok"]), 2)
        XCTAssertEqual(exposition.value(name, ["tool": "echo", "outcome": "rate_limited"]), 1)
        XCTAssertEqual(exposition.value(name, ["tool": "say \"hi\"\\now\nthen", "outcome": "error"]), 1)
        XCTAssertEqual(exposition.value(name, ["tool": "third", "outcome": "timeout"]), 1)
        XCTAssertEqual(exposition.value(name, ["tool": "other", "outcome": "denied"]), 2)
        XCTAssertEqual(exposition.value(name, ["tool": "other", "outcome": "upstream_error"]), 1)
        XCTAssertEqual(exposition.samples(named: name).count, 6)
        XCTAssertEqual(ToolCallOutcome.allCases.map(\.column), Array(0..<ToolCallOutcome.allCases.count))
    }

    func testHelpIsEscaped() throws {
        var text = PrometheusText()
        text.family("x_total", .counter, help: "a \\ b\nc \"d\"")
        text.sample("x_total", [], UInt64(1))
        XCTAssertEqual(
            String(decoding: text.bytes, as: UTF8.self),
            "# HELP x_total a \\\\ b\\nc \"d\"\n# TYPE x_total counter\nx_total 1\n")
        let exposition = try Exposition(parsing: text.bytes)
        XCTAssertEqual(exposition.help["x_total"], "a \\ b\nc \"d\"")
    }

    func testGaugesAndCounters() throws {
        let metrics = Metrics(loopCount: 3)
        metrics.connectionOpened(loop: 0)
        metrics.connectionOpened(loop: 0)
        metrics.connectionOpened(loop: 2)
        metrics.connectionOpened(loop: 5)  // wraps to loop 2
        metrics.connectionClosed(loop: 0)
        metrics.connectionClosed(loop: -1)  // wraps to loop 2
        metrics.recordRateLimited()
        metrics.recordUpstreamRetry()
        metrics.recordTLSHandshake(succeeded: true)
        metrics.recordTLSHandshake(succeeded: true)
        metrics.recordTLSHandshake(succeeded: false)
        metrics.setUpstreamPoolSize(7)
        metrics.setLogLinesDropped(12)
        metrics.setRateLimitTrackedKeys(345)
        metrics.setJWKSAge(seconds: 61)
        var exposition = try Exposition(parsing: metrics.renderPrometheus())
        XCTAssertEqual(exposition.value("gatehouse_connections_active"), 2)
        XCTAssertEqual(exposition.value("gatehouse_loop_connections", ["loop": "0"]), 1)
        XCTAssertEqual(exposition.value("gatehouse_loop_connections", ["loop": "1"]), 0)
        XCTAssertEqual(exposition.value("gatehouse_loop_connections", ["loop": "2"]), 1)
        XCTAssertEqual(exposition.value("gatehouse_rate_limited_total"), 1)
        XCTAssertEqual(exposition.value("gatehouse_upstream_retries_total"), 1)
        XCTAssertEqual(exposition.value("gatehouse_tls_handshakes_total"), 2)
        XCTAssertEqual(exposition.value("gatehouse_tls_handshake_failures_total"), 1)
        XCTAssertEqual(exposition.value("gatehouse_upstream_pool_connections"), 7)
        XCTAssertEqual(exposition.value("gatehouse_log_lines_dropped_total"), 12)
        XCTAssertEqual(exposition.value("gatehouse_rate_limit_tracked_keys"), 345)
        XCTAssertEqual(exposition.types["gatehouse_jwks_age_seconds"], "gauge")
        XCTAssertEqual(exposition.value("gatehouse_jwks_age_seconds"), 61)
        metrics.setJWKSAge(seconds: nil)
        metrics.connectionClosed(loop: 1)  // a close seen before its open reads negative, not huge
        exposition = try Exposition(parsing: metrics.renderPrometheus())
        XCTAssertNil(exposition.types["gatehouse_jwks_age_seconds"])
        XCTAssertEqual(exposition.value("gatehouse_loop_connections", ["loop": "1"]), -1)
        XCTAssertEqual(exposition.value("gatehouse_connections_active"), 1)
    }

    func testConcurrentRecordingLosesNothing() throws {
        let metrics = Metrics(loopCount: 4)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for round in 0..<5_000 {
                metrics.recordRequest(
                    status: round % 2 == 0 ? 200 : 429, rpcMethod: "tools/call",
                    durationNanoseconds: UInt64(round) * 1_000)
                metrics.recordToolCall(tool: "tool\(round % 3)", outcome: .ok)
                metrics.connectionOpened(loop: thread)
                metrics.connectionClosed(loop: thread + 1)
            }
        }
        let exposition = try Exposition(parsing: metrics.renderPrometheus())
        XCTAssertEqual(
            exposition.value("gatehouse_requests_total", ["code": "200", "rpc_method": "tools/call"]), 20_000)
        XCTAssertEqual(
            exposition.value("gatehouse_requests_total", ["code": "429", "rpc_method": "tools/call"]), 20_000)
        XCTAssertEqual(exposition.value("gatehouse_request_duration_seconds_count"), 40_000)
        let expectedSum = 8.0 * Double((0..<5_000).reduce(0, +)) * 1e-6
        XCTAssertEqual(
            try XCTUnwrap(exposition.value("gatehouse_request_duration_seconds_sum")), expectedSum, accuracy: 1e-6)
        let toolTotal = exposition.samples(named: "gatehouse_tool_calls_total").map(\.value).reduce(0, +)
        XCTAssertEqual(toolTotal, 40_000)
        XCTAssertEqual(exposition.value("gatehouse_connections_active"), 0)
    }

    func testPrometheusClientParsesTheOutput() throws {
        guard let python = Self.pythonWithPrometheusClient() else {
            throw XCTSkip("no python3 with prometheus_client (set PROMETHEUS_PYTHON to one)")
        }
        let metrics = Metrics(loopCount: 2, maxToolLabels: 2)
        metrics.recordRequest(status: 200, rpcMethod: "tools/list", durationNanoseconds: 4 * millisecond)
        metrics.recordUpstreamResponse(durationNanoseconds: 3 * millisecond)
        metrics.recordAuthFailure(.invalidToken(reason: "expired"))
        metrics.recordToolCall(tool: "we\"ird\\na\nme", outcome: .ok)
        metrics.recordRateLimited()
        metrics.connectionOpened(loop: 1)
        metrics.setJWKSAge(seconds: 5)
        let script = """
            import sys, json
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(sys.stdin.read()):
                out[family.name] = {"type": family.type, "help": family.documentation,
                    "samples": [[s.name, s.labels, s.value] for s in family.samples]}
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(metrics.renderPrometheus()))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let families = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
        // The client library names counter families without `_total`.
        XCTAssertEqual(families["gatehouse_requests"]?["type"] as? String, "counter")
        XCTAssertEqual(families["gatehouse_request_duration_seconds"]?["type"] as? String, "histogram")
        XCTAssertEqual(families["gatehouse_connections_active"]?["type"] as? String, "gauge")
        XCTAssertEqual(families["gatehouse_jwks_age_seconds"]?["type"] as? String, "gauge")
        func samples(_ family: String) -> [(String, [String: String], Double)] {
            (families[family]?["samples"] as? [[Any]] ?? []).map {
                ($0[0] as! String, $0[1] as! [String: String], ($0[2] as! NSNumber).doubleValue)
            }
        }
        XCTAssertTrue(
            samples("gatehouse_tool_calls").contains {
                $0.0 == "gatehouse_tool_calls_total" && $0.1 == ["tool": "we\"ird\\na\nme", "outcome": "ok"]
                    && $0.2 == 1
            })
        let histogram = samples("gatehouse_upstream_duration_seconds")
        XCTAssertTrue(histogram.contains { $0.0.hasSuffix("_bucket") && $0.1["le"] == "+Inf" && $0.2 == 1 })
        XCTAssertTrue(histogram.contains { $0.0.hasSuffix("_bucket") && $0.1["le"] == "0.0025" && $0.2 == 0 })
        XCTAssertTrue(histogram.contains { $0.0.hasSuffix("_bucket") && $0.1["le"] == "0.005" && $0.2 == 1 })
        XCTAssertTrue(histogram.contains { $0.0.hasSuffix("_count") && $0.2 == 1 })
        XCTAssertTrue(histogram.contains { $0.0.hasSuffix("_sum") && abs($0.2 - 0.003) < 1e-12 })
        XCTAssertEqual(samples("gatehouse_auth_failures").first?.1, ["reason": "expired"])
        XCTAssertEqual(samples("gatehouse_rate_limited").first?.2, 1)
        XCTAssertEqual(samples("gatehouse_loop_connections").map(\.2), [0, 1])
    }

    /// `PROMETHEUS_PYTHON`, else `python3` on the PATH, when it can import prometheus_client.
    private static func pythonWithPrometheusClient() -> String? {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["PROMETHEUS_PYTHON"] { candidates.append(configured) }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(directory + "/python3")
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: candidate)
            process.arguments = ["-c", "import prometheus_client"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { continue }
            process.waitUntilExit()
            if process.terminationStatus == 0 { return candidate }
        }
        return nil
    }
}

/// A strict reader of the Prometheus text format 0.0.4, enough to check what the registry writes:
/// every sample belongs to a family declared by `# TYPE` before it (histograms through `_bucket`,
/// `_sum`, `_count`), no family is declared twice, no series appears twice, label values are unescaped,
/// and histogram buckets are cumulative and end with `+Inf` equal to `_count`.
struct Exposition {
    /// One sample line.
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// Why a document was refused.
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    var types: [String: String] = [:]
    var help: [String: String] = [:]
    var all: [Sample] = []

    init(parsing bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasSuffix("\n") else { throw Malformed(description: "no final newline") }
        var current: String? = nil
        var seen = Set<String>()
        for line in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                guard let space = rest.firstIndex(of: " ") else { throw Malformed(description: "HELP: \(line)") }
                let name = String(rest[..<space])
                guard help[name] == nil else { throw Malformed(description: "second HELP for \(name)") }
                help[name] = try Self.unescape(rest[rest.index(after: space)...], quotes: false)
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                guard parts.count == 2, ["counter", "gauge", "histogram"].contains(parts[1]) else {
                    throw Malformed(description: "TYPE: \(line)")
                }
                let name = String(parts[0])
                guard types[name] == nil, help[name] != nil else {
                    throw Malformed(description: "TYPE twice or without HELP first: \(name)")
                }
                types[name] = String(parts[1])
                current = name
                continue
            }
            guard !line.hasPrefix("#"), !line.isEmpty else { throw Malformed(description: "stray line: \(line)") }
            let sample = try Self.sample(line)
            guard let family = current else { throw Malformed(description: "sample before TYPE: \(line)") }
            let allowed =
                types[family] == "histogram"
                ? [family + "_bucket", family + "_sum", family + "_count"] : [family]
            guard allowed.contains(sample.name) else {
                throw Malformed(description: "\(sample.name) outside its family \(family)")
            }
            let identity =
                sample.name + "|"
                + sample.labels.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(
                    separator: "\u{0}")
            guard seen.insert(identity).inserted else { throw Malformed(description: "duplicate series: \(line)") }
            if types[family] == "counter" && sample.value < 0 { throw Malformed(description: "negative counter") }
            all.append(sample)
        }
        for (family, type) in types where type == "histogram" {
            let buckets = samples(named: family + "_bucket")
            guard let last = buckets.last, last.labels["le"] == "+Inf" else {
                throw Malformed(description: "\(family) has no +Inf bucket last")
            }
            var previous = -Double.infinity
            var previousCount = 0.0
            for bucket in buckets {
                guard let le = bucket.labels["le"], let bound = le == "+Inf" ? Double.infinity : Double(le) else {
                    throw Malformed(description: "bad le in \(family)")
                }
                guard bound > previous, bucket.value >= previousCount else {
                    throw Malformed(description: "\(family) buckets not increasing/cumulative")
                }
                previous = bound
                previousCount = bucket.value
            }
            guard value(family + "_count") == last.value, value(family + "_sum") != nil else {
                throw Malformed(description: "\(family) _count differs from +Inf or _sum missing")
            }
        }
    }

    func samples(named name: String) -> [Sample] {
        all.filter { $0.name == name }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        all.first { $0.name == name && $0.labels == labels }?.value
    }

    private static func sample(_ line: Substring) throws -> Sample {
        var index = line.startIndex
        while index < line.endIndex, line[index].isLetter || line[index].isNumber || line[index] == "_" {
            index = line.index(after: index)
        }
        let name = String(line[..<index])
        guard !name.isEmpty else { throw Malformed(description: "no name: \(line)") }
        var labels: [String: String] = [:]
        if index < line.endIndex, line[index] == "{" {
            index = line.index(after: index)
            while line[index] != "}" {
                guard let equals = line[index...].firstIndex(of: "=") else { throw Malformed(description: "\(line)") }
                let label = String(line[index..<equals])
                var cursor = line.index(after: equals)
                guard line[cursor] == "\"" else { throw Malformed(description: "unquoted label: \(line)") }
                cursor = line.index(after: cursor)
                let start = cursor
                var escaped = false
                while escaped || line[cursor] != "\"" {
                    escaped = !escaped && line[cursor] == "\\"
                    cursor = line.index(after: cursor)
                }
                guard labels[label] == nil else { throw Malformed(description: "label twice: \(line)") }
                labels[label] = try unescape(line[start..<cursor], quotes: true)
                index = line.index(after: cursor)
                if line[index] == "," { index = line.index(after: index) }
            }
            index = line.index(after: index)
        }
        guard index < line.endIndex, line[index] == " " else { throw Malformed(description: "no value: \(line)") }
        let valueText = line[line.index(after: index)...]
        guard let value = Double(valueText) else { throw Malformed(description: "bad value: \(line)") }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func unescape(_ text: Substring, quotes: Bool) throws -> String {
        var out = ""
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            guard c == "\\" else {
                guard c != "\n", !(quotes && c == "\"") else { throw Malformed(description: "raw \(c) in \(text)") }
                out.append(c)
                continue
            }
            switch iterator.next() {
            case "\\": out.append("\\")
            case "n": out.append("\n")
            case "\"" where quotes: out.append("\"")
            default: throw Malformed(description: "bad escape in \(text)")
            }
        }
        return out
    }
}

/// The reader above must refuse what it is there to catch, or the tests that use it prove nothing.
final class ExpositionReaderTests: XCTestCase {
    func testRefusesMalformedDocuments() {
        let head = "# HELP h_seconds x\n# TYPE h_seconds histogram\n"
        let bad = [
            "c_total 1\n",  // no TYPE
            "# HELP c_total x\n# TYPE c_total counter\nc_total 1",  // no final newline
            "# HELP c_total x\n# TYPE c_total counter\nd_total 1\n",  // outside its family
            "# HELP c_total x\n# TYPE c_total counter\nc_total{a=\"1\"} 1\nc_total{a=\"1\"} 2\n",  // duplicate
            "# HELP c_total x\n# TYPE c_total counter\nc_total{a=\"\\x\"} 1\n",  // bad escape
            "# HELP c_total x\n# TYPE c_total counter\nc_total -1\n",  // negative counter
            "# HELP c_total x\n# TYPE c_total counter\n# HELP c_total y\n",  // HELP twice
            head
                + "h_seconds_bucket{le=\"1.0\"} 2\nh_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 0\nh_seconds_count 1\n",
            head + "h_seconds_bucket{le=\"1.0\"} 1\nh_seconds_sum 0\nh_seconds_count 1\n",  // no +Inf
            head + "h_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum 0\nh_seconds_count 1\n",  // count differs
        ]
        for document in bad {
            XCTAssertThrowsError(try Exposition(parsing: Array(document.utf8)), document)
        }
        let good =
            head
            + "h_seconds_bucket{le=\"1.0\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_sum 3.5\nh_seconds_count 2\n"
        XCTAssertNoThrow(try Exposition(parsing: Array(good.utf8)))
    }
}
