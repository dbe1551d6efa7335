import Foundation
import GatehouseTOML
import XCTest

/// Hand-written cases for what the configuration layer relies on: the contract's example, line
/// numbers of keys and tables, arrays of tables, inline tables, scalars, error positions, limits.
final class TOMLReaderTests: XCTestCase {
    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> TOMLTable {
        do {
            return try TOMLReader.parse(text)
        } catch {
            XCTFail("refused: \(error)", file: file, line: line)
            throw error
        }
    }

    func refusal(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> TOMLError? {
        do {
            let table = try TOMLReader.parse(text)
            XCTFail("accepted: \(table)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func table(_ value: TOMLValue?, file: StaticString = #filePath, line: UInt = #line) throws -> TOMLTable {
        try XCTUnwrap(value?.tableValue, "not a table: \(String(describing: value))", file: file, line: line)
    }

    // MARK: - The contract's configuration

    func testProductExampleParses() throws {
        let root = try parse(Self.productExample)
        XCTAssertEqual(
            root.keys,
            [
                "server", "tls", "upstream", "auth", "authorization", "rate_limit", "cors", "headers", "mcp", "logging",
                "admin", "rest",
            ])
        let server = try table(root["server"])
        XCTAssertEqual(server["listen"], .string("0.0.0.0:8443"))
        XCTAssertEqual(server["workers"], .integer(0))
        XCTAssertEqual(server["max_body_bytes"], .string("1MiB"))
        XCTAssertEqual(server["trusted_proxies"], .array([]))
        XCTAssertEqual(server.line, 1)
        XCTAssertEqual(server.line(of: "listen"), 2)
        XCTAssertEqual(root.line(of: "server"), 1)

        let tls = try table(root["tls"])
        XCTAssertEqual(tls["require_https"], .boolean(true))
        XCTAssertEqual(tls["ciphers"]?.stringValue?.hasPrefix("ECDHE+AESGCM:"), true)

        let auth = try table(root["auth"])
        XCTAssertEqual(auth["methods"], .array([.string("api_key"), .string("jwt"), .string("mtls")]))
        XCTAssertEqual(auth["default_api_key_permissions"], .array([.string("*")]))
        let keys = try XCTUnwrap(auth["api_key"]?.arrayValue)
        XCTAssertEqual(keys.count, 1)
        let ciBot = try table(keys.first)
        XCTAssertEqual(ciBot["name"], .string("ci-bot"))
        XCTAssertEqual(ciBot["hash"], .string("sha256:…"))
        XCTAssertEqual(ciBot["permissions"], .array([.string("tools:call")]))
        XCTAssertEqual(ciBot.line, 38)
        XCTAssertEqual(ciBot.line(of: "permissions"), 41)
        XCTAssertEqual(auth.line(of: "api_key"), 38)
        let jwt = try table(auth["jwt"])
        XCTAssertEqual(jwt["algorithms"], .array([.string("HS256")]))
        XCTAssertEqual(jwt.line, 43)
        XCTAssertEqual(auth.line(of: "jwt"), 43)
        XCTAssertEqual(try table(auth["oauth"])["authorization_servers"], .array([]))

        let authorization = try table(root["authorization"])
        let rules = try XCTUnwrap(authorization["rules"]?.arrayValue)
        XCTAssertEqual(rules.count, 3)
        let first = try table(rules.first)
        XCTAssertEqual(first["match"], .string("tools/call:delete_*"))
        XCTAssertEqual(first["require"], .array([.string("admin")]))
        XCTAssertEqual(first.line, 62)
        XCTAssertEqual(try table(rules.last)["require"], .array([]))
        XCTAssertEqual(authorization.line(of: "rules"), 61)
        XCTAssertEqual(authorization["filter_tools_list"], .boolean(true))

        let headers = try table(root["headers"])
        XCTAssertEqual(headers["X-Frame-Options"], .string("DENY"))
        XCTAssertEqual(headers.line(of: "Referrer-Policy"), 88)

        let mcp = try table(root["mcp"])
        XCTAssertEqual(mcp["tool_timeouts"], .table(TOMLTable()))
        XCTAssertEqual(mcp["tool_name_pattern"], .string("^[a-zA-Z0-9_-]+$"))
        XCTAssertEqual(mcp["max_json_depth"], .integer(64))
        XCTAssertEqual(try table(root["rest"])["path"], .string("/execute"))
    }

    /// The example block of PRODUCT.md §2 itself, when the shared spec sits beside the repository.
    func testProductSpecificationExampleParses() throws {
        let specification = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("../shared/spec/PRODUCT.md")
        guard let text = try? String(contentsOf: specification, encoding: .utf8) else {
            throw XCTSkip("no PRODUCT.md beside the repository")
        }
        let blocks = text.components(separatedBy: "```toml\n").dropFirst()
        let example = try XCTUnwrap(blocks.first?.components(separatedBy: "```").first)
        let root = try parse(example)
        XCTAssertNotNil(root["server"]?.tableValue?["listen"])
    }

    // MARK: - Line numbers

    func testLinesOfKeysAndHeaders() throws {
        let root = try parse(
            """
            # a comment
            [server]
            listen = "127.0.0.1:8080"

            workers = 4
            [auth.jwt]
            secret = "s"

            [auth]
            api_keys = []
            """)
        XCTAssertEqual(root.line, 0)
        XCTAssertEqual(root.line(of: "server"), 2)
        let server = try table(root["server"])
        XCTAssertEqual(server.line, 2)
        XCTAssertEqual(server.line(of: "listen"), 3)
        XCTAssertEqual(server.line(of: "workers"), 5)
        XCTAssertNil(server.line(of: "missing"))
        // `auth` was first created by [auth.jwt], then defined by its own header.
        XCTAssertEqual(root.line(of: "auth"), 9)
        let auth = try table(root["auth"])
        XCTAssertEqual(auth.line, 9)
        XCTAssertEqual(auth.line(of: "jwt"), 6)
        XCTAssertEqual(auth.line(of: "api_keys"), 10)
        XCTAssertEqual(try table(auth["jwt"]).line(of: "secret"), 7)
    }

    func testLinesOfDottedKeys() throws {
        let root = try parse(
            """
            a.b.c = 1
            a.b.d = 2
            a.e = 3
            [server]
            tls.cert = "c"

            tls.key = "k"
            """)
        XCTAssertEqual(root.line(of: "a"), 1)
        let a = try table(root["a"])
        XCTAssertEqual(a.line, 1)
        XCTAssertEqual(a.line(of: "b"), 1)
        XCTAssertEqual(a.line(of: "e"), 3)
        let b = try table(a["b"])
        XCTAssertEqual(b.keys, ["c", "d"])
        XCTAssertEqual(b.line(of: "d"), 2)
        let tls = try table(try table(root["server"])["tls"])
        XCTAssertEqual(tls.line, 5)
        XCTAssertEqual(try table(root["server"]).line(of: "tls"), 5)
        XCTAssertEqual(tls.line(of: "key"), 7)
    }

    func testMultilineValuesTakeTheLineOfTheirKey() throws {
        let root = try parse(
            """
            text = \"\"\"
            one
            two\"\"\"
            list = [
              1,
              2,
            ]
            after = true
            """)
        XCTAssertEqual(root["text"], .string("one\ntwo"))
        XCTAssertEqual(root.line(of: "text"), 1)
        XCTAssertEqual(root.line(of: "list"), 4)
        XCTAssertEqual(root.line(of: "after"), 8)
    }

    // MARK: - Arrays of tables and inline tables

    func testArraysOfTables() throws {
        let root = try parse(
            """
            [[auth.api_key]]
            name = "a"
            [[auth.api_key]]
            name = "b"
            permissions = ["tools:call"]

            [auth]
            methods = ["api_key"]
            """)
        let auth = try table(root["auth"])
        XCTAssertEqual(auth.keys, ["api_key", "methods"])
        XCTAssertEqual(auth.line(of: "api_key"), 1)
        let keys = try XCTUnwrap(auth["api_key"]?.arrayValue)
        XCTAssertEqual(keys.count, 2)
        XCTAssertEqual(try table(keys[0]).line, 1)
        XCTAssertEqual(try table(keys[0])["name"], .string("a"))
        XCTAssertEqual(try table(keys[1]).line, 3)
        XCTAssertEqual(try table(keys[1]).line(of: "permissions"), 5)
    }

    func testNestedArraysOfTablesGoToTheLastElement() throws {
        let root = try parse(
            """
            [[fruits]]
            name = "apple"
            [fruits.physical]
            color = "red"
            [[fruits.varieties]]
            name = "red delicious"
            [[fruits.varieties]]
            name = "granny smith"
            [[fruits]]
            name = "banana"
            [[fruits.varieties]]
            name = "plantain"
            """)
        let fruits = try XCTUnwrap(root["fruits"]?.arrayValue)
        XCTAssertEqual(fruits.count, 2)
        let apple = try table(fruits[0])
        XCTAssertEqual(try table(apple["physical"])["color"], .string("red"))
        XCTAssertEqual(apple["varieties"]?.arrayValue?.count, 2)
        let banana = try table(fruits[1])
        XCTAssertEqual(banana["varieties"], .array([.table(try parse("name = \"plantain\""))]))
    }

    func testInlineTables() throws {
        let root = try parse(
            """
            [authorization]
            rules = [
              { match = "tools/call:delete_*", require = ["admin"] },
              { match = "*",   require = [] },
            ]
            [mcp]
            tool_timeouts = { long_job = "300s", "quoted key" = "1s", nested.deep = 1 }
            empty = {}
            """)
        let rules = try XCTUnwrap(try table(root["authorization"])["rules"]?.arrayValue)
        XCTAssertEqual(try table(rules[0]).line, 3)
        XCTAssertEqual(try table(rules[1]).line(of: "require"), 4)
        let mcp = try table(root["mcp"])
        let timeouts = try table(mcp["tool_timeouts"])
        XCTAssertEqual(timeouts.keys, ["long_job", "quoted key", "nested"])
        XCTAssertEqual(timeouts.line, 7)
        XCTAssertEqual(timeouts.line(of: "long_job"), 7)
        XCTAssertEqual(try table(timeouts["nested"])["deep"], .integer(1))
        XCTAssertEqual(mcp["empty"], .table(TOMLTable()))
    }

    func testInlineTablesAreCompleteAsWritten() throws {
        XCTAssertEqual(refusal("a = {b = 1}\n[a]")?.message, "table 'a' is already defined as an inline table")
        XCTAssertEqual(refusal("a = {b = 1}\n[a.c]")?.message, "inline table 'a' cannot be extended")
        XCTAssertEqual(refusal("a = {b = 1}\na.c = 2")?.message, "inline table 'a' cannot be extended")
        XCTAssertEqual(refusal("a = {b = 1, }")?.message, "a trailing comma is not allowed in an inline table")
        XCTAssertEqual(refusal("a = {b = 1,\nc = 2}")?.message, "newlines are not allowed in an inline table")
        XCTAssertEqual(refusal("a = {b = 1, b = 2}")?.message, "duplicate key 'b'")
    }

    func testTableRedefinitionRules() throws {
        XCTAssertEqual(refusal("[a]\n[a]")?.message, "table 'a' is already defined")
        XCTAssertEqual(refusal("[a]\nb.c = 1\n[a.b]")?.message, "table 'a.b' is already defined by dotted keys")
        XCTAssertEqual(
            refusal("[a.b.c]\n[a]\nb.c.d = 1")?.message,
            "table 'a.b.c' is defined by a [header]; dotted keys cannot add to it")
        XCTAssertEqual(
            refusal("[[a]]\n[a]")?.message, "'a' is already an array of tables")
        XCTAssertEqual(
            refusal("a = []\n[[a]]")?.message, "'a' is an array value; it cannot be extended by [[a]]")
        XCTAssertEqual(refusal("a = 1\n[a.b]")?.message, "key 'a' is already defined as an integer")
        // Allowed: a header adding a sub-table to a table made by dotted keys, a super-table defined
        // after its sub-table, dotted keys into a table only implied by a header.
        XCTAssertNoThrow(try parse("[fruit]\napple.color = 1\n[fruit.apple.texture]\nsmooth = true"))
        XCTAssertNoThrow(try parse("[x.y.z]\n[x]\na = 1"))
        let root = try parse("[a.b.c]\n[a]\nb.d = 1")
        XCTAssertEqual(root["a"]?.tableValue?["b"]?.tableValue?.keys, ["c", "d"])
        XCTAssertEqual(
            refusal("[a.b.c]\n[a]\nb.d = 1\n[a.b]")?.message, "table 'a.b' is already defined by dotted keys")
    }

    // MARK: - Scalars

    func testIntegers() throws {
        let root = try parse(
            """
            decimal = +1_000
            negative = -17
            hex = 0xDEAD_beef
            octal = 0o755
            binary = 0b1101
            largest = 9223372036854775807
            smallest = -9223372036854775808
            largestHex = 0x7FFFFFFFFFFFFFFF
            """)
        XCTAssertEqual(root["decimal"], .integer(1000))
        XCTAssertEqual(root["negative"], .integer(-17))
        XCTAssertEqual(root["hex"], .integer(0xDEAD_BEEF))
        XCTAssertEqual(root["octal"], .integer(0o755))
        XCTAssertEqual(root["binary"], .integer(13))
        XCTAssertEqual(root["largest"], .integer(.max))
        XCTAssertEqual(root["smallest"], .integer(.min))
        XCTAssertEqual(root["largestHex"], .integer(.max))
        for overflow in [
            "9223372036854775808", "-9223372036854775809", "0x8000000000000000", "0o1777777777777777777777",
            "99999999999999999999999999",
        ] {
            XCTAssertEqual(
                refusal("n = \(overflow)")?.message, "integer (\(overflow.count) characters, not shown) does not fit in 64 bits")
        }
        XCTAssertEqual(refusal("n = 012")?.message, "leading zeros are not allowed in (3 characters, not shown)")
        XCTAssertEqual(
            refusal("n = -0x1")?.message, "a sign is not allowed before a hexadecimal, octal or binary integer")
    }

    func testFloats() throws {
        let root = try parse(
            """
            a = 3.14
            b = -0.0
            c = 5e+22
            d = 6.626e-34
            e = 1_000.000_1
            f = inf
            g = -inf
            h = nan
            i = 5e-324
            """)
        XCTAssertEqual(root["a"], .float(3.14))
        XCTAssertEqual(root["b"]?.floatValue?.sign, .minus)
        XCTAssertEqual(root["c"], .float(5e22))
        XCTAssertEqual(root["d"], .float(6.626e-34))
        XCTAssertEqual(root["e"], .float(1000.0001))
        XCTAssertEqual(root["f"], .float(.infinity))
        XCTAssertEqual(root["g"], .float(-.infinity))
        XCTAssertEqual(root["h"]?.floatValue?.isNaN, true)
        XCTAssertEqual(root["i"], .float(.leastNonzeroMagnitude))
        XCTAssertEqual(refusal("x = 1e400")?.message, "float (5 characters, not shown) is out of range")
        XCTAssertEqual(refusal("x = 1.")?.message, "expected a digit in (2 characters, not shown)")
    }

    func testStrings() throws {
        let root = try parse(
            #"""
            basic = "tab\there \"quoted\" \\ \u00e9 \U0001F600"
            literal = 'C:\Users\no escapes'
            multi = """
            Roses are red\r
            Violets are blue"""
            folded = """\
                   The quick \
                   brown fox.\
                   """
            quotes = """two quotes at the end"""""
            rawMulti = '''
            first line
            'single' quoted'''
            """#)
        XCTAssertEqual(root["basic"], .string("tab\there \"quoted\" \\ é 😀"))
        XCTAssertEqual(root["literal"], .string(#"C:\Users\no escapes"#))
        XCTAssertEqual(root["multi"], .string("Roses are red\r\nViolets are blue"))
        XCTAssertEqual(root["folded"], .string("The quick brown fox."))
        XCTAssertEqual(root["quotes"], .string("two quotes at the end\"\""))
        XCTAssertEqual(root["rawMulti"], .string("first line\n'single' quoted"))
    }

    func testCRLFInsideMultilineStringsBecomesLF() throws {
        let root = try TOMLReader.parse("s = \"\"\"\r\none\r\ntwo\"\"\"\r\nt = '''a\r\nb'''\r\n")
        XCTAssertEqual(root["s"], .string("one\ntwo"))
        XCTAssertEqual(root["t"], .string("a\nb"))
    }

    func testDateTimes() throws {
        let root = try parse(
            """
            odt1 = 1979-05-27T07:32:00Z
            odt2 = 1979-05-27 00:32:00.999999-07:00
            odt3 = 1979-05-27t07:32:00z
            ldt = 1979-05-27 07:32:00
            ld = 2000-02-29 # a comment after a date
            lt = 23:59:60.5
            """)
        XCTAssertEqual(root["odt1"], .offsetDateTime("1979-05-27T07:32:00Z"))
        XCTAssertEqual(root["odt2"], .offsetDateTime("1979-05-27T00:32:00.999999-07:00"))
        XCTAssertEqual(root["odt3"], .offsetDateTime("1979-05-27T07:32:00z"))
        XCTAssertEqual(root["ldt"], .localDateTime("1979-05-27T07:32:00"))
        XCTAssertEqual(root["ld"], .localDate("2000-02-29"))
        XCTAssertEqual(root["lt"], .localTime("23:59:60.5"))
        XCTAssertNotNil(refusal("d = 1900-02-29"))
        XCTAssertNotNil(refusal("d = 2023-04-31"))
        XCTAssertNotNil(refusal("d = 2023-01-01T12:00:00+24:00"))
        XCTAssertNotNil(refusal("d = 12:00"))
    }

    // MARK: - Errors and their positions

    func testErrorPositions() throws {
        let unterminated = try XCTUnwrap(refusal("a = 1\nb = \"open\n"))
        XCTAssertEqual(unterminated, TOMLError(line: 2, column: 5, message: "unterminated string"))
        XCTAssertEqual(unterminated.description, "line 2, column 5: unterminated string")

        let duplicate = try XCTUnwrap(refusal("[server]\nlisten = 1\n  listen = 2"))
        XCTAssertEqual(duplicate, TOMLError(line: 3, column: 3, message: "duplicate key 'server.listen'"))

        // Columns count characters, not bytes; a byte order mark is not a column.
        XCTAssertEqual(refusal("s = \"μμ\" x")?.column, 10)
        XCTAssertEqual(refusal("\u{FEFF}x = @").map { [$0.line, $0.column] }, [1, 5])
        XCTAssertEqual(refusal("a = 1\r\nb = @").map { [$0.line, $0.column] }, [2, 5])
        XCTAssertEqual(refusal("a = [1,\n"), TOMLError(line: 1, column: 5, message: "unterminated array"))
        XCTAssertEqual(refusal("a = ")?.message, "expected a value, found end of file")
        XCTAssertEqual(refusal("a = 1 b = 2")?.message, "expected a newline or a comment, found 'b'")
        // A bare value may be a secret written without quotes: the message never repeats it.
        XCTAssertEqual(refusal("a = value")?.message, "invalid value (5 characters, not shown) (strings must be quoted)")
        XCTAssertEqual(refusal("a = \"\\q\"")?.message, "invalid escape sequence '\\q'")
        XCTAssertEqual(refusal("a = \"\\uD800\"")?.message, "escape U+D800 is not a Unicode scalar value")
        XCTAssertEqual(refusal("a = 1 # \u{7}bell")?.message, "control character U+0007 in a comment")
        XCTAssertEqual(refusal("a = \"\u{1}\"")?.message, "control character U+0001 must be escaped in a string")
        XCTAssertEqual(refusal("a = 1\rb = 2")?.message, "carriage return without a line feed")
        XCTAssertEqual(refusal("\"\"\"k\"\"\" = 1")?.message, "a multi-line string cannot be a key")
    }

    func testInvalidUTF8IsRefusedWhereItStands() throws {
        let error = try XCTUnwrap(refusal(bytes: Array("a = 1\n# ok\nb = \"x".utf8) + [0xC3, 0x28, 0x22]))
        XCTAssertEqual(error, TOMLError(line: 3, column: 7, message: "invalid UTF-8"))
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF]] {
            XCTAssertEqual(refusal(bytes: Array("# ".utf8) + bad)?.message, "invalid UTF-8")
        }
        XCTAssertEqual(try TOMLReader.parse([0xEF, 0xBB, 0xBF] + Array("a = 1".utf8))["a"], .integer(1))
    }

    func refusal(bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> TOMLError? {
        do {
            _ = try TOMLReader.parse(bytes)
            XCTFail("accepted", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Limits

    func testDeepNestingIsRefusedNotACrash() throws {
        let limit = TOMLReader.maximumNestingDepth
        XCTAssertNoThrow(
            try parse("a = " + String(repeating: "[", count: limit) + String(repeating: "]", count: limit)))
        let tooDeep = "a = " + String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        XCTAssertEqual(refusal(tooDeep)?.message, "nesting deeper than \(limit) levels")
        XCTAssertNotNil(refusal("a = " + String(repeating: "[", count: 200_000)))
        XCTAssertNotNil(refusal("a = " + String(repeating: "{b=", count: 100_000)))
        XCTAssertNotNil(refusal("a = " + String(repeating: "[{b=", count: 100_000)))
        let longKey = Array(repeating: "k", count: 100_000).joined(separator: ".")
        XCTAssertNotNil(refusal("[\(longKey)]"))
        XCTAssertNotNil(refusal("[[\(longKey)]]"))
        XCTAssertNotNil(refusal("\(longKey) = 1"))
        XCTAssertNotNil(refusal("a = {\(longKey) = 1}"))
    }

    /// The deepest documents accepted must also fit in a small thread stack: the configuration may
    /// be read on any thread.
    func testDeepestAcceptedNestingFitsInASmallStack() throws {
        let limit = TOMLReader.maximumNestingDepth
        let documents = [
            "a = " + String(repeating: "[", count: limit) + String(repeating: "]", count: limit),
            "a = " + String(repeating: "{b=", count: limit) + "1" + String(repeating: "}", count: limit),
            "a = " + String(repeating: "[{b=", count: limit / 2) + "1" + String(repeating: "}]", count: limit / 2),
            "[" + Array(repeating: "k", count: limit).joined(separator: ".") + "]\nx = 1",
        ]
        let outcomes = OutcomeBox()
        let thread = Thread {
            for document in documents {
                do {
                    let table = try TOMLReader.parse(document)
                    outcomes.append(table == table ? "parsed" : "unequal")
                } catch {
                    outcomes.append("\(error)")
                }
            }
            outcomes.finish()
        }
        thread.stackSize = 1024 * 1024  // an eighth of the usual 8 MiB; debug builds use the most
        thread.start()
        outcomes.wait()
        XCTAssertEqual(outcomes.values, Array(repeating: "parsed", count: documents.count))
    }

    /// Collects results from another thread.
    final class OutcomeBox: @unchecked Sendable {
        private let lock = NSCondition()
        private var done = false
        private(set) var values: [String] = []

        func append(_ value: String) {
            lock.lock()
            values.append(value)
            lock.unlock()
        }

        func finish() {
            lock.lock()
            done = true
            lock.broadcast()
            lock.unlock()
        }

        func wait() {
            lock.lock()
            while !done { lock.wait() }
            lock.unlock()
        }
    }

    // MARK: - The value types

    func testTableEqualityIgnoresOrderAndLines() throws {
        XCTAssertEqual(try parse("a = 1\nb = [2]"), try parse("\n\nb = [ 2 ]\na = 1"))
        XCTAssertNotEqual(try parse("a = 1"), try parse("a = 2"))
        XCTAssertNotEqual(try parse("a = 1"), try parse("a = 1\nb = 1"))
    }

    func testBuildingTablesInCode() {
        var table = TOMLTable()
        XCTAssertTrue(table.isEmpty)
        table.setValue(.integer(1), forKey: "a", line: 3)
        table.setValue(.string("x"), forKey: "b")
        table.setValue(.integer(2), forKey: "a", line: 4)
        XCTAssertEqual(table.keys, ["a", "b"])
        XCTAssertEqual(table.count, 2)
        XCTAssertEqual(table["a"], .integer(2))
        XCTAssertEqual(table.line(of: "a"), 4)
        XCTAssertEqual(table.removeValue(forKey: "a"), .integer(2))
        XCTAssertNil(table.removeValue(forKey: "a"))
        XCTAssertEqual(table.keys, ["b"])
        XCTAssertEqual(TOMLTable(line: 7).line, 7)
    }

    func testValueAccessorsAndTypeNames() {
        XCTAssertEqual(TOMLValue.string("s").stringValue, "s")
        XCTAssertNil(TOMLValue.integer(1).stringValue)
        XCTAssertEqual(TOMLValue.integer(1).integerValue, 1)
        XCTAssertNil(TOMLValue.integer(1).floatValue)
        XCTAssertEqual(TOMLValue.boolean(true).booleanValue, true)
        XCTAssertEqual(TOMLValue.array([]).arrayValue, [])
        XCTAssertEqual(TOMLValue.table(TOMLTable()).tableValue, TOMLTable())
        XCTAssertEqual(
            [
                TOMLValue.string(""), .integer(0), .float(0), .boolean(false), .offsetDateTime(""), .localDateTime(""),
                .localDate(""), .localTime(""), .array([]), .table(TOMLTable()),
            ].map(\.typeName),
            [
                "string", "integer", "float", "boolean", "offset date-time", "local date-time", "local date",
                "local time",
                "array", "table",
            ])
    }

    /// The suite's comparison must itself notice differences, or its pass count means nothing.
    func testSuiteComparisonNoticesDifferences() {
        let integer: [String: Any] = ["type": "integer", "value": "2"]
        XCTAssertNil(TOMLTestSuiteTests.difference(.integer(2), integer, path: ""))
        XCTAssertNotNil(TOMLTestSuiteTests.difference(.integer(1), integer, path: ""))
        XCTAssertNotNil(TOMLTestSuiteTests.difference(.string("2"), integer, path: ""))
        XCTAssertNotNil(TOMLTestSuiteTests.difference(.table(TOMLTable()), ["a": integer], path: ""))
        XCTAssertNotNil(TOMLTestSuiteTests.difference(.array([.integer(2)]), [integer, integer], path: ""))
        let odt: [String: Any] = ["type": "datetime", "value": "1979-05-27T00:32:00.999-07:00"]
        XCTAssertNil(TOMLTestSuiteTests.difference(.offsetDateTime("1979-05-27T00:32:00.999999-07:00"), odt, path: ""))
        XCTAssertNotNil(TOMLTestSuiteTests.difference(.offsetDateTime("1979-05-27T00:32:01.999-07:00"), odt, path: ""))
        XCTAssertNotNil(TOMLTestSuiteTests.difference(.localDateTime("1979-05-27T00:32:00.999"), odt, path: ""))
    }

    // MARK: - The example of PRODUCT.md §2 (a copy: the file beside the repository may move)

    static let productExample = #"""
        [server]
        listen = "0.0.0.0:8443"         # default 0.0.0.0:8443 with TLS, 0.0.0.0:8080 without
        workers = 0                     # event-loop threads; 0 = one per CPU core
        max_connections = 10000         # beyond it new connections are closed at once
        max_header_bytes = 16384        # request head larger -> 431
        max_body_bytes = "1MiB"         # request body larger -> 413
        header_timeout = "10s"          # whole request head must arrive within it (slow clients) -> 408, close
        idle_timeout = "60s"            # keep-alive connection with no request
        trusted_proxies = []            # CIDRs whose X-Forwarded-For is believed for the client address
        public_url = ""                 # e.g. "https://mcp.example.com"; used in OAuth metadata and challenges

        [tls]
        cert = ""                       # PEM certificate chain; env MCP_TLS_CERT_PATH
        key = ""                        # PEM private key;       env MCP_TLS_KEY_PATH
        min_version = "1.2"             # "1.2" or "1.3"
        ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS"   # TLS 1.2 list
        require_https = true            # env MCP_REQUIRE_HTTPS; refuse to start without cert and key
        client_ca = ""                  # PEM CA bundle; enables client certificates (mTLS)
        client_auth = "off"             # "off" | "optional" | "require"; a verified certificate is a credential ("mtls")

        [upstream]
        url = "http://127.0.0.1:8000"   # the MCP server; env GATEHOUSE_UPSTREAM
        connect_timeout = "5s"
        response_timeout = "30s"        # to the first byte of the response; 504 after it
        max_idle_connections = 64       # keep-alive pool
        host_header = "upstream"        # "upstream": Host is the upstream's authority; "client": keep the client's
        forward_authorization = false   # MCP forbids token passthrough: the client's Authorization is removed
        forward_origin = false          # the Origin header is checked here and removed before forwarding
        identity_header = "X-Gatehouse-Principal"   # set to the authenticated principal on every forwarded request

        [auth]
        methods = ["api_key", "jwt", "mtls"]   # accepted credential kinds; a request needs one valid credential
                                        # ("mtls" counts only when tls.client_auth is not "off")
        api_keys = []                   # "sha256:<hex>" (preferred) or plain keys; env MCP_API_KEYS (comma-separated) adds to them
        api_keys_file = ""              # one key or hash per line, optional " name=… permissions=a,b"
        default_api_key_permissions = ["*"]

        [[auth.api_key]]                # optional named keys with their own permissions
        name = "ci-bot"
        hash = "sha256:…"
        permissions = ["tools:call"]

        [auth.jwt]
        secret = ""                     # HS256/384/512 key, ≥ 32 bytes; env MCP_JWT_SECRET; may be "enc:…" (§8)
        jwks_file = ""                  # RS/PS/ES/EdDSA public keys as a JWK Set
        jwks_url = ""                   # fetched at start and refreshed; https only (http on loopback)
        jwks_refresh = "10m"
        jwks_refetch_min_interval = "30s"  # a token with an unknown kid triggers a refetch, at most this often
        algorithms = ["HS256"]          # allow-list; "none" is never accepted
        issuer = ""                     # required "iss" when set
        audience = ""                   # required "aud" when set (RFC 8707 resource)
        leeway = "30s"                  # clock skew for exp/nbf/iat
        subject_claim = "sub"           # "user_id" is read when "sub" is absent
        permissions_claim = "permissions"  # array of strings; an OAuth "scope" string is read as well

        [auth.oauth]                    # optional: publish RFC 9728 Protected Resource Metadata
        authorization_servers = []      # non-empty enables /.well-known/oauth-protected-resource
        scopes_supported = []

        [authorization]                 # which permission a call needs; first matching rule wins
        rules = [
          { match = "tools/call:delete_*", require = ["admin"] },
          { match = "tools/call:*",        require = ["tools:call"] },
          { match = "*",                   require = [] },
        ]
        filter_tools_list = true        # tools/list answers show only the tools the caller may call

        [rate_limit]
        enabled = true
        capacity = 100                  # token bucket size (burst)
        refill_per_second = 10
        per = "ip"                      # "ip" (checked before auth) or "principal" (after auth)
        backend = "local"               # "local" (in process) or "redis" (shared by every replica)
        redis_url = ""                  # e.g. "redis://127.0.0.1:6379/0" with backend = "redis"
        max_tracked_clients = 100000    # memory bound; least recently seen buckets are evicted

        [cors]
        origins = ["http://localhost:3000", "https://localhost:3000"]   # env MCP_CORS_ORIGINS (comma-separated) replaces
        allow_credentials = false
        max_age = "10m"

        [headers]                       # added to every response; "" removes a default
        "X-Frame-Options" = "DENY"
        "X-Content-Type-Options" = "nosniff"
        "X-XSS-Protection" = "1; mode=block"
        "Strict-Transport-Security" = "max-age=31536000; includeSubDomains"   # only on HTTPS responses
        "Content-Security-Policy" = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; font-src 'self'; connect-src 'self'; frame-ancestors 'none';"
        "Referrer-Policy" = "strict-origin-when-cross-origin"

        [mcp]
        paths = ["/mcp"]                # where MCP messages are inspected (POST bodies); other paths are proxied after auth
        tool_name_pattern = "^[a-zA-Z0-9_-]+$"
        require_arguments = false       # true: tools/call without an "arguments" object is rejected
        call_timeout = "30s"            # default upstream timeout for tools/call, 1s..300s
        tool_timeouts = {}              # per tool, e.g. { long_job = "300s" }
        max_json_depth = 64
        allow_batches = true            # JSON-RPC arrays (2025-03-26); each element is checked
        sanitize = "off"                # "off" | "reject" | "escape" (§6.4)
        bind_sessions = true            # an Mcp-Session-Id is bound to the principal that created it
        pin_tools = "off"               # "off" | "warn" | "enforce": tool definitions changing after first sight (§6.7)
        pinned_tools_file = ""          # optional file of pinned tool digests; written by `gatehouse pin`

        [logging]
        security_log = "stdout"         # "stdout", "stderr", "off" or a file path (reopened on SIGHUP)
        access_log = "stdout"
        level = "info"

        [admin]
        listen = "127.0.0.1:9901"       # /healthz, /readyz, /metrics; "" disables

        [rest]                          # the seed's tool endpoint for clients that speak no MCP (§12)
        enabled = false
        path = "/execute"
        """#
}
