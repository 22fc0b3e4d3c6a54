import XCTest
@testable import DiffuseCore

final class TensorTests: XCTestCase {
    func testHalfConversionRoundTrips() {
        for v: Float in [0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, 0.33325195] {
            XCTAssertEqual(halfToFloat(floatToHalf(v)), v)
        }
        XCTAssertTrue(halfToFloat(floatToHalf(.infinity)).isInfinite)
    }

    func testWeightWidensBF16() {
        let w = Weight(shape: [2], dtype: .bf16, bytes: [0x80, 0x3f, 0x00, 0xc0]) // 1.0, -2.0
        XCTAssertEqual(w.toTensor().data, [1, -2])
    }
}
