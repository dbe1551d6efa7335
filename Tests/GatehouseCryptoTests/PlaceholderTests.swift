import XCTest

final class GatehouseCryptoTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
