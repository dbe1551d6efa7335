import XCTest

final class GatehousePolicyTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
