/// Hex and base64url encodings on bytes, strict on decode.
public enum Encoding {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lower-case hex.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil on an odd length or a non-hex character.
    public static func fromHex<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static let b64url: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let b64std: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// base64url without padding (JWT, API keys); `padded` adds `=` (Fernet).
    public static func base64URL<C: Collection>(_ bytes: C, padded: Bool = false) -> String where C.Element == UInt8 {
        encode64(Array(bytes), alphabet: b64url, padded: padded)
    }

    /// Standard base64 with padding.
    public static func base64<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        encode64(Array(bytes), alphabet: b64std, padded: true)
    }

    private static func encode64(_ b: [UInt8], alphabet: [UInt8], padded: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= b.count {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = b.count - i
        if rest == 1 {
            let n = UInt32(b[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            if padded { out.append(UInt8(ascii: "=")); out.append(UInt8(ascii: "=")) }
        } else if rest == 2 {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            if padded { out.append(UInt8(ascii: "=")) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict base64url decode: URL-safe alphabet, no padding, no whitespace, unused bits zero.
    public static func fromBase64URL<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        decode64(Array(text), urlSafe: true, requirePadding: false)
    }

    /// Strict decode of URL-safe base64 with `=` padding required (Fernet tokens).
    public static func fromBase64URLPadded<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        decode64(Array(text), urlSafe: true, requirePadding: true)
    }

    /// Strict standard base64 with padding.
    public static func fromBase64<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        decode64(Array(text), urlSafe: false, requirePadding: true)
    }

    private static func value(_ c: UInt8, urlSafe: Bool) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a") + 26)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0") + 52)
        case UInt8(ascii: "-") where urlSafe, UInt8(ascii: "+") where !urlSafe: return 62
        case UInt8(ascii: "_") where urlSafe, UInt8(ascii: "/") where !urlSafe: return 63
        default: return nil
        }
    }

    private static func decode64(_ input: [UInt8], urlSafe: Bool, requirePadding: Bool) -> [UInt8]? {
        var s = input[...]
        if requirePadding {
            guard s.count % 4 == 0 else { return nil }
            if s.last == UInt8(ascii: "=") { s = s.dropLast() }
            if s.last == UInt8(ascii: "=") { s = s.dropLast() }
        }
        if s.count % 4 == 1 { return nil }
        var out = [UInt8]()
        out.reserveCapacity(s.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in s {
            guard let v = value(c, urlSafe: urlSafe) else { return nil }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        // Non-canonical encodings (leftover bits set) are refused.
        if acc != 0 { return nil }
        return out
    }
}
