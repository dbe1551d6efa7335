extension Metrics {
    /// The `Content-Type` of `/metrics`: the Prometheus text exposition format 0.0.4.
    public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Every metric in the Prometheus text format 0.0.4: `# HELP` and `# TYPE` before each family,
    /// labelled series only once they have counted something, histograms with cumulative `le` buckets,
    /// `+Inf`, `_sum` (seconds) and `_count`.
    public func renderPrometheus() -> [UInt8] {
        var text = PrometheusText()

        text.family(
            "gatehouse_requests_total", .counter, help: "Requests answered, by HTTP status code and JSON-RPC method.")
        let methods = Self.rpcMethodLabels
        for row in 0...Self.statusRange.count {
            let code = row < Self.statusRange.count ? String(Self.statusRange.lowerBound + row) : "other"
            for (column, method) in methods.enumerated() {
                let value = requests.load(row * methods.count + column)
                if value > 0 {
                    text.sample("gatehouse_requests_total", [("code", code), ("rpc_method", method)], value)
                }
            }
        }

        text.histogram(
            "gatehouse_request_duration_seconds", requestDuration,
            help: "Time from the first byte of a request to the last byte of its answer.")
        text.histogram(
            "gatehouse_upstream_duration_seconds", upstreamDuration,
            help: "Time from forwarding a request to the upstream's response head.")

        text.family(
            "gatehouse_auth_failures_total", .counter,
            help: "Failed authentications, by reason (missing_header, unknown_key, expired, ...).")
        for (slot, reason) in authFailureReasons.names.enumerated() {
            let value = authFailures.load(slot)
            if value > 0 { text.sample("gatehouse_auth_failures_total", [("reason", reason)], value) }
        }

        text.family("gatehouse_rate_limited_total", .counter, help: "Requests refused with 429 by a rate limit.")
        text.sample("gatehouse_rate_limited_total", [], rateLimited.load(ordering: .relaxed))
        text.family(
            "gatehouse_upstream_retries_total", .counter,
            help: "Requests sent again on a fresh upstream connection after a pooled one failed before answering.")
        text.sample("gatehouse_upstream_retries_total", [], upstreamRetries.load(ordering: .relaxed))

        text.family("gatehouse_tool_calls_total", .counter, help: "tools/call requests, by tool and outcome.")
        let outcomes = Self.toolCallOutcomes
        for (slot, tool) in toolNames.names.enumerated() {
            for (column, outcome) in outcomes.enumerated() {
                let value = toolCalls.load(slot * outcomes.count + column)
                if value > 0 {
                    text.sample("gatehouse_tool_calls_total", [("tool", tool), ("outcome", outcome.rawValue)], value)
                }
            }
        }

        var active: Int64 = 0
        for loop in 0..<loopCount { active &+= Int64(bitPattern: loopConnections.load(loop)) }
        text.family("gatehouse_connections_active", .gauge, help: "Open client connections.")
        text.sample("gatehouse_connections_active", [], active)
        text.family("gatehouse_loop_connections", .gauge, help: "Open client connections per event loop.")
        for loop in 0..<loopCount {
            text.sample(
                "gatehouse_loop_connections", [("loop", String(loop))], Int64(bitPattern: loopConnections.load(loop)))
        }

        text.family("gatehouse_tls_handshakes_total", .counter, help: "Completed TLS handshakes.")
        text.sample("gatehouse_tls_handshakes_total", [], tlsHandshakes.load(ordering: .relaxed))
        text.family("gatehouse_tls_handshake_failures_total", .counter, help: "TLS handshakes that failed.")
        text.sample("gatehouse_tls_handshake_failures_total", [], tlsHandshakeFailures.load(ordering: .relaxed))

        text.family(
            "gatehouse_upstream_pool_connections", .gauge, help: "Idle upstream connections in the keep-alive pool.")
        text.sample("gatehouse_upstream_pool_connections", [], upstreamPoolSize.load(ordering: .relaxed))
        text.family(
            "gatehouse_log_lines_dropped_total", .counter, help: "Log lines dropped because the log buffer was full.")
        text.sample("gatehouse_log_lines_dropped_total", [], logLinesDropped.load(ordering: .relaxed))
        text.family(
            "gatehouse_rate_limit_tracked_keys", .gauge, help: "Token buckets held by the local rate limiter.")
        text.sample("gatehouse_rate_limit_tracked_keys", [], rateLimitTrackedKeys.load(ordering: .relaxed))
        let jwksAge = jwksAgeSeconds.load(ordering: .relaxed)
        if jwksAge != Int64.min {
            text.family(
                "gatehouse_jwks_age_seconds", .gauge, help: "Seconds since the JWK Set was last fetched successfully.")
            text.sample("gatehouse_jwks_age_seconds", [], jwksAge)
        }
        return text.bytes
    }
}

/// Writes the Prometheus text exposition format 0.0.4.
struct PrometheusText {
    /// The `# TYPE` of a family.
    enum MetricType: String {
        case counter, gauge, histogram
    }

    private(set) var bytes: [UInt8] = []

    init() {
        bytes.reserveCapacity(8192)
    }

    /// `# HELP` (backslash and newline escaped) and `# TYPE` lines.
    mutating func family(_ name: String, _ type: MetricType, help: String) {
        append("# HELP ")
        append(name)
        bytes.append(0x20)
        for c in help.utf8 {
            switch c {
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            default: bytes.append(c)
            }
        }
        append("\n# TYPE ")
        append(name)
        bytes.append(0x20)
        append(type.rawValue)
        bytes.append(0x0A)
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        sample(name, labels, text: String(value))
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Int64) {
        sample(name, labels, text: String(value))
    }

    /// `name{label="value",…} value`; label values escaped (backslash, double quote, newline).
    mutating func sample(_ name: String, _ labels: [(String, String)], text value: String) {
        append(name)
        if !labels.isEmpty {
            bytes.append(UInt8(ascii: "{"))
            for (index, (label, labelValue)) in labels.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                append(label)
                append("=\"")
                for c in labelValue.utf8 {
                    switch c {
                    case UInt8(ascii: "\\"): append("\\\\")
                    case UInt8(ascii: "\""): append("\\\"")
                    case 0x0A: append("\\n")
                    default: bytes.append(c)
                    }
                }
                bytes.append(UInt8(ascii: "\""))
            }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(0x20)
        append(value)
        bytes.append(0x0A)
    }

    /// A histogram family: cumulative buckets, `+Inf`, `_sum` in seconds and `_count`. The count is the
    /// `+Inf` bucket, so the two always agree even while other loops keep observing.
    mutating func histogram(_ name: String, _ histogram: FixedHistogram, help: String) {
        family(name, .histogram, help: help)
        var cumulative: UInt64 = 0
        let bucketName = name + "_bucket"
        for (index, bound) in histogram.boundsNanoseconds.enumerated() {
            cumulative &+= histogram.buckets.load(index)
            sample(bucketName, [("le", Self.seconds(bound))], cumulative)
        }
        cumulative &+= histogram.buckets.load(histogram.boundsNanoseconds.count)
        sample(bucketName, [("le", "+Inf")], cumulative)
        sample(name + "_sum", [], text: Self.seconds(histogram.sumNanoseconds.load(ordering: .relaxed)))
        sample(name + "_count", [], cumulative)
    }

    /// Nanoseconds as seconds in Swift's shortest round-trip form (`0.0025`, `1.0`, `1e-09`), which
    /// Prometheus and its client libraries parse as floats.
    static func seconds(_ nanoseconds: UInt64) -> String {
        (Double(nanoseconds) / 1e9).description
    }

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }
}
