/// Random JSON-ish documents as bytes: valid ones with every string and number form, and "glitched"
/// ones where a token is occasionally replaced by a near miss (the mistakes parsers disagree about).
enum DocumentGenerator {
    /// A valid document (unique keys, depth ≤ 6, valid UTF-8).
    static func validDocument(using r: inout SeededRandom) -> [UInt8] {
        var out = [UInt8]()
        whitespace(&r, into: &out)
        value(&r, depth: 0, glitch: 0, into: &out)
        whitespace(&r, into: &out)
        return out
    }

    /// A document where each token has probability `glitch` of being subtly wrong.
    static func glitchedDocument(using r: inout SeededRandom, glitch: Double = 0.02) -> [UInt8] {
        var out = [UInt8]()
        if r.chance(glitch) { out += [0xEF, 0xBB, 0xBF] }
        whitespace(&r, into: &out)
        if r.chance(0.05) {
            // Near the depth limit, on both sides of it.
            var closers: [UInt8] = []
            for _ in 0..<r.int(60..<68) {
                let isArray = r.chance(0.5)
                out += Array((isArray ? "[" : #"{"k":"#).utf8)
                closers.append(isArray ? UInt8(ascii: "]") : UInt8(ascii: "}"))
            }
            value(&r, depth: 6, glitch: glitch, into: &out)
            out += closers.reversed()
        } else {
            value(&r, depth: 0, glitch: glitch, into: &out)
        }
        whitespace(&r, into: &out)
        if r.chance(glitch) { out += Array(r.pick([" 1", "x", ",", "]", "\u{0}", "/**/"]).utf8) }
        return out
    }

    /// `doc` with a few random byte edits.
    static func mutate(_ doc: [UInt8], using r: inout SeededRandom) -> [UInt8] {
        var d = doc
        let interesting: [UInt8] = Array(#"{}[],:"\\/ 0-1.eE+tfnu"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xED, 0xF4, 0xFF]
        for _ in 0..<r.int(1..<4) {
            switch r.int(0..<6) {
            case 0 where !d.isEmpty: d[r.int(0..<d.count)] = r.pick(interesting)
            case 1: d.insert(r.pick(interesting), at: r.int(0..<(d.count + 1)))
            case 2 where !d.isEmpty: d.remove(at: r.int(0..<d.count))
            case 3 where !d.isEmpty: d = Array(d.prefix(r.int(0..<d.count)))
            case 4 where !d.isEmpty:
                let a = r.int(0..<d.count)
                let b = min(d.count, a + r.int(1..<8))
                d.insert(contentsOf: d[a..<b], at: r.int(0..<(d.count + 1)))
            case 5 where !d.isEmpty: d[r.int(0..<d.count)] ^= UInt8(1) << UInt8(r.int(0..<8))
            default: break
            }
        }
        return d
    }

    // MARK: Pieces

    private static func whitespace(_ r: inout SeededRandom, into out: inout [UInt8]) {
        guard r.chance(0.3) else { return }
        for _ in 0..<r.int(1..<4) { out.append(r.pick([0x20, 0x0A, 0x0D, 0x09])) }
    }

    private static func value(_ r: inout SeededRandom, depth: Int, glitch: Double, into out: inout [UInt8]) {
        let kind = depth >= 6 ? r.int(2..<6) : r.int(0..<6)
        switch kind {
        case 0: object(&r, depth: depth, glitch: glitch, into: &out)
        case 1: array(&r, depth: depth, glitch: glitch, into: &out)
        case 2, 3: string(&r, glitch: glitch, into: &out)
        case 4: number(&r, glitch: glitch, into: &out)
        default:
            if r.chance(glitch) {
                out += Array(r.pick(["NaN", "Infinity", "-Infinity", "True", "nul", "undefined", "'x'"]).utf8)
            } else {
                out += Array(r.pick(["true", "false", "null"]).utf8)
            }
        }
    }

    private static func object(_ r: inout SeededRandom, depth: Int, glitch: Double, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        whitespace(&r, into: &out)
        var used: [String] = []
        let count = r.int(0..<6)
        for k in 0..<count {
            if k > 0 {
                out.append(UInt8(ascii: ","))
                whitespace(&r, into: &out)
            }
            var key: String
            if !used.isEmpty && r.chance(glitch * 5) {
                // A deliberate repeat, perhaps spelled with other escapes.
                key = r.pick(used)
                encodeString(key, &r, glitch: 0, into: &out)
                whitespace(&r, into: &out)
                out.append(UInt8(ascii: ":"))
                value(&r, depth: depth + 1, glitch: glitch, into: &out)
                continue
            }
            repeat {
                key = r.chance(0.5) ? r.pick(["a", "b", "id", "method", "é", "e\u{301}", "", "\u{0}"]) : randomText(&r)
            } while used.contains(where: { Array($0.utf8) == Array(key.utf8) }) && !r.chance(glitch * 10)
            used.append(key)
            encodeString(key, &r, glitch: glitch, into: &out)
            whitespace(&r, into: &out)
            if !r.chance(glitch) { out.append(UInt8(ascii: ":")) }
            whitespace(&r, into: &out)
            value(&r, depth: depth + 1, glitch: glitch, into: &out)
            whitespace(&r, into: &out)
        }
        if count > 0 && r.chance(glitch) { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "}"))
    }

    private static func array(_ r: inout SeededRandom, depth: Int, glitch: Double, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        whitespace(&r, into: &out)
        let count = r.int(0..<6)
        for k in 0..<count {
            if k > 0 && !r.chance(glitch) {
                out.append(UInt8(ascii: ","))
                whitespace(&r, into: &out)
            }
            value(&r, depth: depth + 1, glitch: glitch, into: &out)
            whitespace(&r, into: &out)
        }
        if count > 0 && r.chance(glitch) { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "]"))
    }

    private static let alphabet: [Unicode.Scalar] = [
        "a", "b", "z", "A", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{1F}", "\u{7F}", "\u{80}",
        "é", "€", "\u{301}", "\u{FFFF}", "\u{FEFF}", "\u{2028}", "😀", "\u{10FFFF}", "<", ">", "&", "'",
    ]

    private static func randomText(_ r: inout SeededRandom) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<r.int(0..<12) { s.append(r.pick(alphabet)) }
        return String(s)
    }

