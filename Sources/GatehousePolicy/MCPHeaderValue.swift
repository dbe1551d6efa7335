import GatehouseCrypto

/// Values of the 2026-07-28 mirrored headers (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`): the value as
/// is, or `=?base64?<standard base64 of the UTF-8 bytes>?=` for a value that is not header-safe. The
/// markers are lowercase and case-sensitive; anything wearing both is decoded before comparing.
public enum MCPHeaderValue {
    private static let prefix: [UInt8] = Array("=?base64?".utf8)
    private static let suffix: [UInt8] = Array("?=".utf8)

    /// The UTF-8 bytes the header stands for; nil when it wears the markers but the payload is not
    /// base64 (padding optional) of valid UTF-8.
    public static func decode(_ raw: String) -> [UInt8]? {
        let bytes = Array(raw.utf8)
        guard bytes.count >= prefix.count + suffix.count, bytes.starts(with: prefix),
            bytes[(bytes.count - suffix.count)...].elementsEqual(suffix)
        else { return bytes }
        var payload = Array(bytes[prefix.count..<(bytes.count - suffix.count)])
        while payload.count % 4 != 0 { payload.append(UInt8(ascii: "=")) }
        guard let decoded = Encoding.fromBase64(payload) else { return nil }
        guard Array(String(decoding: decoded, as: UTF8.self).utf8) == decoded else { return nil }
        return decoded
    }

    /// Whether the header value `raw` stands for exactly `expected`.
    public static func matches(_ raw: String, expected: String) -> Bool {
        guard let decoded = decode(raw) else { return false }
        return decoded.elementsEqual(expected.utf8)
    }

    /// The header form of `value`: as is when it is visible ASCII or inner spaces and does not look like
    /// the sentinel, else the base64 sentinel.
    public static func encode(_ value: String) -> String {
        let utf8 = Array(value.utf8)
        let plain =
            !utf8.isEmpty && utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } && utf8.first != 0x20 && utf8.last != 0x20
            && !(utf8.starts(with: prefix) && utf8.reversed().starts(with: suffix.reversed()))
        return plain ? value : "=?base64?" + Encoding.base64(utf8) + "?="
    }
}
