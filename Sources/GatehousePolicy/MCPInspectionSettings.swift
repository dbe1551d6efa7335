/// What `mcp.sanitize` does with dangerous strings inside `tools/call` arguments (§6.4).
public enum SanitizeMode: String, Sendable {
    /// Forward the bytes as received.
    case off
    /// Refuse the call (400, -32602).
    case reject
    /// HTML-escape every string and key, remove `javascript:` and `on…=`, forward the rewritten message.
    case escape
}

/// What `mcp.pin_tools` does when a tool definition changes after first sight (§6.7).
public enum PinMode: String, Sendable {
    case off
    /// Log a `security` event (`tool_changed`).
    case warn
    /// Log, hide the changed tool from `tools/list` answers and refuse calls to it (403).
    case enforce
}

/// The `[mcp]` and `[authorization]` settings the inspection needs, checked and compiled at load.
/// Defaults are the contract's (§2).
public struct MCPInspectionSettings: Sendable {
    public var toolNamePattern: MCPToolNameMatcher
    /// `tools/call` without an `arguments` object is refused.
    public var requireArguments: Bool
    /// Nesting limit of the request body (arrays and objects).
    public var maxJSONDepth: Int
    /// JSON-RPC arrays accepted (each element checked).
    public var allowBatches: Bool
    public var sanitize: SanitizeMode
    public var rules: AuthorizationRules
    /// `tools/list` answers show only the tools the caller may call.
    public var filterToolsList: Bool
    /// An `Mcp-Session-Id` belongs to the principal that created it.
    public var bindSessions: Bool
    public var pinTools: PinMode

    public init(
        toolNamePattern: MCPToolNameMatcher = .standard, requireArguments: Bool = false, maxJSONDepth: Int = 64,
        allowBatches: Bool = true, sanitize: SanitizeMode = .off,
        rules: AuthorizationRules = MCPInspectionSettings.defaultRules,
        filterToolsList: Bool = true, bindSessions: Bool = true, pinTools: PinMode = .off
    ) {
        self.toolNamePattern = toolNamePattern
        self.requireArguments = requireArguments
        self.maxJSONDepth = maxJSONDepth
        self.allowBatches = allowBatches
        self.sanitize = sanitize
        self.rules = rules
        self.filterToolsList = filterToolsList
        self.bindSessions = bindSessions
        self.pinTools = pinTools
    }

    /// The contract's default `authorization.rules` (§2): `delete_*` tools need `admin`, other tools
    /// `tools:call`, everything else nothing.
    public static let defaultRules = AuthorizationRules(rules: [
        (match: "tools/call:delete_*", require: ["admin"]),
        (match: "tools/call:*", require: ["tools:call"]),
        (match: "*", require: []),
    ])
}
