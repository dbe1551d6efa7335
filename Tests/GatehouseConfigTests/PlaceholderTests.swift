import XCTest

final class GatehouseConfigTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
