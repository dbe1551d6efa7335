import GatehouseHTTP

/// A reply that breaks RESP2 or one of the parser's limits. The connection cannot find the next
/// reply's start after it, so it is closed.
public struct RedisProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { "Redis protocol error: \(message)" }
}

/// An incremental RESP2 reply decoder: `next` takes what is in the buffer, returns a reply once one is
/// complete and nil while it needs more bytes (swift-nio's decoders that say "need more"). Arrays are
/// built element by element as their bytes arrive, so a reply may be cut anywhere.
///
/// Everything is bounded (line length, bulk length, array count, nesting, bytes per reply): a broken
/// or hostile server makes it throw, never trap or grow without limit. After a throw the parser is
/// useless until `reset` (the connection is closed anyway).
public struct RedisReplyParser: Sendable {
    /// The bounds of one reply.
    public struct Limits: Sendable, Equatable {
        /// Bytes of a `+`, `-`, `:`, `$` or `*` line before its CRLF.
        public var maxLineLength = 64 * 1024
        /// Bytes of one bulk string.
        public var maxBulkLength = 1024 * 1024
        /// Elements of one array.
        public var maxArrayCount = 64 * 1024
        /// Arrays inside arrays.
        public var maxDepth = 8
        /// Bytes of one whole reply, nested elements included.
        public var maxReplyBytes = 4 * 1024 * 1024

        public init() {}
    }

    /// An array whose elements are still arriving.
    private struct OpenArray: Sendable {
        var remaining: Int
        var elements: [RedisValue]
    }

    public let limits: Limits
    /// Redis's own bulk ceiling (512 MiB), whatever the limits say: lengths stay far from `Int.max`.
    static let bulkLengthCeiling = 512 * 1024 * 1024
    private var openArrays: [OpenArray] = []
    /// Set after a `$n` line: the payload (and its CRLF) is awaited.
    private var pendingBulkLength: Int?
    /// Bytes of the current reply consumed so far.
    private var replyBytes = 0
    /// Bytes already searched for a CRLF without finding one (not searched again).
    private var scannedBytes = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// True between replies: nothing of a reply has been consumed.
    public var isIdle: Bool { openArrays.isEmpty && pendingBulkLength == nil && replyBytes == 0 }

    /// Forgets a partial reply (after an error or a new connection).
    public mutating func reset() {
        openArrays.removeAll()
        pendingBulkLength = nil
        replyBytes = 0
        scannedBytes = 0
    }

    /// The next complete reply, consuming its bytes from `buffer`; nil when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) throws(RedisProtocolError) -> RedisValue? {
        while true {
            var value: RedisValue
            if let length = pendingBulkLength {
                guard buffer.readableBytes >= length + 2 else { return nil }
                let bytes = Array(buffer.readSlice(length: length))
                let ending = buffer.readSlice(length: 2)
                guard ending.first == 13, ending.last == 10 else {
                    throw RedisProtocolError("a bulk string is not followed by CRLF")
                }
                pendingBulkLength = nil
                value = .bulkString(bytes)
            } else {
                guard let line = try readLine(&buffer) else { return nil }
                guard let marker = line.first else { throw RedisProtocolError("an empty line") }
                let payload = line.dropFirst()
                switch marker {
                case UInt8(ascii: "+"):
                    value = .simpleString(String(decoding: payload, as: UTF8.self))
                case UInt8(ascii: "-"):
                    value = .error(String(decoding: payload, as: UTF8.self))
                case UInt8(ascii: ":"):
                    value = .integer(try Self.integer(payload))
                case UInt8(ascii: "$"):
                    let length = try Self.integer(payload)
                    if length == -1 {
                        value = .null
                        break
                    }
                    guard length >= 0 else { throw RedisProtocolError("a negative bulk length \(length)") }
                    guard length <= min(limits.maxBulkLength, Self.bulkLengthCeiling) else {
                        throw RedisProtocolError("a bulk string of \(length) bytes (limit \(limits.maxBulkLength))")
                    }
                    try account(Int(length) + 2)
                    pendingBulkLength = Int(length)
                    continue
                case UInt8(ascii: "*"):
                    let count = try Self.integer(payload)
                    if count == -1 {
                        value = .null
                        break
                    }
                    guard count >= 0 else { throw RedisProtocolError("a negative array count \(count)") }
                    guard count <= limits.maxArrayCount else {
                        throw RedisProtocolError("an array of \(count) elements (limit \(limits.maxArrayCount))")
                    }
                    if count == 0 {
                        value = .array([])
                        break
                    }
                    guard openArrays.count < limits.maxDepth else {
                        throw RedisProtocolError("arrays nested deeper than \(limits.maxDepth)")
                    }
                    // Capacity grows with the elements that really arrive, not with the announced count.
                    var elements: [RedisValue] = []
                    elements.reserveCapacity(min(Int(count), 16))
                    openArrays.append(OpenArray(remaining: Int(count), elements: elements))
                    continue
                default:
                    throw RedisProtocolError("an unknown reply type byte \(marker)")
                }
            }
            // A value is complete: it ends the reply, or fills a slot of the innermost open array.
            while let last = openArrays.indices.last {
                openArrays[last].elements.append(value)
                openArrays[last].remaining -= 1
                guard openArrays[last].remaining == 0 else { break }
                value = .array(openArrays.removeLast().elements)
            }
            if openArrays.isEmpty {
                replyBytes = 0
                return value
            }
        }
    }

    /// The bytes of the next line without its CRLF, consumed; nil when its end has not arrived.
    private mutating func readLine(_ buffer: inout ByteBuffer) throws(RedisProtocolError) -> ArraySlice<UInt8>? {
        let available = buffer.readableBytes
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            var i = scannedBytes
            while i < bytes.count {
                if bytes[i] == 13 { return i }
                i += 1
            }
            return nil
        }
        guard let cr = found else {
            guard available <= limits.maxLineLength else {
                throw RedisProtocolError("a line longer than \(limits.maxLineLength) bytes")
            }
            scannedBytes = available
            return nil
        }
        guard cr <= limits.maxLineLength else {
            throw RedisProtocolError("a line longer than \(limits.maxLineLength) bytes")
        }
        guard cr + 1 < available else {
            // The CR is the last byte so far: look at it again once the next byte is in.
            scannedBytes = cr
            return nil
        }
        let lineFeed = buffer.withUnsafeReadableBytes { $0[cr + 1] }
        guard lineFeed == 10 else { throw RedisProtocolError("a CR not followed by LF") }
        try account(cr + 2)
        scannedBytes = 0
        let line = buffer.readSlice(length: cr)
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// Counts `count` more bytes of the current reply against `maxReplyBytes`.
    private mutating func account(_ count: Int) throws(RedisProtocolError) {
        guard count <= limits.maxReplyBytes - replyBytes else {
            throw RedisProtocolError("a reply larger than \(limits.maxReplyBytes) bytes")
        }
        replyBytes += count
    }

    /// A decimal integer as RESP writes it: an optional minus and 1 to 19 digits, no overflow.
    static func integer(_ text: ArraySlice<UInt8>) throws(RedisProtocolError) -> Int64 {
        var digits = text[...]
        let isNegative = digits.first == UInt8(ascii: "-")
        if isNegative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count <= 19 else { throw RedisProtocolError("a malformed integer") }
        var magnitude: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw RedisProtocolError("a malformed integer")
            }
            magnitude = magnitude * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        // 19 digits stay below UInt64.max; Int64.min's magnitude is one more than Int64.max.
        if isNegative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw RedisProtocolError("an integer out of range") }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw RedisProtocolError("an integer out of range") }
        return Int64(magnitude)
    }
}
