import GatehousePolicy
import GatehouseTOML

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `gatehouse check --production` (PRODUCT.md §9): one verdict per checklist item, each with the reason
/// and, when it fails, how to fix it; plus warnings about files other users can read.
///
/// The verdicts are computed from the loaded configuration and a few `Observations` of the world (the
/// time, the certificate's notAfter, the configuration file's text and file modes), so that tests can pin
/// every one of them. The CLI gathers the observations (`Observations.gather`), building the server TLS
/// context for the certificate date because this layer does not load certificates.
///
/// A credential kind that `auth.methods` does not list makes its item "not used" (ok): declaring the
/// accepted kinds is the way to run with API keys only or JWT only.
public struct ProductionChecklist: Sendable {
    /// One checklist item's verdict.
    public struct Item: Sendable, Equatable {
        public var name: String
        public var isPassed: Bool
        /// Why it passed or failed (names keys and files, never a secret).
        public var reason: String
        /// How to fix a failure; nil for a pass.
        public var fix: String?

        public init(name: String, isPassed: Bool, reason: String, fix: String? = nil) {
            self.name = name
            self.isPassed = isPassed
            self.reason = reason
            self.fix = fix
        }

        /// `[ok] <name>: <reason>` or `[FAIL] <name>: <reason>; fix: <how>`.
        public var line: String {
            isPassed ? "[ok] \(name): \(reason)" : "[FAIL] \(name): \(reason)" + (fix.map { "; fix: \($0)" } ?? "")
        }
    }

    /// What the checklist needs to know besides the configuration values.
    public struct Observations: Sendable {
        /// Seconds since the epoch.
        public var now: Int64
        /// The server certificate's notAfter (epoch seconds); nil when no certificate was loaded.
        public var certificateNotAfter: Int64?
        /// Why the certificate could not be loaded, when it could not.
        public var certificateError: String?
        /// The configuration file's bytes (nil: no file, or unreadable).
        public var configurationText: [UInt8]?
        /// `st_mode` of the files that hold secrets (the configuration, `tls.key`, `auth.api_keys_file`), by path.
        public var fileModes: [String: UInt32]

        public init(
            now: Int64, certificateNotAfter: Int64? = nil, certificateError: String? = nil,
            configurationText: [UInt8]? = nil, fileModes: [String: UInt32] = [:]
        ) {
            self.now = now
            self.certificateNotAfter = certificateNotAfter
            self.certificateError = certificateError
            self.configurationText = configurationText
            self.fileModes = fileModes
        }

        /// Reads the configuration file and the modes of the secret-holding files of `loaded`.
        public static func gather(
            for loaded: LoadedConfig, now: Int64, certificateNotAfter: Int64?, certificateError: String? = nil
        ) -> Observations {
            var observations = Observations(
                now: now, certificateNotAfter: certificateNotAfter, certificateError: certificateError)
            if let path = loaded.path, case .success(let bytes) = FileAccess.contents(of: path) {
                observations.configurationText = bytes
            }
            for path in ProductionChecklist.secretFiles(loaded).map(\.path) {
                var info = stat()
                if stat(path, &info) == 0 { observations.fileModes[path] = UInt32(info.st_mode) }
            }
            return observations
        }
    }

    /// Item names, in the order of §9 ("input validation on" is listed twice there; it is one item here).
    public enum Name {
        public static let apiKeys = "API keys configured"
        public static let jwt = "JWT secret strong or JWKS used"
        public static let https = "HTTPS enforced"
        public static let rateLimit = "rate limiting enabled"
        public static let inputValidation = "input validation on"
        public static let securityLogging = "security logging on"
        public static let cors = "CORS origins explicit"
        public static let headers = "security headers complete"
        public static let plainSecrets = "no plain-text secret in the file"
        public static let certificate = "certificate valid for more than 14 days"
    }

    /// A certificate must outlive this many days from now.
    public static let minimumCertificateDays: Int64 = 14
    /// An HMAC secret with fewer distinct bytes than this is not strong, whatever its length.
    static let minimumDistinctSecretBytes = 8
    /// Fragments of well-known placeholder secrets (compared in lower case).
    static let placeholderFragments = [
        "changeme", "change-me", "change_me", "change-in-production", "change_in_production", "your-secret",
        "your_secret", "placeholder",
    ]

    public let items: [Item]
    /// Files other users can read that hold secrets (not checklist items; they do not change the exit code).
    public let warnings: [String]

