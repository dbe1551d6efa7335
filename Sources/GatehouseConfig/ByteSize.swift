/// Sizes as the configuration writes them: an integer of bytes, or a string `"16KiB"`, `"1MiB"`, `"1GiB"`, `"512B"`.
enum ByteSize {
    static let expected = "expected a size in bytes or like \"1MiB\""

    /// The byte count `text` names, or nil when it is not `<digits>[B|KiB|MiB|GiB]`.
    static func parse(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        var index = 0
        var number = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            guard index < 12 else { return nil }
            number = number * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard index > 0 else { return nil }
        switch String(decoding: bytes[index...], as: UTF8.self) {
        case "", "B": return number
        case "KiB": return number << 10
        case "MiB": return number << 20
        case "GiB": return number << 30
        default: return nil
        }
    }

    /// `"1MiB"` when the size is a whole number of a binary unit, else the plain byte count.
    static func format(_ size: Int) -> String {
        if size > 0, size % (1 << 30) == 0 { return "\(size >> 30)GiB" }
        if size > 0, size % (1 << 20) == 0 { return "\(size >> 20)MiB" }
        if size > 0, size % (1 << 10) == 0 { return "\(size >> 10)KiB" }
        return "\(size)"
    }
}
