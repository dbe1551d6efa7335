import Foundation
import XCTest

@testable import GatehousePolicy

/// Verification speed per algorithm and of a token-cache hit. Prints figures; runs only with
/// GATEHOUSE_BENCH=1 (use `swift test -c release`).
final class JWTThroughputTests: XCTestCase {
    private func rate(_ label: String, seconds: Double = 0.5, _ body: () -> Void) {
        var iterations = 0
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            for _ in 0..<50 { body() }
            iterations += 50
        }
        print("\(label): \(Int(Double(iterations) / Date().timeIntervalSince(start))) /s")
    }

    func testThroughput() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["GATEHOUSE_BENCH"] == "1", "set GATEHOUSE_BENCH=1")
        let document = try JWTFixtures.load()
        let verifier = try JWTFixtures.verifier(document)
        for alg in ["HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"] {
            let token = document.vector("valid-" + alg).token
            guard case .valid = verifier.verify(token) else { return XCTFail(alg) }
            rate("verify \(alg)") { _ = verifier.verify(token) }
        }
        let cache = TokenCache(capacity: 10_000)
        let token = document.vector("valid-RS256").token
        guard case .valid(let principal, let expiresAt) = verifier.verify(token) else { return XCTFail() }
        cache.insert(token: token, principal: principal, expiresAt: expiresAt)
        rate("cache hit") { _ = cache.lookup(token: token, now: document.now) }
    }
}
