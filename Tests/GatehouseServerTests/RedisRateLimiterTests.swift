import Foundation
import GatehouseConfig
import GatehousePolicy
import GatehousePosix
import Glibc
import XCTest

@testable import GatehouseServer

/// Token buckets in a real `redis-server`: the bucket arithmetic (burst, refill, headers rounded like
/// `TokenBucket`), one limit shared by two limiters on two loops (two replicas), expiry of idle
/// buckets, `NOSCRIPT` recovery, Redis down (fast `.failed`, never a hang) and restarted (recovers).
final class RedisRateLimiterTests: XCTestCase {
    private var harnesses: [RedisLoopHarness] = []

    override func tearDown() {
        for h in harnesses { h.stop() }
        harnesses.removeAll()
    }

    private func harness() throws -> RedisLoopHarness {
        let h = try RedisLoopHarness(index: harnesses.count)
        harnesses.append(h)
        return h
    }

    /// A limiter on its own connection on `h`'s loop.
    private func limiter(
        _ h: RedisLoopHarness, _ url: RedisURL, timeout: Int64 = 200,
        _ change: (inout RedisConnection.Options) -> Void = { _ in }
    ) throws -> RedisLoopConfined<RedisRateLimiter> {
        var options = RedisConnection.Options()
        options.reconnectInitialDelayMilliseconds = 50
        options.reconnectMaximumDelayMilliseconds = 200
        change(&options)
        let address = try SocketAddress.resolve(host: url.host, port: url.port)
        let connection = RedisConnection(loop: h.loop, url: url, address: address, options: options)
        let made = RedisRateLimiter(connection: connection, timeoutMilliseconds: timeout)
        addTeardownBlock { [box = RedisLoopConfined(made)] in h.sync { box.value.connection.close() } }
        return RedisLoopConfined(made)
    }

    /// `count` takes of `key` issued together on the loop; their results in issue order.
    private func take(
        _ h: RedisLoopHarness, _ limiter: RedisLoopConfined<RedisRateLimiter>, key: String, limit: RateLimit,
        count: Int = 1, wait seconds: Double = 5
    ) -> [RedisTakeResult] {
        let results = RedisResults<RedisTakeResult>()
        h.sync {
            for i in 0..<count { limiter.value.take(key: key, limit: limit) { results.add(i, $0) } }
        }
        return results.wait(for: count, seconds: seconds)
    }

    private func decisions(_ results: [RedisTakeResult], file: StaticString = #filePath, line: UInt = #line)
        -> [RateDecision]
    {
        results.compactMap {
            guard case .decided(let d) = $0 else {
                XCTFail("expected a decision, got \($0)", file: file, line: line)
                return nil
            }
            return d
        }
    }

    // MARK: Bucket arithmetic

    func testBurstThenRefusalsWithTokenBucketHeaders() throws {
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url)
        let limit = RateLimit(capacity: 5, refillPerSecond: 0.001)
        let got = decisions(take(h, l, key: "burst", limit: limit, count: 8))
        XCTAssertEqual(got.map(\.allowed), [true, true, true, true, true, false, false, false])
        XCTAssertEqual(got.map(\.remaining), [4, 3, 2, 1, 0, 0, 0, 0])
        XCTAssertEqual(got.map(\.limit), Array(repeating: 5, count: 8))
        XCTAssertEqual(got.prefix(5).map(\.retryAfterSeconds), [0, 0, 0, 0, 0])
        // One token every 1000 s; a few milliseconds of Redis time may have passed.
        for d in got.suffix(3) {
            XCTAssertTrue((995...1000).contains(d.retryAfterSeconds), "\(d)")
            XCTAssertTrue((4995...5000).contains(d.resetSeconds), "\(d)")
        }
        XCTAssertEqual(got[0].resetSeconds, 1000)
        // The same numbers the local bucket gives (up to the Redis time that passed).
        var bucket = TokenBucket(limit: limit, now: 0)
        let local = (0..<8).map { _ in bucket.take(now: 0) }
        XCTAssertEqual(got.map(\.allowed), local.map(\.allowed))
        XCTAssertEqual(got.map(\.remaining), local.map(\.remaining))
        XCTAssertEqual(got.map(\.retryAfterSeconds).map { $0 > 0 }, local.map(\.retryAfterSeconds).map { $0 > 0 })
        // The 429 built from a Redis decision carries the same headers as a local one.
        XCTAssertEqual(
            got[7].headers.map(\.0), ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"])
    }

    func testRefillUsesRedisTime() throws {
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url)
        let limit = RateLimit(capacity: 2, refillPerSecond: 20)
        let first = decisions(take(h, l, key: "refill", limit: limit, count: 3))
        XCTAssertEqual(first.map(\.allowed), [true, true, false])
        XCTAssertEqual(first[2].retryAfterSeconds, 1, "0.05 s rounds up to 1")
        usleep(130_000)  // 20/s: at least two tokens back
        let second = decisions(take(h, l, key: "refill", limit: limit, count: 3))
        XCTAssertEqual(second.map(\.allowed), [true, true, false])
    }

