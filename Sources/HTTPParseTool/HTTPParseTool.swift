import GatehouseHTTP
import GatehouseJSON

#if canImport(Glibc)
    import Glibc
#endif

/// Test-only tool for the differential test against Python's h11 (tests/e2e/test_h11_differential.py):
/// reads one client byte stream per stdin line, in hex, parses it with `HTTPRequestParser` (contract
/// default limits) and prints one JSON line per stream:
/// `{"requests":[{"method","target","version","headers":[[name,value]…],"body":hex,"trailers":[…],
/// "complete":bool}…],"error":null|{"status","reason","smuggling"},"leftover":n}`.
@main
enum HTTPParseTool {
    static func main() {
        var output: [UInt8] = []
        while let line = readLine(strippingNewline: true) {
            guard let bytes = fromHex(line) else {
                print("{\"fatal\":\"not hex\"}")
                continue
            }
            JSONWriter.write(verdict(bytes), into: &output)
            output.append(0x0A)
            if output.count > 1 << 16 { flush(&output) }
        }
        flush(&output)
    }

    static func verdict(_ bytes: [UInt8]) -> JSONValue {
        var parser = HTTPRequestParser(limits: HTTPLimits())
        var buffer = ByteBuffer(bytes: bytes)
        var requests: [JSONObject] = []
        var body: [UInt8] = []
        var refusal: JSONValue = .null
        do {
            while let part = try parser.next(&buffer) {
                switch part {
                case .head(let head):
                    body = []
                    requests.append([
                        "method": .string(head.method), "target": .string(head.target),
                        "version": .string(head.version.description),
                        "headers": fields(head.headers), "body": "", "trailers": [], "complete": false,
                    ])
                case .body(let piece):
                    body.append(contentsOf: piece)
                    set(&requests, "body", .string(hex(body)))
                case .end(let trailers):
                    set(&requests, "trailers", fields(trailers))
                    set(&requests, "complete", .bool(true))
                }
            }
        } catch {
            refusal = [
                "status": .integer(error.status), "reason": .string(error.reason),
                "smuggling": .bool(error.isSmuggling),
            ]
        }
        return [
            "requests": .array(requests.map { .object($0) }), "error": refusal,
            "leftover": .integer(buffer.readableBytes),
        ]
    }

    static func set(_ requests: inout [JSONObject], _ key: String, _ value: JSONValue) {
        let last = requests.count - 1
        var members = requests[last].members.map { ($0.key, $0.value) }
        for i in members.indices where members[i].0 == key { members[i].1 = value }
        requests[last] = JSONObject(members)
    }

    static func fields(_ headers: HTTPHeaders) -> JSONValue {
        .array(headers.map { .array([.string($0.name), .string($0.value)]) })
    }

    static func flush(_ output: inout [UInt8]) {
        output.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(1, raw.baseAddress! + offset, raw.count - offset)  // `!`: count > 0 here.
                if n <= 0 { exit(1) }
                offset += n
            }
        }
        output.removeAll(keepingCapacity: true)
    }

    static func fromHex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
