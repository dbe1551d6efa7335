/// The `auth.api_keys_file` format: one key per line, `<key or sha256:hex> [name=…] [permissions=a,b]`;
/// blank lines and lines starting with `#` are skipped.
enum APIKeyFile {
    /// One parsed line: the key as written, its optional name and permissions, and its line number.
    struct Line: Equatable {
        var text: String
        var name: String?
        var permissions: [String]?
        var number: Int
    }

    /// The lines of `bytes`; the error carries the 1-based line number.
    static func parse(_ bytes: [UInt8]) throws(APIKeyFileError) -> [Line] {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw APIKeyFileError(line: nil, message: "the file is not valid UTF-8")
        }
        var out: [Line] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            var entry = Line(text: String(first), name: nil, permissions: nil, number: number)
            for field in fields.dropFirst() {
                // A trailing comment ends the line.
                if field.hasPrefix("#") { break }
                guard let equals = field.firstIndex(of: "=") else {
                    throw APIKeyFileError(line: number, message: "expected name=… or permissions=…, found \"\(field)\"")
                }
                let value = String(field[field.index(after: equals)...])
                switch field[..<equals] {
                case "name":
                    guard entry.name == nil else { throw APIKeyFileError(line: number, message: "name given twice") }
                    guard APIKeyConfig.isValidName(value) else {
                        throw APIKeyFileError(line: number, message: "a key name must be visible ASCII without spaces")
                    }
                    entry.name = value
                case "permissions":
                    guard entry.permissions == nil else {
                        throw APIKeyFileError(line: number, message: "permissions given twice")
                    }
                    entry.permissions = value.split(separator: ",").map(String.init)
                case let other:
                    throw APIKeyFileError(
                        line: number, message: "unknown field \"\(other)\"; expected name or permissions")
                }
            }
            out.append(entry)
        }
        return out
    }
}

/// A refusal of the keys file, with the line it is on.
struct APIKeyFileError: Error {
    var line: Int?
    var message: String
}
