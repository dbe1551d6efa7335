import XCTest

@testable import GatehouseHTTP

/// A small deterministic random generator (SplitMix64), so random splits are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What parsing a byte stream gave: the parts (adjacent body pieces merged, since their cut depends on
/// how the bytes arrived), the refusal if any, and the bytes left unconsumed when there was none.
struct ParseOutcome<Part: Equatable>: Equatable {
    var parts: [Part] = []
    var error: HTTPParseError?
    var leftover: [UInt8] = []
}

/// Feeds the same input whole, one byte at a time and in random splits, and checks every way gives the
/// same outcome (the spirit of swift-nio's ByteToMessageDecoderVerifier).
enum ParserVerifier {
    /// Chunk-size plans: whole, byte by byte, then random cuts from a few fixed seeds.
    static func plans(for count: Int, randomRuns: Int = 6) -> [(name: String, sizes: [Int])] {
        var plans: [(String, [Int])] = [("whole", [count]), ("byte-at-a-time", Array(repeating: 1, count: count))]
        for seed in 0..<randomRuns {
            var rng = SplitMix64(seed: UInt64(seed) &* 7919 &+ 1)
            var sizes: [Int] = []
            var left = count
            while left > 0 {
                let n = min(left, Int.random(in: 1...max(1, min(left, 1 + Int(rng.next() % 40))), using: &rng))
                sizes.append(n)
                left -= n
            }
            plans.append(("random seed \(seed)", sizes))
        }
        return plans
    }

    static func parseRequests(_ input: [UInt8], limits: HTTPLimits, sizes: [Int]) -> ParseOutcome<HTTPRequestPart> {
        var parser = HTTPRequestParser(limits: limits)
        var buffer = ByteBuffer()
        var outcome = ParseOutcome<HTTPRequestPart>()
        var offset = 0
        for size in sizes {
            buffer.writeBytes(input[offset..<(offset + size)])
            offset += size
            do {
                while let part = try parser.next(&buffer) { append(part, to: &outcome.parts) }
            } catch {
                outcome.error = error
                return outcome
            }
        }
        outcome.leftover = Array(buffer.readableBytesView)
        return outcome
    }

    static func parseResponses(
        _ input: [UInt8], methods: [String], finish: Bool, limits: HTTPLimits, sizes: [Int]
    ) -> ParseOutcome<HTTPResponsePart> {
        var parser = HTTPResponseParser(limits: limits)
        for method in methods { parser.expectResponse(toRequestMethod: method) }
        var buffer = ByteBuffer()
        var outcome = ParseOutcome<HTTPResponsePart>()
        var offset = 0
        do {
            for size in sizes {
                buffer.writeBytes(input[offset..<(offset + size)])
                offset += size
                while let part = try parser.next(&buffer) { append(part, to: &outcome.parts) }
            }
            if finish, let part = try parser.finish() { append(part, to: &outcome.parts) }
        } catch {
            outcome.error = error
            return outcome
        }
        outcome.leftover = Array(buffer.readableBytesView)
        return outcome
    }

    private static func append(_ part: HTTPRequestPart, to parts: inout [HTTPRequestPart]) {
        if case .body(let more) = part, case .body(let earlier)? = parts.last {
            parts[parts.count - 1] = .body(ArraySlice(Array(earlier) + Array(more)))
        } else {
            parts.append(part)
        }
    }

    private static func append(_ part: HTTPResponsePart, to parts: inout [HTTPResponsePart]) {
        if case .body(let more) = part, case .body(let earlier)? = parts.last {
            parts[parts.count - 1] = .body(ArraySlice(Array(earlier) + Array(more)))
        } else {
            parts.append(part)
        }
    }

    /// Parses `input` every way and fails the test when two ways disagree; returns the whole-input outcome.
    @discardableResult
    static func verifyRequests(
        _ input: [UInt8], limits: HTTPLimits = HTTPLimits(), file: StaticString = #filePath, line: UInt = #line
    ) -> ParseOutcome<HTTPRequestPart> {
        let plans = plans(for: input.count)
        let reference = parseRequests(input, limits: limits, sizes: plans[0].sizes)
        for plan in plans.dropFirst() {
            let outcome = parseRequests(input, limits: limits, sizes: plan.sizes)
            XCTAssertEqual(
                outcome, reference, "\(plan.name) disagrees with whole-buffer parsing", file: file, line: line)
        }
        return reference
    }

    @discardableResult
    static func verifyResponses(
        _ input: [UInt8], methods: [String] = [], finish: Bool = false, limits: HTTPLimits = HTTPLimits(),
        file: StaticString = #filePath, line: UInt = #line
    ) -> ParseOutcome<HTTPResponsePart> {
        let plans = plans(for: input.count)
        let reference = parseResponses(input, methods: methods, finish: finish, limits: limits, sizes: plans[0].sizes)
        for plan in plans.dropFirst() {
            let outcome = parseResponses(input, methods: methods, finish: finish, limits: limits, sizes: plan.sizes)
            XCTAssertEqual(
                outcome, reference, "\(plan.name) disagrees with whole-buffer parsing", file: file, line: line)
        }
        return reference
    }
}

/// The UTF-8 bytes of `s`.
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
