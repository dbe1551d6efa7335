import GatehouseHTTP

/// One RESP2 reply from Redis. A null bulk string (`$-1`) and a null array (`*-1`) are both `.null`:
/// no caller needs to tell them apart.
public enum RedisValue: Sendable, Equatable {
    /// `+OK`: a status line.
    case simpleString(String)
    /// `-ERR …`: the server refused the command; the text starts with the error's code (`NOSCRIPT`, `WRONGPASS`).
    case error(String)
    case integer(Int64)
    /// `$n`: binary-safe bytes.
    case bulkString([UInt8])
    case null
    case array([RedisValue])

    /// The text of a simple string, or of a bulk string holding UTF-8.
    public var text: String? {
        switch self {
        case .simpleString(let s): return s
        case .bulkString(let b): return String(validating: b, as: UTF8.self)
        default: return nil
        }
    }

    /// The code of an error reply (`NOSCRIPT` of `NOSCRIPT No matching script`), nil for other values.
    public var errorCode: Substring? {
        guard case .error(let message) = self else { return nil }
        return message.prefix { $0 != " " }
    }
}

/// Writes commands in RESP2's request form: an array of bulk strings (`*2\r\n$4\r\nPING\r\n…`).
public enum RedisCommand {
    /// Appends one command to `buffer`.
    public static func write(_ arguments: [[UInt8]], into buffer: inout ByteBuffer) {
        writeHeader(UInt8(ascii: "*"), arguments.count, into: &buffer)
        for argument in arguments {
            writeHeader(UInt8(ascii: "$"), argument.count, into: &buffer)
            buffer.writeBytes(argument)
            buffer.writeInteger(13)
            buffer.writeInteger(10)
        }
    }

    /// The encoded bytes of one command whose arguments are text.
    public static func encode(_ arguments: [String]) -> [UInt8] {
        var buffer = ByteBuffer(capacity: 64)
        write(arguments.map { Array($0.utf8) }, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// `*<count>\r\n` or `$<length>\r\n` (the decimal text fits a small string: no allocation).
    private static func writeHeader(_ marker: UInt8, _ value: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(marker)
        buffer.writeString(String(value))
        buffer.writeInteger(13)
        buffer.writeInteger(10)
    }
}
