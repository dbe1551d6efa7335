/// Every known configuration key, dotted, in PRODUCT.md §2 order (keys added by later issues sit in
/// their table). Unknown-key checks, "did you mean" suggestions and `gatehouse check`'s list all read it.
enum ConfigSchema {
    static let keys: [String] = [
        "server.listen", "server.workers", "server.max_connections", "server.max_connections_per_ip",
        "server.max_header_bytes", "server.max_body_bytes", "server.header_timeout", "server.idle_timeout",
        "server.drain_timeout", "server.trusted_proxies", "server.public_url",
        "tls.cert", "tls.key", "tls.min_version", "tls.ciphers", "tls.require_https", "tls.client_ca",
        "tls.client_auth", "tls.handshake_timeout",
        "upstream.url", "upstream.connect_timeout", "upstream.response_timeout", "upstream.max_idle_connections",
        "upstream.host_header", "upstream.forward_authorization", "upstream.forward_origin",
        "upstream.identity_header", "upstream.ca_file", "upstream.tls_verify",
        "auth.methods", "auth.api_keys", "auth.api_keys_file", "auth.default_api_key_permissions", "auth.api_key",
        "auth.jwt.secret", "auth.jwt.jwks_file", "auth.jwt.jwks_url", "auth.jwt.jwks_refresh",
        "auth.jwt.jwks_refetch_min_interval", "auth.jwt.algorithms", "auth.jwt.issuer", "auth.jwt.audience",
        "auth.jwt.leeway", "auth.jwt.subject_claim", "auth.jwt.permissions_claim",
        "auth.oauth.authorization_servers", "auth.oauth.scopes_supported",
        "authorization.rules", "authorization.filter_tools_list",
        "rate_limit.enabled", "rate_limit.capacity", "rate_limit.refill_per_second", "rate_limit.per",
        "rate_limit.backend", "rate_limit.redis_url", "rate_limit.redis_failure", "rate_limit.max_tracked_clients",
        "rate_limit.tools",
        "cors.origins", "cors.allow_credentials", "cors.max_age",
        "headers",
        "mcp.paths", "mcp.tool_name_pattern", "mcp.require_arguments", "mcp.call_timeout", "mcp.tool_timeouts",
        "mcp.max_json_depth", "mcp.allow_batches", "mcp.sanitize", "mcp.bind_sessions", "mcp.pin_tools",
        "mcp.pinned_tools_file",
        "logging.security_log", "logging.access_log", "logging.level",
        "admin.listen",
        "rest.enabled", "rest.path",
    ]

    /// Fields of one `[[auth.api_key]]` table.
    static let apiKeyFields = ["name", "hash", "key", "permissions"]
    /// Fields of one `authorization.rules` entry.
    static let ruleFields = ["match", "require"]
    /// Fields of one `rate_limit.tools.<tool>` table.
    static let toolLimitFields = ["capacity", "refill_per_second"]

    /// The names directly inside table `path` ("" for the root), in schema order.
    static func children(of path: String) -> [String] {
        let prefix = path.isEmpty ? "" : path + "."
        var seen: [String] = []
        for key in keys where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            let child = String(rest.prefix { $0 != "." })
            if !seen.contains(child) { seen.append(child) }
        }
        return seen
    }

    /// The known key an unknown `key` inside table `path` most likely meant, or nil.
    static func suggestion(for key: String, in path: String, siblings: [String]) -> String? {
        let prefix = path.isEmpty ? "" : path + "."
        let threshold = max(1, min(3, key.count / 3))
        let lowered = key.lowercased()
        // A sibling in the same table, spelled nearly alike (or differing only in case, '-' for '_').
        let normalized = lowered.replacingOccurrences(of: "-", with: "_")
        var best: (name: String, distance: Int)? = nil
        for sibling in siblings {
            let distance = sibling == normalized ? 0 : editDistance(lowered, sibling)
            if distance <= threshold, distance < (best?.distance ?? Int.max) { best = (sibling, distance) }
        }
        if let best { return prefix + best.name }
        // A shortened or lengthened name (`max_body` for `max_body_bytes`).
        if normalized.count >= 4,
            let sibling = siblings.first(where: {
                $0.hasPrefix(normalized) || normalized.hasPrefix($0) && $0.count >= 4
            })
        {
            return prefix + sibling
        }
        // The same name in another table (`listen` at the top level → `server.listen`).
        var candidates = keys
        candidates += apiKeyFields.map { "auth.api_key." + $0 }
        candidates += ruleFields.map { "authorization.rules." + $0 }
        if let exact = candidates.first(where: { $0.split(separator: ".").last.map(String.init) == normalized }) {
            return exact
        }
        for candidate in candidates {
            let last = String(candidate.split(separator: ".").last ?? "")
            let distance = editDistance(lowered, last)
            if distance <= threshold, distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        return best?.name
    }

    /// Edit distance over Unicode scalars where swapping two neighbours counts as one edit
    /// (optimal string alignment), so `kye` is one edit from `key`.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}

extension String {
    /// Every occurrence of `target` replaced by `replacement` (no Foundation).
    fileprivate func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
