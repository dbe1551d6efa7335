/// Writes HTTP/1.1 heads and chunk framing into a buffer.
///
/// It never writes a byte that could end a line early: a field whose name is not a token or whose value
/// holds CR, LF or NUL is left out, and bytes of a method or target that do not belong there are
/// percent-encoded. Heads built from parsed messages never trigger either; the rules are a backstop
/// against header injection from other sources.
public enum HTTPSerializer {
    public static func writeRequestHead(
        method: String, target: String, headers: HTTPHeaders, into buffer: inout ByteBuffer
    ) {
        // One reservation for the whole head (" HTTP/1.1\r\n" is 11 bytes); only a method or target that
        // needs percent-encoding can outgrow it.
        buffer.reserveWritableBytes(method.utf8.count + 1 + target.utf8.count + 11 + encodedSize(of: headers))
        writeEscaped(method, into: &buffer, keeping: ASCII.isTokenChar)
        buffer.writeInteger(ASCII.space)
        writeEscaped(target, into: &buffer, keeping: ASCII.isVisible)
        buffer.writeString(" HTTP/1.1\r\n")
        writeFieldLines(headers, into: &buffer)
    }

    /// "HTTP/1.1 <status> <standard reason>", the fields, the empty line.
    public static func writeResponseHead(status: Int, headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        writeResponseHead(status: status, headers: headers, preformatted: [], into: &buffer)
    }

    /// "HTTP/1.1 <status> <reason>", the fields, then `preformatted` — field lines made once by
    /// `preformattedFields` (the configuration's fixed headers) and copied as they are — and the empty line.
    public static func writeResponseHead(
        status: Int, headers: HTTPHeaders, preformatted: [UInt8], into buffer: inout ByteBuffer
    ) {
        let reason = reasonPhrase(status)
        // "HTTP/1.1 " 9, three digits, a space, the reason, CRLF: the head is reserved once.
        buffer.reserveWritableBytes(9 + 4 + reason.utf8.count + 2 + encodedSize(of: headers) + preformatted.count)
        buffer.writeString("HTTP/1.1 ")
        let code = min(max(status, 0), 999)
        buffer.writeInteger(UInt8(0x30 + code / 100))
        buffer.writeInteger(UInt8(0x30 + code / 10 % 10))
        buffer.writeInteger(UInt8(0x30 + code % 10))
        buffer.writeInteger(ASCII.space)
        buffer.writeString(reason)
        buffer.writeString("\r\n")
        for i in headers.fields.indices {
            writeField(name: headers.fields[i].name, value: headers.fields[i].value, into: &buffer)
        }
        if !preformatted.isEmpty { buffer.writeBytes(preformatted) }
        buffer.writeInteger(ASCII.cr)
        buffer.writeInteger(ASCII.lf)
    }

    /// The field lines of `headers` ("name: value\r\n" each, invalid fields left out as everywhere here)
    /// without the empty line: a block written once per configuration and copied into every head.
    public static func preformattedFields(_ headers: HTTPHeaders) -> [UInt8] {
        var buffer = ByteBuffer()
        writeFields(headers, into: &buffer)
        return Array(buffer.readableBytesView.dropLast(2))
    }

    /// One chunk: size in hex, CRLF, the bytes, CRLF. Nothing for an empty collection (an empty chunk
    /// would end the body).
    public static func writeChunk<C: Collection>(_ bytes: C, into buffer: inout ByteBuffer) where C.Element == UInt8 {
        let count = bytes.count
        guard count > 0 else { return }
        writeHex(count, into: &buffer)
        buffer.writeString("\r\n")
        buffer.writeBytes(bytes)
        buffer.writeString("\r\n")
    }

    /// The last chunk and an empty trailer section: "0\r\n\r\n".
    public static func writeLastChunk(into buffer: inout ByteBuffer) {
        buffer.writeString("0\r\n\r\n")
    }

