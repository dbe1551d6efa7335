/// First-match authorization rules (§5 Permissions, §6.5): patterns over `"<method>"` or
/// `"tools/call:<tool>"` with `*` wildcards.
public struct AuthorizationRules: Sendable {
    private let rules: [(pattern: [UInt8], require: [String])]

    public init(rules: [(match: String, require: [String])]) {
        self.rules = rules.map { (Array($0.match.utf8), $0.require) }
    }

    /// The resource name of a JSON-RPC request: `tools/call:<tool>` for a tool call, else the method.
    public static func resource(method: String, tool: String?) -> String {
        if method == "tools/call", let tool { return "tools/call:" + tool }
        return method
    }

    /// The permissions the first matching rule requires (empty = none), nil when no rule matches.
    public func requirement(for resource: String) -> [String]? {
        let subject = Array(resource.utf8)
        for rule in rules where Self.matches(pattern: rule.pattern, subject) { return rule.require }
        return nil
    }

    /// Whether a principal holding `permissions` may use `resource`. A resource no rule matches is
    /// refused: the configuration lists what is allowed (the default rules end with `* → []`).
    public func allows(permissions: [String], resource: String) -> Bool {
        guard let required = requirement(for: resource) else { return false }
        return Self.allows(permissions: permissions, required: required, resource: resource)
    }

    /// Whether `permissions` satisfies `required` (every listed permission must be held): `*` allows
    /// everything; `tools:call` is the umbrella of every `tools/call:<x>`, so a requirement of
    /// `tools:call` on a tool call is also met by a narrower held permission naming that tool
    /// (`tools/call:echo`, `tools/call:read_*`). A stricter rule earlier in the list (say
    /// `tools/call:delete_* → [admin]`) is not met by `tools:call`.
    public static func allows(permissions: [String], required: [String], resource: String) -> Bool {
        if permissions.contains("*") { return true }
        let isToolCall = resource.hasPrefix("tools/call:")
        for need in required where !permissions.contains(need) {
            guard isToolCall, need == "tools:call" else { return false }
            let subject = Array(resource.utf8)
            let granted = permissions.contains { held in
                held.hasPrefix("tools/call:") && matches(pattern: Array(held.utf8), subject)
            }
            if !granted { return false }
        }
        return true
    }

    /// Glob match where `*` stands for any run of bytes (`/` and `:` included) and everything else is literal.
    public static func matches(pattern: String, _ subject: String) -> Bool {
        matches(pattern: Array(pattern.utf8), Array(subject.utf8))
    }

    static func matches(pattern p: [UInt8], _ s: [UInt8]) -> Bool {
        // Iterative matching with one backtrack point: linear in practice, never exponential.
        var pi = 0
        var si = 0
        var star = -1
        var resume = 0
        let asterisk = UInt8(ascii: "*")
        while si < s.count {
            if pi < p.count, p[pi] == asterisk {
                star = pi
                resume = si
                pi += 1
            } else if pi < p.count, p[pi] == s[si] {
                pi += 1
                si += 1
            } else if star >= 0 {
                pi = star + 1
                resume += 1
                si = resume
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == asterisk { pi += 1 }
        return pi == p.count
    }
}