    private static func string(_ r: inout SeededRandom, glitch: Double, into out: inout [UInt8]) {
        encodeString(r.chance(0.1) ? String(repeating: "x", count: r.int(8..<40)) : randomText(&r), &r, glitch: glitch, into: &out)
    }

    /// Writes `text` as a string literal, each character raw or escaped at random.
    private static func encodeString(_ text: String, _ r: inout SeededRandom, glitch: Double, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            if r.chance(glitch) {
                let bad: [[UInt8]] = [
                    Array(#"\ud800"#.utf8), Array(#"\udc00"#.utf8), Array(#"\ud83d\u0041"#.utf8), Array(#"\x"#.utf8),
                    Array(#"\u12"#.utf8), [0x01], [0x0A], [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
                    [0xE2, 0x82], Array(#"\'"#.utf8),
                ]
                out += r.pick(bad)
            }
            let v = scalar.value
            let mustEscape = v < 0x20 || v == 0x22 || v == 0x5C
            if mustEscape || r.chance(0.2) {
                switch (v, r.int(0..<2)) {
                case (0x22, 0): out += Array(#"\""#.utf8)
                case (0x5C, 0): out += Array(#"\\"#.utf8)
                case (0x2F, 0): out += Array(#"\/"#.utf8)
                case (0x0A, 0): out += Array(#"\n"#.utf8)
                case (0x09, 0): out += Array(#"\t"#.utf8)
                default:
                    if v >= 0x10000 {
                        let u = v - 0x10000
                        out += unicodeEscape(0xD800 + (u >> 10), &r) + unicodeEscape(0xDC00 + (u & 0x3FF), &r)
                    } else {
                        out += unicodeEscape(v, &r)
                    }
                }
            } else {
                out += Array(String(scalar).utf8)
            }
        }
        if !r.chance(glitch) { out.append(UInt8(ascii: "\"")) }
    }

    private static func unicodeEscape(_ v: UInt32, _ r: inout SeededRandom) -> [UInt8] {
        let digits = Array((r.chance(0.5) ? "0123456789abcdef" : "0123456789ABCDEF").utf8)
        return Array(#"\u"#.utf8) + (0..<4).reversed().map { digits[Int(v >> (UInt32($0) * 4) & 0xF)] }
    }

    private static func number(_ r: inout SeededRandom, glitch: Double, into out: inout [UInt8]) {
        if r.chance(glitch) {
            out += Array(r.pick(["01", "1.", ".5", "+1", "-", "1e", "1e+", "0x10", "1_000", "-01", "2.e3", "- 1", "1ee2"]).utf8)
            return
        }
        var s = ""
        if r.chance(0.3) { s += "-" }
        if r.chance(0.3) {
            s += "0"
        } else {
            s += String(r.int(1..<10))
            for _ in 0..<(r.chance(0.1) ? r.int(15..<30) : r.int(0..<5)) { s += String(r.int(0..<10)) }
        }
        if r.chance(0.3) {
            s += "."
            for _ in 0..<r.int(1..<(r.chance(0.1) ? 25 : 5)) { s += String(r.int(0..<10)) }
        }
        if r.chance(0.25) {
            s += r.pick(["e", "E"]) + r.pick(["", "+", "-"])
            s += r.chance(0.05) ? r.pick(["400", "9999", "0400", "00"]) : String(r.int(0..<30))
        }
        out += Array(s.utf8)
    }
}
