import FuzzSupport
import GatehouseTOML

/// libFuzzer target for `TOMLReader`. The input is a configuration file. Properties checked beyond
/// "no crash":
/// - an accepted file is valid UTF-8 and nests no deeper than `maximumNestingDepth`;
/// - the bytes and the text entry points agree;
/// - writing the parsed table back as TOML (every table inline, every string escaped) and reading that
///   gives an equal table (NaN counted equal to NaN).
@main
enum FuzzTOML {
    static func main() {
        FuzzDriver.run { input in
            let bytes = Array(input)
            let table: TOMLTable
            do throws(TOMLError) {
                table = try TOMLReader.parse(bytes)
            } catch {
                FuzzDriver.require(error.line >= 1 && error.column >= 1, "error position \(error.line):\(error.column)")
                return
            }
            var body = bytes[...]
            if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
            guard let text = String(validating: body, as: UTF8.self) else { FuzzDriver.fail("accepted invalid UTF-8") }
            guard let fromText = try? TOMLReader.parse(text) else { FuzzDriver.fail("text entry point refused") }
            FuzzDriver.require(same(.table(fromText), .table(table)), "text and bytes entry points disagree")

            var out = ""
            for key in table.keys {
                // `!`: the key comes from the table's own key list.
                out += quoted(key) + " = " + write(table[key]!) + "\n"
            }
            let again: TOMLTable
            do throws(TOMLError) {
                again = try TOMLReader.parse(out)
            } catch {
                if error.message.contains("nesting deeper") { return }  // inline nesting counts every level
                FuzzDriver.fail("re-written table refused: \(error)\n\(out)")
            }
            FuzzDriver.require(same(.table(again), .table(table)), "re-written table differs:\n\(out)")
        }
    }

    static func write(_ value: TOMLValue) -> String {
        switch value {
        case .string(let s): return quoted(s)
        case .integer(let n): return String(n)
        case .float(let x):
            if x.isNaN { return "nan" }
            if x.isInfinite { return x < 0 ? "-inf" : "inf" }
            let text = "\(x)"
            return text.contains(".") || text.contains("e") ? text : text + ".0"
        case .boolean(let b): return b ? "true" : "false"
        case .offsetDateTime(let t), .localDateTime(let t), .localDate(let t), .localTime(let t): return t
        case .array(let items): return "[" + items.map(write).joined(separator: ", ") + "]"
        case .table(let table):
            // `!`: the key comes from the table's own key list.
            return "{" + table.keys.map { quoted($0) + " = " + write(table[$0]!) }.joined(separator: ", ") + "}"
        }
    }

    /// A TOML basic string.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Equality with NaN equal to NaN (and -0.0 told apart from 0.0, which TOML writes differently).
    static func same(_ a: TOMLValue, _ b: TOMLValue) -> Bool {
        switch (a, b) {
        case (.float(let x), .float(let y)):
            return (x.isNaN && y.isNaN) || (x == y && x.sign == y.sign)
        case (.array(let xs), .array(let ys)):
            return xs.count == ys.count && zip(xs, ys).allSatisfy { same($0, $1) }
        case (.table(let x), .table(let y)):
            // `!`: the key comes from the table's own key list.
            return x.count == y.count && x.keys.allSatisfy { key in y[key].map { same(x[key]!, $0) } ?? false }
        default:
            return a == b
        }
    }
}
