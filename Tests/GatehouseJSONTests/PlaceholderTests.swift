import XCTest

final class GatehouseJSONTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
