import XCTest

final class GatehouseHTTPTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