    func testKeysAreIndependentAndPrefixed() throws {
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url)
        let limit = RateLimit(capacity: 2, refillPerSecond: 0.01)
        XCTAssertEqual(
            decisions(take(h, l, key: "10.0.0.1", limit: limit, count: 3)).map(\.allowed), [true, true, false])
        XCTAssertEqual(decisions(take(h, l, key: "alice", limit: limit, count: 3)).map(\.allowed), [true, true, false])
        XCTAssertEqual(try server.command(["EXISTS", "gatehouse:rl:10.0.0.1"]), .integer(1))
        XCTAssertEqual(try server.command(["EXISTS", "gatehouse:rl:alice"]), .integer(1))
        XCTAssertEqual(try server.command(["EXISTS", "alice"]), .integer(0))
        // Any bytes can be a key.
        let odd = "tool:\u{0}\r\n:é"
        XCTAssertEqual(decisions(take(h, l, key: odd, limit: limit, count: 1)).map(\.allowed), [true])
    }

    func testIdleBucketsExpireOnceTheyWouldBeFull() throws {
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url)
        _ = take(h, l, key: "ttl-fast", limit: RateLimit(capacity: 10, refillPerSecond: 100), count: 3)
        guard case .integer(let fast) = try server.command(["PTTL", "gatehouse:rl:ttl-fast"]) else { return XCTFail() }
        // 3 tokens short at 100/s: full after 30 ms, plus one second of margin.
        XCTAssertTrue((900...1030).contains(fast), "PTTL \(fast)")
        _ = take(h, l, key: "ttl-slow", limit: RateLimit(capacity: 10, refillPerSecond: 0.5), count: 4)
        guard case .integer(let slow) = try server.command(["PTTL", "gatehouse:rl:ttl-slow"]) else { return XCTFail() }
        XCTAssertTrue((8_900...9_000).contains(slow), "PTTL \(slow)")
        // An expired bucket is a full one.
        usleep(1_100_000)
        XCTAssertEqual(try server.command(["EXISTS", "gatehouse:rl:ttl-fast"]), .integer(0))
        XCTAssertEqual(
            decisions(take(h, l, key: "ttl-fast", limit: RateLimit(capacity: 10, refillPerSecond: 100))).first?
                .remaining, 9)
    }

    func testALoweredCapacityCapsAStoredBucket() throws {
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url)
        _ = take(h, l, key: "shrink", limit: RateLimit(capacity: 100, refillPerSecond: 0.001))
        let d = decisions(take(h, l, key: "shrink", limit: RateLimit(capacity: 3, refillPerSecond: 0.001)))
        XCTAssertEqual(d.first?.remaining, 2)
        XCTAssertEqual(d.first?.limit, 3)
    }

    /// Two replicas: two limiters, two loops, two connections, one Redis, one limit.
    func testTwoLimitersOnTwoLoopsShareOneLimit() throws {
        let server = try RedisTestServer.start(self)
        let h1 = try harness()
        let h2 = try harness()
        let a = try limiter(h1, server.url)
        let b = try limiter(h2, server.url)
        let limit = RateLimit(capacity: 50, refillPerSecond: 0.001)
        let resultsA = RedisResults<RedisTakeResult>()
        let resultsB = RedisResults<RedisTakeResult>()
        for round in 0..<8 {
            h1.sync {
                for i in 0..<10 { a.value.take(key: "shared", limit: limit) { resultsA.add(round * 10 + i, $0) } }
            }
            h2.sync {
                for i in 0..<10 { b.value.take(key: "shared", limit: limit) { resultsB.add(round * 10 + i, $0) } }
            }
        }
        let all = decisions(resultsA.wait(for: 80) + resultsB.wait(for: 80))
        XCTAssertEqual(all.count, 160)
        XCTAssertEqual(all.filter(\.allowed).count, 50, "one combined limit")
        XCTAssertEqual(Set(all.filter(\.allowed).map(\.remaining)), Set(0..<50), "each token taken once")
    }

    // MARK: Script cache

    func testNoScriptAfterScriptFlushRecovers() throws {
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url)
        let limit = RateLimit(capacity: 10, refillPerSecond: 0.001)
        XCTAssertEqual(decisions(take(h, l, key: "flush", limit: limit)).first?.remaining, 9)
        let digest = h.sync { l.value.scriptDigest }
        XCTAssertEqual(digest?.count, 40)
        XCTAssertEqual(try server.command(["SCRIPT", "FLUSH"]), .simpleString("OK"))
        XCTAssertEqual(
            try server.command(["SCRIPT", "EXISTS", String(decoding: digest ?? [], as: UTF8.self)]),
            .array([.integer(0)]))
        // Many takes hit NOSCRIPT at once: one reload, each retried once, none lost.
        let got = decisions(take(h, l, key: "flush", limit: limit, count: 5))
        XCTAssertEqual(got.map(\.remaining), [8, 7, 6, 5, 4])
        XCTAssertEqual(
            try server.command(["SCRIPT", "EXISTS", String(decoding: digest ?? [], as: UTF8.self)]),
            .array([.integer(1)]))
    }

    func testScriptLoadedOnceForConcurrentFirstTakes() throws {
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url)
        let got = decisions(take(h, l, key: "first", limit: RateLimit(capacity: 100, refillPerSecond: 1), count: 20))
        XCTAssertEqual(got.map(\.remaining), Array((80..<100).reversed()))
        guard case .bulkString(let info) = try server.command(["INFO", "commandstats"]) else { return XCTFail() }
        let text = String(decoding: info, as: UTF8.self)
        XCTAssertTrue(text.contains("cmdstat_script|load:calls=1,"), text)
        XCTAssertTrue(text.contains("cmdstat_evalsha:calls=20,"), text)
    }

    // MARK: Failures

    func testRedisDownFailsFastAndEveryCompletionRunsOnce() throws {
        let h = try harness()
        let l = try limiter(h, RedisURL(host: "127.0.0.1", port: RedisTestServer.freePort()), timeout: 150)
        let t0 = monotonicMilliseconds()
        let got = take(h, l, key: "down", limit: RateLimit(capacity: 5, refillPerSecond: 1), count: 50, wait: 2)
        XCTAssertLessThan(monotonicMilliseconds() - t0, 400, "no hang while Redis is down")
        XCTAssertEqual(got.count, 50)
        for r in got {
            guard case .failed(let reason) = r else { return XCTFail("\(r)") }
            XCTAssertTrue(reason.contains("Redis"), reason)
        }
        // During the back-off, a take fails at once.
        let t1 = monotonicMilliseconds()
        guard case .failed(let reason) = take(h, l, key: "down", limit: RateLimit(capacity: 5, refillPerSecond: 1))[0]
        else { return XCTFail() }
        XCTAssertLessThan(monotonicMilliseconds() - t1, 100)
        XCTAssertTrue(reason.contains("unavailable") || reason.contains("lost"), reason)
    }

    func testSilentRedisFailsWithinTheTimeout() throws {
        let h = try harness()
        let silent = RedisFakeServer.start(self, reply: nil)
        let l = try limiter(h, RedisURL(host: "127.0.0.1", port: silent.port), timeout: 80)
        let t0 = monotonicMilliseconds()
        let got = take(h, l, key: "slow", limit: RateLimit(capacity: 5, refillPerSecond: 1), count: 10, wait: 2)
        let elapsed = monotonicMilliseconds() - t0
        XCTAssertLessThan(elapsed, 300)
        XCTAssertGreaterThanOrEqual(elapsed, 70)
        for r in got {
            guard case .failed(let reason) = r else { return XCTFail("\(r)") }
            XCTAssertTrue(reason.contains("no reply from Redis within"), reason)
        }
    }

    func testRedisRestartedRecovers() throws {
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url)
        let limit = RateLimit(capacity: 3, refillPerSecond: 0.001)
        XCTAssertEqual(decisions(take(h, l, key: "restart", limit: limit)).first?.remaining, 2)
        server.stop()
        let down = take(h, l, key: "restart", limit: limit, wait: 2)
        guard case .failed = down[0] else { return XCTFail("\(down)") }
        try server.restart()
        // A new Redis: no data, no script; the limiter reconnects and reloads the script on NOSCRIPT.
        var recovered: RateDecision?
        _ = RedisTestServer.poll(seconds: 5) {
            if case .decided(let d) = self.take(h, l, key: "restart", limit: limit)[0] {
                recovered = d
                return true
            }
            return false
        }
        XCTAssertEqual(recovered?.remaining, 2, "a fresh bucket in the new Redis")
    }

    func testAuthAndSelectReachTheLimiter() throws {
        let server = try RedisTestServer.start(self, arguments: ["--requirepass", "pw"])
        let h = try harness()
        var url = server.url
        url.password = "pw"
        url.database = 2
        let l = try limiter(h, url)
        XCTAssertEqual(decisions(take(h, l, key: "db2", limit: RateLimit(capacity: 2, refillPerSecond: 1))).count, 1)
        XCTAssertEqual(try server.command(["EXISTS", "gatehouse:rl:db2"], password: "pw", database: 2), .integer(1))
        XCTAssertEqual(try server.command(["EXISTS", "gatehouse:rl:db2"], password: "pw", database: 0), .integer(0))
    }

    // MARK: Throughput

    /// Takes per second through one loop's connection, as a gateway loop issues them: a window of takes
    /// in flight (pipelined), each new take started by a finished one. Prints figures; runs only with
    /// GATEHOUSE_BENCH=1 (use `swift test -c release`).
    func testThroughput() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["GATEHOUSE_BENCH"] == "1", "set GATEHOUSE_BENCH=1")
        let server = try RedisTestServer.start(self)
        let h = try harness()
        let l = try limiter(h, server.url, timeout: 1000)
        let limit = RateLimit(capacity: 1_000_000_000, refillPerSecond: 1)
        _ = take(h, l, key: "warm", limit: limit)
        for window in [1, 16, 128] {
            let done = RedisResults<Int>()
            let failures = RedisResults<String>()
            let total = window == 1 ? 5_000 : 50_000
            let started = Date()
            h.sync {
                var issued = 0
                var finished = 0
                func issue() {
                    issued += 1
                    l.value.take(key: "bench-\(issued % 1000)", limit: limit) { result in
                        if case .failed(let reason) = result { failures.append(reason) }
                        finished += 1
                        if issued < total { issue() }
                        if finished == total { done.append(finished) }
                    }
                }
                for _ in 0..<window { issue() }
            }
            _ = done.wait(for: 1, seconds: 120)
            let seconds = Date().timeIntervalSince(started)
            XCTAssertEqual(failures.snapshot(), [])
            print("redis take, \(window) in flight: \(Int(Double(total) / seconds)) /s")
        }
    }

    // MARK: Without Redis

    /// The decision from Redis's token count rounds exactly like `TokenBucket`'s, over many states.
    func testDecisionMatchesTokenBucket() {
        var generator = RedisSplitMix(seed: 3)
        let limits = [
            RateLimit(capacity: 1, refillPerSecond: 0.1), RateLimit(capacity: 5, refillPerSecond: 0.1),
            RateLimit(capacity: 10, refillPerSecond: 3), RateLimit(capacity: 100, refillPerSecond: 10),
            RateLimit(capacity: 7, refillPerSecond: 0.0001), RateLimit(capacity: 1_000_000_000, refillPerSecond: 1e-9),
        ]
        for limit in limits {
            var bucket = TokenBucket(limit: limit, now: 1_000_000_000)
            var now: UInt64 = 1_000_000_000
            for _ in 0..<2_000 {
                now += generator.next() % 3 == 0 ? generator.next() % 3_000_000_000 : generator.next() % 50_000_000
                let expected = bucket.take(now: now)
                let redis = RedisRateLimiter.decision(allowed: expected.allowed, tokens: bucket.tokens, limit: limit)
                XCTAssertEqual(redis, expected, "\(limit) tokens \(bucket.tokens)")
            }
        }
    }

    func testMalformedScriptRepliesFail() {
        let limit = RateLimit(capacity: 5, refillPerSecond: 1)
        let bad: [RedisValue] = [
            .null, .integer(1), .simpleString("OK"), .array([.integer(1)]),
            .array([.integer(2), .bulkString(Array("1".utf8))]),
            .array([.integer(1), .bulkString(Array("nan".utf8))]),
            .array([.integer(1), .bulkString(Array("-1".utf8))]),
            .array([.integer(1), .bulkString(Array("x".utf8))]), .array([.bulkString(Array("1".utf8)), .integer(1)]),
        ]
        for reply in bad {
            guard case .failed(let reason) = RedisRateLimiter.result(of: reply, limit: limit) else {
                XCTFail("\(reply) accepted")
                continue
            }
            XCTAssertTrue(reason.hasPrefix("unexpected answer from the rate-limit script"), reason)
        }
        XCTAssertEqual(
            RedisRateLimiter.result(of: .array([.integer(1), .bulkString(Array("4".utf8))]), limit: limit),
            .decided(RateDecision(allowed: true, limit: 5, remaining: 4, resetSeconds: 1, retryAfterSeconds: 0)))
        XCTAssertEqual(
            RedisRateLimiter.result(of: .array([.integer(0), .bulkString(Array("0.25".utf8))]), limit: limit),
            .decided(RateDecision(allowed: false, limit: 5, remaining: 0, resetSeconds: 5, retryAfterSeconds: 1)))
    }
}
