import Foundation
import XCTest
@testable import DiffuseCore

/// `exactExp` must equal Foundation.exp bit for bit (the exhaustive check over all 2.2·10⁹ relevant
/// floats is `diffuse-bench-kernels --exhaustive-exp`); here a strided sample of every binade plus the
/// special values, and the activations built on it against their scalar formulas.
final class VectorMathTests: XCTestCase {
    func testExactExpMatchesFoundationBitForBit() {
        var xs: [Float] = [0, -0, 1, -1, 88.72283, 88.72284, 89, -87.33655, -103.97, -104, -200, 200,
                           .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNormalMagnitude]
        // Every 1009th bit pattern of [-110, 90]: about 2.2 million values over all binades.
        for (lo, hi) in [(UInt32(0), (90 as Float).bitPattern), (UInt32(0x8000_0000), (-110 as Float).bitPattern)] {
            xs += stride(from: lo, through: hi, by: 1009).map { Float(bitPattern: $0) }
        }
        var mismatches = 0
        var i = 0
        while i + 8 <= xs.count {
            let v = SIMD8<Float>(xs[i..<(i + 8)])
            let y = exactExp(v)
            for j in 0..<8 where y[j].bitPattern != Foundation.exp(v[j]).bitPattern && !(y[j].isNaN && v[j].isNaN) {
                mismatches += 1
                if mismatches < 5 { XCTFail("exp(\(v[j])): \(y[j]) vs \(Foundation.exp(v[j]))") }
            }
            i += 8
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testVectorActivationsEqualScalarFormulas() {
        let x = Tensor(shape: [3, 1001], data: testValues(3003, seed: 60).map { $0 * 12 })
        let s = silu(x), q = quickGelu(x)
        for i in 0..<x.count {
            let v = x.data[i]
            XCTAssertEqual(s.data[i].bitPattern, (v / (1 + Foundation.exp(-v))).bitPattern, "silu(\(v))")
            XCTAssertEqual(q.data[i].bitPattern, (v / (1 + Foundation.exp(-1.702 * v))).bitPattern, "quickGelu(\(v))")
        }
    }

    func testGroupNormSiluIsGroupNormThenSilu() {
        // 5×5 planes: 3 lanes of each channel go through the scalar tail, the rest through SIMD.
        let x = Tensor(shape: [2, 8, 5, 5], data: testValues(400, seed: 61).map { $0 * 4 })
        let g = Weight(randomTensor([8], seed: 62)), b = Weight(randomTensor([8], seed: 63))
        let fused = groupNorm(x, groups: 4, weight: g, bias: b, eps: 1e-5, silu: true)
        let separate = silu(groupNorm(x, groups: 4, weight: g, bias: b, eps: 1e-5))
        XCTAssertEqual(fused, separate)
    }
}
