import GatehouseJSON
import XCTest

/// Random mutations of valid documents: the reader never crashes, and whatever it accepts survives a
/// round trip through the writer.
final class JSONMutationTests: XCTestCase {
    func testRandomMutationsNeverCrashAndAcceptedOnesRoundTrip() throws {
        var random = SeededRandom(seed: 0xF022_0001)
        var seeds = try JSONTestSuiteTests.files().filter { $0.name.hasPrefix("y_") && $0.bytes.count < 4096 }.map(\.bytes)
        for _ in 0..<200 { seeds.append(DocumentGenerator.validDocument(using: &random)) }
        var accepted = 0
        var refused = 0
        for round in 0..<30_000 {
            var doc = random.pick(seeds)
            for _ in 0..<random.int(1..<3) { doc = DocumentGenerator.mutate(doc, using: &random) }
            switch TestSupport.read(doc, maxDepth: round % 7 == 0 ? 3 : 64) {
            case .success(let v):
                accepted += 1
                let written = JSONWriter.serialize(v)
                guard case .success(let again) = TestSupport.read(written) else {
                    XCTFail("own output refused: \(String(decoding: written, as: UTF8.self))")
                    continue
                }
                XCTAssertEqual(again, v)
            case .failure(let e):
                refused += 1
                XCTAssertTrue((0...doc.count).contains(e.offset), "offset \(e.offset) outside a \(doc.count)-byte document")
                XCTAssertFalse(e.message.isEmpty)
            }
        }
        XCTAssertGreaterThan(accepted, 1000)
        XCTAssertGreaterThan(refused, 1000)
    }

    /// Every prefix of a valid document is refused (or, for a prefix that is itself a complete value,
    /// accepted) without crashing: the reader never reads past the end.
    func testEveryTruncationIsHandled() {
        let doc = Array(#"{"a":[1,-2.5e+3,"x\u00e9\ud83d\ude00y",true,false,null,{}],"é":{"b":[]}}"#.utf8)
        for length in 0..<doc.count {
            if case .success(let v) = TestSupport.read(Array(doc.prefix(length))) {
                XCTFail("prefix of \(length) bytes accepted as \(v)")
            }
        }
        XCTAssertNotNil(try? TestSupport.read(doc).get())
    }
}