    /// The last chunk followed by `trailers`.
    public static func writeLastChunk(trailers: HTTPHeaders, into buffer: inout ByteBuffer) {
        buffer.reserveWritableBytes(3 + encodedSize(of: trailers))
        buffer.writeString("0\r\n")
        writeFieldLines(trailers, into: &buffer)
    }

    /// The field lines and the empty line that ends a head.
    public static func writeFields(_ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        buffer.reserveWritableBytes(encodedSize(of: headers))
        writeFieldLines(headers, into: &buffer)
    }

    /// The bytes `writeFieldLines` writes when every field is valid: "name: value\r\n" per field and the
    /// final CRLF (UTF-8 counts of native strings are stored, so this is a walk over the array only).
    static func encodedSize(of headers: HTTPHeaders) -> Int {
        var size = 2
        for i in headers.fields.indices {
            size += headers.fields[i].name.utf8.count + headers.fields[i].value.utf8.count + 4
        }
        return size
    }

    /// Writes each field straight from the strings' UTF-8 into `buffer` (no intermediate string or array),
    /// then the empty line. Expects the caller to have reserved `encodedSize(of:)`.
    static func writeFieldLines(_ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        for i in headers.fields.indices {
            writeField(name: headers.fields[i].name, value: headers.fields[i].value, into: &buffer)
        }
        buffer.writeInteger(ASCII.cr)
        buffer.writeInteger(ASCII.lf)
    }

    private static func writeField(name: String, value: String, into buffer: inout ByteBuffer) {
        let isWritten =
            name.utf8.withContiguousStorageIfAvailable { name in
                value.utf8.withContiguousStorageIfAvailable { value in
                    writeField(nameBytes: name, valueBytes: value, into: &buffer)
                    return true
                } ?? false
            } ?? false
        if !isWritten {
            // Only strings without contiguous UTF-8 (bridged ones) get here: `withUTF8` makes them native.
            var name = name
            var value = value
            name.withUTF8 { name in
                value.withUTF8 { value in writeField(nameBytes: name, valueBytes: value, into: &buffer) }
            }
        }
    }

    /// "name: value\r\n", or nothing when the name is not a token or the value holds CR, LF or NUL.
    private static func writeField(
        nameBytes name: UnsafeBufferPointer<UInt8>, valueBytes value: UnsafeBufferPointer<UInt8>,
        into buffer: inout ByteBuffer
    ) {
        guard !name.isEmpty, name.allSatisfy(ASCII.isTokenChar),
            !value.contains(where: { $0 == ASCII.cr || $0 == ASCII.lf || $0 == 0 })
        else { return }
        buffer.writeBytes(name)
        buffer.writeInteger(ASCII.colon)
        buffer.writeInteger(ASCII.space)
        buffer.writeBytes(value)
        buffer.writeInteger(ASCII.cr)
        buffer.writeInteger(ASCII.lf)
    }

    /// The standard reason phrase (RFC 9110 §15), or "Unknown".
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 102: "Processing"
        case 103: "Early Hints"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 207: "Multi-Status"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 407: "Proxy Authentication Required"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 425: "Too Early"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Unknown"
        }
    }

    private static func writeEscaped(_ s: String, into buffer: inout ByteBuffer, keeping isAllowed: (UInt8) -> Bool) {
        if s.utf8.allSatisfy(isAllowed) {
            buffer.writeString(s)
            return
        }
        for b in s.utf8 {
            if isAllowed(b) {
                buffer.writeInteger(b)
            } else {
                buffer.writeInteger(UInt8(ascii: "%"))
                buffer.writeInteger(hexDigits[Int(b >> 4)])
                buffer.writeInteger(hexDigits[Int(b & 0xF)])
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    private static func writeHex(_ n: Int, into buffer: inout ByteBuffer) {
        var shift = (Int.bitWidth - n.leadingZeroBitCount + 3) / 4 * 4 - 4
        while shift >= 0 {
            buffer.writeInteger(hexDigits[(n >> shift) & 0xF])
            shift -= 4
        }
    }
}
