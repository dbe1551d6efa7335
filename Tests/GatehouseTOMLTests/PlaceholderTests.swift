import XCTest

final class GatehouseTOMLTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
