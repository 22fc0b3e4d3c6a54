import XCTest
@testable import DiffuseTraining

final class TrainingTargetTests: XCTestCase {
    func testTargetLinks() { XCTAssertEqual(Tensor(zeros: [2]).count, 2) }
}
