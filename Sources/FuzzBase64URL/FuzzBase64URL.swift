import FuzzSupport
import GatehouseCrypto

/// libFuzzer target for `GatehouseCrypto.Encoding` (base64url as JWTs and API keys use it, padded
/// base64url as Fernet uses it, standard base64, hex). Properties checked beyond "no crash":
/// - decoding is strict, so whatever decodes is the canonical encoding of what it decodes to;
/// - every encoder's output decodes back to the input with its decoder;
/// - the unpadded and padded base64url forms differ only by the `=` padding.
@main
enum FuzzBase64URL {
    static func main() {
        FuzzDriver.run { input in
            let bytes = Array(input)
            let text = String(decoding: bytes, as: UTF8.self)

            if let decoded = Encoding.fromBase64URL(bytes) {
                FuzzDriver.require(Array(Encoding.base64URL(decoded).utf8) == bytes, "base64url decode is not strict")
            }
            if let decoded = Encoding.fromBase64URLPadded(bytes) {
                FuzzDriver.require(
                    Array(Encoding.base64URL(decoded, padded: true).utf8) == bytes, "padded decode is not strict")
            }
            if let decoded = Encoding.fromBase64(bytes) {
                FuzzDriver.require(Array(Encoding.base64(decoded).utf8) == bytes, "base64 decode is not strict")
            }
            if let decoded = Encoding.fromHex(text) {
                FuzzDriver.require(Encoding.hex(decoded) == text.lowercased(), "hex decode is not strict")
            }

            let url = Encoding.base64URL(bytes)
            FuzzDriver.require(Encoding.fromBase64URL(Array(url.utf8)) == bytes, "base64url round trip")
            FuzzDriver.require(!url.contains("=") && !url.contains("+") && !url.contains("/"), "base64url alphabet")
            let padded = Encoding.base64URL(bytes, padded: true)
            FuzzDriver.require(padded.utf8.count % 4 == 0, "padded length")
            FuzzDriver.require(padded.filter { $0 != "=" } == url, "padded and unpadded differ")
            FuzzDriver.require(Encoding.fromBase64URLPadded(Array(padded.utf8)) == bytes, "padded round trip")
            FuzzDriver.require(Encoding.fromBase64(Array(Encoding.base64(bytes).utf8)) == bytes, "base64 round trip")
            FuzzDriver.require(Encoding.fromHex(Encoding.hex(bytes)) == bytes, "hex round trip")
        }
    }
}
