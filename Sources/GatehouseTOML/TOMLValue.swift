/// A parsed TOML value.
///
/// Date-times keep their validated RFC 3339 text as written, with the date/time separator ('T', 't' or
/// a space) normalized to 'T'; the configuration layer decides what, if anything, to do with them.
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case offsetDateTime(String)
    case localDateTime(String)
    case localDate(String)
    case localTime(String)
    case array([TOMLValue])
    case table(TOMLTable)
}

extension TOMLValue {
    /// The name of the value's kind as an operator reads it, for messages such as
    /// "expected a string, found an integer".
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .offsetDateTime: "offset date-time"
        case .localDateTime: "local date-time"
        case .localDate: "local date"
        case .localTime: "local time"
        case .array: "array"
        case .table: "table"
        }
    }

    /// The string, when the value is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, when the value is one.
    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The float, when the value is one (an integer is not converted).
    public var floatValue: Double? {
        if case .float(let value) = self { return value }
        return nil
    }

    /// The boolean, when the value is one.
    public var booleanValue: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    /// The elements, when the value is an array (an array of tables included).
    public var arrayValue: [TOMLValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The table, when the value is one (an inline table included).
    public var tableValue: TOMLTable? {
        if case .table(let value) = self { return value }
        return nil
    }
}
