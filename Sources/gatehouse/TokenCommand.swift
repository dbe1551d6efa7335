import GatehouseConfig
import GatehouseJSON
import GatehousePolicy
import GatehousePosix

/// `gatehouse token --sub SUBJECT [--permissions a,b] [--ttl 24h] [--config PATH]`: mints an HS256 JWT
/// with the configured secret (for testing and bootstrap), with iss/aud when the configuration requires them.
enum TokenCommand {
    static func run(_ args: [String]) -> Int32 {
        let subject: String
        var permissions: [String] = []
        var ttl: Duration = .seconds(86_400)
        let path: String?
        do {
            try CommandLineInterface.checkArguments(args, flags: ["--sub", "--permissions", "--ttl", "--config"])
            guard let s = try CommandLineInterface.option("--sub", in: args), !s.isEmpty else {
                throw UsageError("token needs --sub SUBJECT")
            }
            subject = s
            if let p = try CommandLineInterface.option("--permissions", in: args) {
                permissions = p.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            }
            if let t = try CommandLineInterface.option("--ttl", in: args) {
                guard let d = DurationText.parse(t), d > .zero else { throw UsageError("--ttl expects a duration like \"24h\"") }
                ttl = d
            }
            path = try CommandLineInterface.option("--config", in: args)
        } catch {
            return CommandLineInterface.fail("\(error)", code: 2)
        }
        let config: GatewayConfig
        do {
            config = try ConfigLoader.load(path: path, environment: CommandLineInterface.environment()).config
        } catch {
            return CommandLineInterface.fail("\(error)", code: 2)
        }
        let jwt = config.auth.jwt
        guard !jwt.secret.isEmpty else {
            return CommandLineInterface.fail("no JWT secret configured (auth.jwt.secret or MCP_JWT_SECRET)", code: 2)
        }
        let now = wallClockMilliseconds() / 1000
        var claims: [(String, JSONValue)] = [
            ("sub", .string(subject)), ("iat", .integer(now)), ("exp", .integer(now + ttl.components.seconds)),
        ]
        if !permissions.isEmpty { claims.append(("permissions", .array(permissions.map { .string($0) }))) }
        if !jwt.issuer.isEmpty { claims.append(("iss", .string(jwt.issuer))) }
        if !jwt.audience.isEmpty { claims.append(("aud", .string(jwt.audience))) }
        print(JWTSigner.hs256(claims: claims, secret: jwt.secret))
        return 0
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
