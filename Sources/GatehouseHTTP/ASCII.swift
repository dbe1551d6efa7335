/// Byte classes of RFC 9110 §5.6 and RFC 3986, as 256-entry tables so the scanning loops do one load per
/// byte.
@usableFromInline enum ASCII {
    @usableFromInline static let cr: UInt8 = 0x0D
    @usableFromInline static let lf: UInt8 = 0x0A
    @usableFromInline static let space: UInt8 = 0x20
    @usableFromInline static let tab: UInt8 = 0x09
    @usableFromInline static let colon: UInt8 = 0x3A
    @usableFromInline static let semicolon: UInt8 = 0x3B
    @usableFromInline static let equals: UInt8 = 0x3D
    @usableFromInline static let comma: UInt8 = 0x2C
    @usableFromInline static let quote: UInt8 = 0x22
    @usableFromInline static let backslash: UInt8 = 0x5C

    /// tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
    /// / DIGIT / ALPHA, as a bit set over bytes 0–127 (bit n of the low word is byte n, of the high word
    /// byte 64 + n). Bit sets rather than tables: no lazy global to initialize, no bounds check.
    @inlinable static func isTokenChar(_ b: UInt8) -> Bool {
        isMember(b, low: 0x03FF_6CFA_0000_0000, high: 0x57FF_FFFF_C7FF_FFFE)
    }

    /// Host field characters: reg-name, IP literal and port (unreserved, pct-encoded, sub-delims, ":",
    /// "[", "]").
    @inlinable static func isHostChar(_ b: UInt8) -> Bool {
        isMember(b, low: 0x2FFF_7FF2_0000_0000, high: 0x47FF_FFFE_AFFF_FFFE)
    }

    @inlinable static func isMember(_ b: UInt8, low: UInt64, high: UInt64) -> Bool {
        if b < 64 { return (low >> UInt64(b)) & 1 != 0 }
        if b < 128 { return (high >> UInt64(b &- 64)) & 1 != 0 }
        return false
    }

    /// VCHAR: visible US-ASCII.
    @inlinable static func isVisible(_ b: UInt8) -> Bool { b >= 0x21 && b <= 0x7E }

    @inlinable static func isWhitespace(_ b: UInt8) -> Bool { b == space || b == tab }

    @inlinable static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

    @inlinable static func lowercased(_ b: UInt8) -> UInt8 {
        b &- 0x41 < 26 ? b | 0x20 : b
    }

    /// The value of a hex digit, or nil.
    @inlinable static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: Int(b - 0x30)
        case 0x41...0x46: Int(b - 0x41 + 10)
        case 0x61...0x66: Int(b - 0x61 + 10)
        default: nil
        }
    }

    /// True when `bytes` equals the lowercase ASCII `lowercase`, ignoring case.
    @inlinable static func equalsIgnoringCase<C: Collection<UInt8>>(_ bytes: C, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            var i = 0
            for b in bytes {
                if lowercased(b) != expected[i] { return false }
                i += 1
            }
            return true
        }
    }
}
