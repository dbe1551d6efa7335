import GatehouseConfig
import GatehouseCrypto
import Glibc

/// `gatehouse secret encrypt|decrypt` (PRODUCT.md §1, §8): standard input to standard output as a Fernet
/// token under the key derived from `MCP_ENCRYPTION_PASSWORD` and `MCP_ENCRYPTION_SALT`.
///
/// Newlines, so that neither `echo` nor `$(…)` changes a secret:
/// - `encrypt` drops ONE trailing line break ("\n" or "\r\n") from its input (what `echo` and a
///   here-string add) and prints the token followed by exactly one "\n";
/// - `decrypt` ignores spaces and line breaks around the token and an `enc:` prefix (a value pasted from
///   the configuration), and writes the plaintext bytes exactly, adding nothing.
/// So `printf %s "$S" | gatehouse secret encrypt | gatehouse secret decrypt` gives back `$S` byte for byte.
enum SecretCommand {
    static let help = """
        gatehouse secret encrypt                 read a secret on stdin, print its Fernet token
        gatehouse secret decrypt [--ttl 24h]     read a token (or enc:<token>) on stdin, print the secret
        The key is PBKDF2-HMAC-SHA256(MCP_ENCRYPTION_PASSWORD, MCP_ENCRYPTION_SALT, 100000 rounds): the
        token format of Python's cryptography.fernet, so either side reads the other's tokens. Write the
        token in gateway.conf as "enc:<token>" (any string value may be encrypted).
        encrypt removes one trailing newline from its input and prints the token with one newline;
        decrypt ignores whitespace around the token and prints the secret exactly, with no newline added.
        --ttl refuses tokens older than the duration (and stamped over 60 s in the future).
        Exit: 0; 1 on a bad token, a wrong password or salt, or an expired token; 2 on usage errors or a
        missing MCP_ENCRYPTION_PASSWORD / MCP_ENCRYPTION_SALT (there is no built-in salt).
        """

    /// The largest input read (a secret, or a token for one).
    static let maximumInput = 1 << 20

    static func run(_ args: [String]) -> Int32 {
        guard let verb = args.first, verb == "encrypt" || verb == "decrypt" else {
            return CommandLineInterface.fail(
                "usage: gatehouse secret encrypt | gatehouse secret decrypt [--ttl 24h]", code: 2)
        }
        let rest = Array(args.dropFirst())
        var ttl: Int64? = nil
        do throws(UsageError) {
            try CommandLineInterface.checkArguments(rest, flags: verb == "decrypt" ? ["--ttl"] : [])
            if let text = try CommandLineInterface.option("--ttl", in: rest) {
                guard let duration = DurationText.parse(text), duration >= .seconds(1) else {
                    throw UsageError("--ttl expects a duration of at least 1s, like \"24h\"")
                }
                ttl = duration.components.seconds
            }
        } catch {
            return CommandLineInterface.fail(error.description, code: 2)
        }
        let fernet: Fernet
        do throws(MissingEncryptionSetting) {
            fernet = try SecretText.fernet(environment: CommandLineInterface.environment())
        } catch {
            return CommandLineInterface.fail(error.description, code: 2)
        }
        guard let input = readStandardInput() else {
            return CommandLineInterface.fail("cannot read standard input (at most 1 MiB)", code: 1)
        }
        if verb == "encrypt" {
            let line = fernet.encrypt(withoutOneLineBreak(input)) + "\n"
            return write(Array(line.utf8)) ? 0 : CommandLineInterface.fail("cannot write to standard output", code: 1)
        }
        let token = trimmingToken(input)
        do throws(FernetError) {
            let plaintext = try fernet.decrypt(token, ttl: ttl)
            return write(plaintext) ? 0 : CommandLineInterface.fail("cannot write to standard output", code: 1)
        } catch {
            return CommandLineInterface.fail("cannot decrypt: " + reason(error), code: 1)
        }
    }

    static func reason(_ error: FernetError) -> String {
        switch error.reason {
        case .malformed, .invalidKey: return "the input is not a Fernet token"
        case .badSignature, .badPadding:
            return "wrong \(SecretText.passwordVariable) or \(SecretText.saltVariable), or an altered token"
        case .expired: return "the token is older than --ttl"
        case .fromTheFuture: return "the token is stamped in the future (check the clock)"
        }
    }

    /// `input` without one final "\n" (or "\r\n").
    static func withoutOneLineBreak(_ input: [UInt8]) -> ArraySlice<UInt8> {
        var end = input.endIndex
        if end > 0, input[end - 1] == 0x0a {
            end -= 1
            if end > 0, input[end - 1] == 0x0d { end -= 1 }
        }
        return input[..<end]
    }

    /// The token in `input`: surrounding ASCII whitespace and one `enc:` prefix removed.
    static func trimmingToken(_ input: [UInt8]) -> ArraySlice<UInt8> {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
        var token = input[...]
        while let first = token.first, isSpace(first) { token = token.dropFirst() }
        while let last = token.last, isSpace(last) { token = token.dropLast() }
        let prefix = Array(SecretText.prefix.utf8)
        if token.starts(with: prefix) { token = token.dropFirst(prefix.count) }
        return token
    }

    /// All of standard input, or nil on a read error or more than `maximumInput` bytes.
    static func readStandardInput() -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            if bytes.count > maximumInput { return nil }
        }
    }

    /// Writes all of `bytes` to standard output; false when it cannot (a closed pipe).
    static func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }  // count > 0: non-nil
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }
}
