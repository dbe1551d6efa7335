/// The gateway's whole configuration as checked, ready values: one settings struct per TOML table.
/// Every default of PRODUCT.md §2 lives in the property initializers of these structs and nowhere else.
public struct GatewayConfig: Sendable {
    public var server = ServerSettings()
    public var tls = TLSSettings()
    public var upstream = UpstreamSettings()
    public var auth = AuthSettings()
    public var authorization = AuthorizationSettings()
    public var rateLimit = RateLimitSettings()
    public var cors = CORSSettings()
    /// The `[headers]` table merged over the defaults: the final list added to every response, in
    /// order (defaults first, in their order, then headers the file adds). A value `""` in the file
    /// removes a default.
    public var headers: [(name: String, value: String)] = GatewayConfig.defaultHeaders
    public var mcp = MCPSettings()
    public var logging = LoggingSettings()
    public var admin = AdminSettings()
    public var rest = RESTSettings()

    public init() {}

    /// §2's defaults, as they are before a file or the environment is read.
    public static let defaults = GatewayConfig()

    /// The six security headers of §2/§7.
    public static let defaultHeaders: [(name: String, value: String)] = [
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-XSS-Protection", "1; mode=block"),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
        (
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; font-src 'self'; connect-src 'self'; frame-ancestors 'none';"
        ),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ]
}