    /// Whether every item passed.
    public var isPassed: Bool { items.allSatisfy(\.isPassed) }

    /// The item lines, the warnings (`warning: …`) and a summary line, as `check --production` prints them.
    public var lines: [String] {
        var out = items.map(\.line)
        out += warnings.map { "warning: " + $0 }
        let failed = items.filter { !$0.isPassed }.count
        out.append(
            failed == 0
                ? "production checklist: all \(items.count) items ok"
                : "production checklist: \(failed) of \(items.count) items failed")
        return out
    }

    public init(_ loaded: LoadedConfig, observations: Observations) {
        let config = loaded.config
        items = [
            Self.apiKeys(config),
            Self.jwt(config),
            Self.https(config),
            Self.rateLimit(config),
            Self.inputValidation(config),
            Self.securityLogging(config),
            Self.cors(config),
            Self.headers(config),
            Self.plainSecrets(loaded, text: observations.configurationText),
            Self.certificate(config, observations),
        ]
        var warnings: [String] = []
        for file in Self.secretFiles(loaded) {
            guard let mode = observations.fileModes[file.path], mode & 0o004 != 0 else { continue }
            warnings.append(
                "\(file.what) \(EffectiveSettings.quote(file.path)) is readable by other users (mode \(Self.octal(mode & 0o777))); fix: chmod o-rwx \(file.path)"
            )
        }
        self.warnings = warnings
    }

    // MARK: Items

    static func apiKeys(_ c: GatewayConfig) -> Item {
        guard c.auth.accepts(.apiKey) else {
            return Item(name: Name.apiKeys, isPassed: true, reason: "not used (auth.methods does not list \"api_key\")")
        }
        let count = c.auth.apiKeys.count
        guard count > 0 else {
            return Item(
                name: Name.apiKeys, isPassed: false, reason: "no API key is configured",
                fix:
                    "add the sha256: form of a key from `gatehouse key generate` to auth.api_keys (or MCP_API_KEYS), or remove \"api_key\" from auth.methods"
            )
        }
        return Item(name: Name.apiKeys, isPassed: true, reason: EffectiveSettings.count(count, "key"))
    }

    static func jwt(_ c: GatewayConfig) -> Item {
        let jwt = c.auth.jwt
        guard c.auth.accepts(.jwt) else {
            return Item(name: Name.jwt, isPassed: true, reason: "not used (auth.methods does not list \"jwt\")")
        }
        if !jwt.secret.isEmpty, let weakness = weakness(ofSecret: jwt.secret) {
            return Item(
                name: Name.jwt, isPassed: false, reason: "auth.jwt.secret \(weakness)",
                fix:
                    "use 32 or more random bytes (e.g. the first line of `gatehouse key generate`), stored as an enc: value or in MCP_JWT_SECRET"
            )
        }
        var sources: [String] = []
        if !jwt.secret.isEmpty { sources.append("auth.jwt.secret (\(jwt.secret.count) bytes)") }
        if !jwt.jwksFile.isEmpty { sources.append("auth.jwt.jwks_file") }
        if jwt.jwksURL != nil { sources.append("auth.jwt.jwks_url") }
        guard !sources.isEmpty else {
            return Item(
                name: Name.jwt, isPassed: false,
                reason: "auth.methods lists \"jwt\" but no JWT key is configured",
                fix:
                    "set auth.jwt.jwks_url or jwks_file, or a secret of 32+ random bytes (MCP_JWT_SECRET or an enc: value), or remove \"jwt\" from auth.methods"
            )
        }
        return Item(name: Name.jwt, isPassed: true, reason: "keys from " + sources.joined(separator: " and "))
    }

    /// Why an HMAC secret is weak, or nil. Length is already ≥ 32 bytes (the loader refuses less); this
    /// catches the long-but-guessable ones: few distinct bytes, or a well-known placeholder.
    static func weakness(ofSecret secret: [UInt8]) -> String? {
        if secret.count < 32 { return "has \(secret.count) bytes (at least 32 are needed)" }
        if Set(secret).count < minimumDistinctSecretBytes {
            return "uses fewer than \(minimumDistinctSecretBytes) distinct characters"
        }
        let lowered = String(decoding: secret, as: UTF8.self).lowercased()
        if placeholderFragments.contains(where: { lowered.contains($0) }) { return "looks like a placeholder value" }
        return nil
    }

