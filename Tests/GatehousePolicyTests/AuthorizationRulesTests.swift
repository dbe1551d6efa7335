import XCTest

@testable import GatehousePolicy

final class AuthorizationRulesTests: XCTestCase {
    /// The contract's example rules.
    let rules = AuthorizationRules(rules: [
        (match: "tools/call:delete_*", require: ["admin"]),
        (match: "tools/call:*", require: ["tools:call"]),
        (match: "*", require: []),
    ])

    func testFirstMatchWins() {
        XCTAssertEqual(rules.requirement(for: "tools/call:delete_user"), ["admin"])
        XCTAssertEqual(rules.requirement(for: "tools/call:delete_"), ["admin"])
        XCTAssertEqual(rules.requirement(for: "tools/call:echo"), ["tools:call"])
        XCTAssertEqual(rules.requirement(for: "tools/call:"), ["tools:call"])
        XCTAssertEqual(rules.requirement(for: "tools/list"), [])
        XCTAssertEqual(rules.requirement(for: "initialize"), [])
        XCTAssertEqual(rules.requirement(for: ""), [])
    }

    func testNoMatchIsNil() {
        let narrow = AuthorizationRules(rules: [(match: "tools/call:*", require: ["tools:call"])])
        XCTAssertNil(narrow.requirement(for: "tools/list"))
        XCTAssertFalse(narrow.allows(permissions: ["*"], resource: "tools/list"))
        XCTAssertNil(AuthorizationRules(rules: []).requirement(for: "x"))
    }

    func testGlobSemantics() {
        XCTAssertTrue(AuthorizationRules.matches(pattern: "*", ""))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "*", "tools/call:a"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "tools/*", "tools/list"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "tools/*", "tools/call:x"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "*:delete_*", "tools/call:delete_x"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "a*b*c", "axxbyyc"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "a*b*c", "abc"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "a**c", "ac"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "*c", "abcbc"))
        XCTAssertFalse(AuthorizationRules.matches(pattern: "a*b*c", "axxbyy"))
        XCTAssertFalse(AuthorizationRules.matches(pattern: "tools/list", "tools/listx"))
        XCTAssertFalse(AuthorizationRules.matches(pattern: "tools/list", "Tools/list"))
        XCTAssertFalse(AuthorizationRules.matches(pattern: "tools/call:echo", "tools/call:echo2"))
        XCTAssertFalse(AuthorizationRules.matches(pattern: "", "a"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "", ""))
        // `?`, `[` and `.` are literal, not regex or glob classes.
        XCTAssertFalse(AuthorizationRules.matches(pattern: "a?c", "abc"))
        XCTAssertTrue(AuthorizationRules.matches(pattern: "a?c", "a?c"))
        XCTAssertFalse(AuthorizationRules.matches(pattern: "a.c", "abc"))
        // Many stars on a long subject stay fast (no exponential backtracking).
        let subject = String(repeating: "a", count: 5000)
        XCTAssertFalse(AuthorizationRules.matches(pattern: String(repeating: "*a", count: 40) + "b", subject))
    }

    func testPermissionSemantics() {
        typealias R = AuthorizationRules
        XCTAssertTrue(R.allows(permissions: [], required: [], resource: "tools/list"))
        XCTAssertTrue(R.allows(permissions: ["*"], required: ["admin"], resource: "tools/call:delete_x"))
        XCTAssertTrue(R.allows(permissions: ["admin"], required: ["admin"], resource: "tools/call:delete_x"))
        XCTAssertFalse(R.allows(permissions: ["tools:call"], required: ["admin"], resource: "tools/call:delete_x"))
        XCTAssertTrue(R.allows(permissions: ["tools:call"], required: ["tools:call"], resource: "tools/call:echo"))
        XCTAssertFalse(R.allows(permissions: [], required: ["tools:call"], resource: "tools/call:echo"))
        // Every listed permission is needed.
        XCTAssertFalse(R.allows(permissions: ["a"], required: ["a", "b"], resource: "x"))
        XCTAssertTrue(R.allows(permissions: ["b", "a"], required: ["a", "b"], resource: "x"))
        // Narrow per-tool grants meet the tools:call requirement for that tool only.
        XCTAssertTrue(R.allows(permissions: ["tools/call:echo"], required: ["tools:call"], resource: "tools/call:echo"))
        XCTAssertFalse(R.allows(permissions: ["tools/call:echo"], required: ["tools:call"], resource: "tools/call:add"))
        XCTAssertTrue(R.allows(permissions: ["tools/call:read_*"], required: ["tools:call"], resource: "tools/call:read_a"))
        XCTAssertFalse(R.allows(permissions: ["tools/call:*"], required: ["admin"], resource: "tools/call:delete_a"))
        XCTAssertFalse(R.allows(permissions: ["tools/call:echo"], required: ["tools:call"], resource: "tools/list"))
        // Case matters.
        XCTAssertFalse(R.allows(permissions: ["Admin"], required: ["admin"], resource: "x"))
    }

    func testAllowsWithRules() {
        XCTAssertTrue(rules.allows(permissions: ["tools:call"], resource: "tools/call:echo"))
        XCTAssertFalse(rules.allows(permissions: ["tools:call"], resource: "tools/call:delete_all"))
        XCTAssertTrue(rules.allows(permissions: ["tools:call", "admin"], resource: "tools/call:delete_all"))
        XCTAssertTrue(rules.allows(permissions: [], resource: "tools/list"))
        XCTAssertFalse(rules.allows(permissions: [], resource: "tools/call:echo"))
        XCTAssertTrue(rules.allows(permissions: ["*"], resource: "tools/call:delete_all"))
    }

    func testResourceName() {
        XCTAssertEqual(AuthorizationRules.resource(method: "tools/call", tool: "echo"), "tools/call:echo")
        XCTAssertEqual(AuthorizationRules.resource(method: "tools/list", tool: nil), "tools/list")
        XCTAssertEqual(AuthorizationRules.resource(method: "tools/call", tool: nil), "tools/call")
    }
}
