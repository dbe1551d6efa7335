import XCTest

final class GatehouseServerTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