    static func https(_ c: GatewayConfig) -> Item {
        let fix = "set tls.require_https = true (or MCP_REQUIRE_HTTPS=true) with tls.cert and tls.key"
        if !c.tls.requireHTTPS {
            let reason =
                c.tls.isEnabled
                ? "tls.require_https is false" : "tls.require_https is false and no certificate is set: plain HTTP"
            return Item(name: Name.https, isPassed: false, reason: reason, fix: fix)
        }
        guard c.tls.isEnabled else {
            return Item(name: Name.https, isPassed: false, reason: "no certificate and key are set", fix: fix)
        }
        return Item(
            name: Name.https, isPassed: true, reason: "tls.require_https, TLS \(c.tls.minVersion.rawValue) or newer")
    }

    static func rateLimit(_ c: GatewayConfig) -> Item {
        guard c.rateLimit.enabled else {
            return Item(
                name: Name.rateLimit, isPassed: false, reason: "rate_limit.enabled is false",
                fix: "set rate_limit.enabled = true (capacity and refill_per_second size the buckets)")
        }
        let r = c.rateLimit
        return Item(
            name: Name.rateLimit, isPassed: true,
            reason:
                "\(r.capacity) burst, \(EffectiveSettings.number(r.refillPerSecond))/s per \(r.per.rawValue) (\(r.backend.rawValue))"
        )
    }

    static func inputValidation(_ c: GatewayConfig) -> Item {
        var problems: [String] = []
        if c.mcp.paths.isEmpty { problems.append("mcp.paths is empty (no MCP message is inspected)") }
        if c.mcp.sanitize == .off { problems.append("mcp.sanitize is \"off\"") }
        guard problems.isEmpty else {
            return Item(
                name: Name.inputValidation, isPassed: false, reason: problems.joined(separator: " and "),
                fix: "set mcp.sanitize = \"reject\" (or \"escape\") and list the MCP endpoints in mcp.paths")
        }
        return Item(
            name: Name.inputValidation, isPassed: true,
            reason: "mcp.paths \(EffectiveSettings.list(c.mcp.paths)), sanitize \"\(c.mcp.sanitize.rawValue)\"")
    }

    static func securityLogging(_ c: GatewayConfig) -> Item {
        guard c.logging.securityLog != .off else {
            return Item(
                name: Name.securityLogging, isPassed: false, reason: "logging.security_log is \"off\"",
                fix: "set logging.security_log to \"stdout\", \"stderr\" or a file path")
        }
        return Item(
            name: Name.securityLogging, isPassed: true,
            reason: "security events go to \(EffectiveSettings.quote(c.logging.securityLog.description))")
    }

    static func cors(_ c: GatewayConfig) -> Item {
        if c.cors.origins.contains("*") {
            return Item(
                name: Name.cors, isPassed: false, reason: "cors.origins contains \"*\" (any web page may call)",
                fix: "list the exact origins of your web clients in cors.origins (or MCP_CORS_ORIGINS)")
        }
        if c.cors.origins.isEmpty {
            return Item(name: Name.cors, isPassed: true, reason: "no origin is allowed (browsers cannot call)")
        }
        return Item(name: Name.cors, isPassed: true, reason: EffectiveSettings.list(c.cors.origins))
    }

    static func headers(_ c: GatewayConfig) -> Item {
        let missing = GatewayConfig.defaultHeaders.map(\.name).filter { name in
            !c.headers.contains { $0.name.lowercased() == name.lowercased() && !$0.value.isEmpty }
        }
        guard missing.isEmpty else {
            return Item(
                name: Name.headers, isPassed: false, reason: "missing " + missing.joined(separator: ", "),
                fix: "remove the \"\" overrides from [headers] (the defaults are in gateway.conf.example)")
        }
        return Item(
            name: Name.headers, isPassed: true,
            reason: "all \(GatewayConfig.defaultHeaders.count) security headers are set")
    }

    static func plainSecrets(_ loaded: LoadedConfig, text: [UInt8]?) -> Item {
        guard let path = loaded.path else {
            return Item(name: Name.plainSecrets, isPassed: true, reason: "no configuration file (environment only)")
        }
        guard let text, let table = try? TOMLReader.parse(text) else {
            return Item(
                name: Name.plainSecrets, isPassed: false, reason: "cannot read \(path) again to look",
                fix: "make the file readable by the user that runs gatehouse")
        }
        let found = plainSecretLocations(in: table, fileName: path)
        guard found.isEmpty else {
            return Item(
                name: Name.plainSecrets, isPassed: false, reason: found.joined(separator: ", "),
                fix:
                    "store API keys as sha256: hashes (gatehouse key hash) and other secrets as enc: values (gatehouse secret encrypt) or in the environment"
            )
        }
        return Item(name: Name.plainSecrets, isPassed: true, reason: "none in \(path)")
    }

