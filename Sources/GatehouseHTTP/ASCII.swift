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
    /// / DIGIT / ALPHA.
    @usableFromInline static let tokenTable: [Bool] = (0..<256).map { b in
        switch UInt8(b) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(UInt8(b))
        }
    }

    /// Host field characters: reg-name, IP literal and port (unreserved, pct-encoded, sub-delims, ":",
    /// "[", "]").
    @usableFromInline static let hostTable: [Bool] = (0..<256).map { b in
        switch UInt8(b) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default:
            "-._~%!$&'()*+,;=:[]".utf8.contains(UInt8(b))
        }
    }

    @inlinable static func isTokenChar(_ b: UInt8) -> Bool { tokenTable[Int(b)] }

    @inlinable static func isHostChar(_ b: UInt8) -> Bool { hostTable[Int(b)] }

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
