import Foundation
import GatehouseJSON
import XCTest

/// Differential test against Python's `json` module: the same documents, the same verdicts, the same
/// values.
///
/// Python is run as it reads a request body in the SDK servers (strict UTF-8 decode, then
/// `json.loads` of the text), with the gateway's documented extra refusals applied on its side and
/// counted separately, because there Python is knowingly laxer: duplicate keys (Python keeps the last,
/// the classic bypass), lone surrogates (Python keeps them), `NaN`/`Infinity` (Python extensions, not
/// JSON), and depth beyond 64. Values are compared through a canonical text: numbers by exact text,
/// by their correctly rounded double (bit pattern) and by their exact integer value; strings by UTF-8
/// bytes; members in order.
final class JSONDifferentialTests: XCTestCase {
    static let pythonScript = #"""
        import sys, json, struct
        from decimal import Decimal

        class Num:
            __slots__ = ("text",)
            def __init__(self, text): self.text = text
        class Obj:
            __slots__ = ("pairs",)
            def __init__(self, pairs): self.pairs = pairs
        class Refusal(Exception): pass

        def pairs_hook(pairs):
            seen = set()
            for k, _ in pairs:
                if k in seen: raise Refusal("dup")
                seen.add(k)
            return Obj(pairs)

        def constant(name): raise Refusal("constant")

        def double_bits(text):
            f = float(text)
            if f in (float("inf"), float("-inf")): return "none"
            return struct.pack(">d", f).hex()

        def exact_int(text):
            d = Decimal(text)
            if d < -2**63 or d >= 2**63: return "none"
            if d != d.to_integral_value(): return "none"
            return str(int(d))

        # depth: how many arrays and objects enclose v; a container inside 64 others is too deep.
        def canon(v, depth):
            if isinstance(v, (list, Obj)) and depth >= 64: raise Refusal("depth")
            if v is None: return "null"
            if v is True: return "true"
            if v is False: return "false"
            if isinstance(v, Num): return "n%s|%s|%s" % (v.text, double_bits(v.text), exact_int(v.text))
            if isinstance(v, str):
                try: return "s" + v.encode("utf-8").hex()
                except UnicodeEncodeError: raise Refusal("surrogate")
            if isinstance(v, list): return "[" + ",".join(canon(x, depth + 1) for x in v) + "]"
            if isinstance(v, Obj):
                return "{" + ",".join(canon(k, depth + 1) + ":" + canon(x, depth + 1) for k, x in v.pairs) + "}"
            raise Exception("unexpected type %r" % type(v))

        def verdict(doc):
            try: text = doc.decode("utf-8")
            except UnicodeDecodeError: return "reject utf8"
            try:
                v = json.loads(text, parse_float=Num, parse_int=Num, parse_constant=constant, object_pairs_hook=pairs_hook)
            except Refusal as e: return "reject " + str(e)
            except (ValueError, RecursionError): return "reject json"
            try: return "ok " + canon(v, 0)
            except Refusal as e: return "reject " + str(e)

        with open(sys.argv[1]) as f:
            for line in f:
                print(verdict(bytes.fromhex(line.strip())))
        """#

    /// The same canonical text as the Python side.
    static func canonical(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let text):
            let bits = Double(text).flatMap { $0.isFinite ? hex64($0.bitPattern) : nil } ?? "none"
            return "n\(text)|\(bits)|\(v.intValue.map(String.init) ?? "none")"
        case .string(let s): return "s" + s.utf8.map { hex2($0) }.joined()
        case .array(let a): return "[" + a.map(canonical).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.members.map { canonical(.string($0.key)) + ":" + canonical($0.value) }.joined(separator: ",") + "}"
        }
    }

    private static func hex2(_ b: UInt8) -> String {
        let s = String(b, radix: 16)
        return s.count == 1 ? "0" + s : s
    }

    private static func hex64(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Runs the Python side over `documents` and returns one verdict line per document.
    private func pythonVerdicts(_ documents: [[UInt8]]) throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-json-diff-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("verdict.py")
        let input = dir.appendingPathComponent("documents.hex")
        try Self.pythonScript.write(to: script, atomically: true, encoding: .utf8)
        let lines = documents.map { $0.map { Self.hex2($0) }.joined() }.joined(separator: "\n") + "\n"
        try lines.write(to: input, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, input.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python3 failed")
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)
    }

    func testAgreesWithPythonOnGeneratedDocuments() throws {
        var random = SeededRandom(seed: 0x6A7E_4005)
        var documents: [[UInt8]] = []
        for _ in 0..<1500 { documents.append(DocumentGenerator.validDocument(using: &random)) }
        for _ in 0..<1500 { documents.append(DocumentGenerator.glitchedDocument(using: &random)) }
        for _ in 0..<1500 {
            let base = DocumentGenerator.validDocument(using: &random)
            documents.append(DocumentGenerator.mutate(base, using: &random))
        }
        let verdicts = try pythonVerdicts(documents)
        XCTAssertEqual(verdicts.count, documents.count)
        guard verdicts.count == documents.count else { return }

        var tally: [String: Int] = [:]
        var disagreements = 0
        for (doc, python) in zip(documents, verdicts) {
            let kind = python.hasPrefix("ok ") ? "ok" : python
            tally[kind, default: 0] += 1
            let ours = TestSupport.read(doc)
            switch ours {
            case .success(let v):
                let mine = "ok " + Self.canonical(v)
                if mine != python {
                    disagreements += 1
                    if disagreements <= 10 {
                        XCTFail("\(String(decoding: doc, as: UTF8.self).debugDescription) gateway: \(mine) python: \(python)")
                    }
                }
            case .failure(let e):
                if python.hasPrefix("ok ") {
                    disagreements += 1
                    if disagreements <= 10 {
                        XCTFail("\(String(decoding: doc, as: UTF8.self).debugDescription) gateway refused (\(e)), python: \(python)")
                    }
                }
            }
        }
        XCTAssertEqual(disagreements, 0)
        // The corpus must exercise both sides and each documented difference.
        print("differential verdicts:", tally.sorted { $0.key < $1.key })
        XCTAssertGreaterThan(tally["ok", default: 0], 1500)
        for kind in ["reject json", "reject utf8", "reject dup", "reject surrogate", "reject depth", "reject constant"] {
            XCTAssertGreaterThan(tally[kind, default: 0], 0, "no document of kind \(kind)")
        }
    }

    /// The JSONTestSuite's y_ and n_ files through the same harness: Python (with the documented
    /// refusals) and the gateway agree on each.
    func testAgreesWithPythonOnJSONTestSuite() throws {
        let files = try JSONTestSuiteTests.files().filter { !$0.name.hasPrefix("i_") }
        let verdicts = try pythonVerdicts(files.map(\.bytes))
        XCTAssertEqual(verdicts.count, files.count)
        for ((name, bytes), python) in zip(files, verdicts) {
            switch TestSupport.read(bytes) {
            case .success(let v): XCTAssertEqual("ok " + Self.canonical(v), python, name)
            case .failure(let e): XCTAssertFalse(python.hasPrefix("ok "), "\(name): gateway refused (\(e)), python accepted")
            }
        }
    }
}