    /// `file:line: key` of each secret written in the clear: the JWT secret, API keys that are neither
    /// `sha256:` hashes nor `enc:` values, `key` fields of `[[auth.api_key]]`, a Redis URL with a password.
    static func plainSecretLocations(in root: TOMLTable, fileName: String) -> [String] {
        var found: [(line: Int, text: String)] = []
        func note(_ table: TOMLTable, _ key: String, _ dotted: String) {
            let line = table.line(of: key) ?? 0
            found.append((line, "\(fileName)\(line > 0 ? ":\(line)" : ""): \(dotted)"))
        }
        func isPlain(_ value: TOMLValue?) -> Bool {
            guard let text = value?.stringValue else { return false }
            return !text.isEmpty && !SecretText.isEncrypted(text)
        }
        let auth = root["auth"]?.tableValue
        if let jwt = auth?["jwt"]?.tableValue, isPlain(jwt["secret"]) { note(jwt, "secret", "auth.jwt.secret") }
        if let auth, let keys = auth["api_keys"]?.arrayValue {
            let plain = keys.filter { isPlain($0) && !($0.stringValue ?? "").lowercased().hasPrefix("sha256:") }
            if !plain.isEmpty {
                note(auth, "api_keys", "auth.api_keys (\(EffectiveSettings.count(plain.count, "plain key")))")
            }
        }
        if let entries = auth?["api_key"]?.arrayValue {
            for entry in entries {
                if let table = entry.tableValue, isPlain(table["key"]) { note(table, "key", "auth.api_key.key") }
            }
        }
        if let limit = root["rate_limit"]?.tableValue, isPlain(limit["redis_url"]),
            let url = limit["redis_url"]?.stringValue, (try? RedisURL(parsing: url))?.password != nil
        {
            note(limit, "redis_url", "rate_limit.redis_url (password)")
        }
        return found.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(
            \.element.text)
    }

    static func certificate(_ c: GatewayConfig, _ o: Observations) -> Item {
        let fix = "renew the certificate (tls.cert) and send SIGHUP"
        if let error = o.certificateError {
            return Item(name: Name.certificate, isPassed: false, reason: error, fix: "fix tls.cert and tls.key")
        }
        guard c.tls.isEnabled, let notAfter = o.certificateNotAfter else {
            return Item(
                name: Name.certificate, isPassed: false, reason: "no certificate is configured",
                fix: "set tls.cert and tls.key (or MCP_TLS_CERT_PATH and MCP_TLS_KEY_PATH)")
        }
        let date = utcTime(notAfter)
        let left = notAfter - o.now
        if left <= 0 {
            return Item(name: Name.certificate, isPassed: false, reason: "expired on \(date)", fix: fix)
        }
        let days = left / 86_400
        let when = "expires \(date) (in \(EffectiveSettings.count(Int(days), "day")))"
        guard left > minimumCertificateDays * 86_400 else {
            return Item(name: Name.certificate, isPassed: false, reason: when, fix: fix)
        }
        return Item(name: Name.certificate, isPassed: true, reason: when)
    }

    // MARK: Helpers

    /// The files whose contents are secret, with what they are.
    static func secretFiles(_ loaded: LoadedConfig) -> [(what: String, path: String)] {
        var files: [(what: String, path: String)] = []
        if let path = loaded.path { files.append(("the configuration file", path)) }
        if !loaded.config.tls.key.isEmpty { files.append(("the private key (tls.key)", loaded.config.tls.key)) }
        if !loaded.config.auth.apiKeysFile.isEmpty {
            files.append(("the API keys file (auth.api_keys_file)", loaded.config.auth.apiKeysFile))
        }
        return files
    }

    /// `2027-01-05T10:07:14Z`.
    static func utcTime(_ seconds: Int64) -> String {
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return "epoch second \(seconds)" }
        return String(LogFormat.timestamp(epochMilliseconds: product).prefix(19)) + "Z"
    }

    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
