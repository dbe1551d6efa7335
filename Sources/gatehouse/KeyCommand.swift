import GatehouseCrypto
import Glibc

/// `gatehouse key generate` and `gatehouse key hash [KEY]`.
enum KeyCommand {
    static func run(_ args: [String]) -> Int32 {
        switch args.first {
        case "generate":
            guard args.count == 1 else { return CommandLineInterface.fail("key generate takes no arguments", code: 2) }
            // 32 random bytes, URL-safe: 43 characters, 256 bits of entropy.
            let key = "gh_" + Encoding.base64URL(SecureRandom.bytes(32))
            print(key)
            print(hashText(key))
            return 0
        case "hash":
            let key: String
            if args.count == 2 {
                key = args[1]
            } else if args.count == 1 {
                var bytes: [UInt8] = []
                while let line = readLine(strippingNewline: false) { bytes.append(contentsOf: line.utf8) }
                while let last = bytes.last, last == 0x0a || last == 0x0d { bytes.removeLast() }
                key = String(decoding: bytes, as: UTF8.self)
            } else {
                return CommandLineInterface.fail("key hash takes at most one KEY", code: 2)
            }
            guard !key.isEmpty else { return CommandLineInterface.fail("empty key", code: 2) }
            print(hashText(key))
            return 0
        default:
            return CommandLineInterface.fail("usage: gatehouse key generate | gatehouse key hash [KEY]", code: 2)
        }
    }

    static func hashText(_ key: String) -> String {
        "sha256:" + Encoding.hex(Digest.sha256(Array(key.utf8)))
    }
}
