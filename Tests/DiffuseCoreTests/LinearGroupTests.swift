import XCTest
@testable import DiffuseCore

/// `linearGroup` (shared packed input, fused bias / residual / quick_gelu) against `linear` + the separate
/// activation pass it replaces, bit for bit, and against the naive GEMM reference.
final class LinearGroupTests: XCTestCase {
    private func half(_ t: Tensor) -> Weight {
        let bytes = t.data.flatMap { v -> [UInt8] in let h = floatToHalf(v); return [UInt8(h & 0xff), UInt8(h >> 8)] }
        return Weight(shape: t.shape, dtype: .f16, bytes: bytes)
    }

    /// Naive y = x · wᵀ + b (+ r), Double sums.
    private func reference(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ r: Tensor?) -> Tensor {
        let k = w.shape[1], n = w.shape[0], m = x.count / k
        var y = gemmNTReference(m: m, n: n, k: k, a: x.data, b: w.data)
        for i in 0..<m { for j in 0..<n { y[i * n + j] += b.data[j] + (r?.data[i * n + j] ?? 0) } }
        return Tensor(shape: Array(x.shape.dropLast()) + [n], data: y)
    }

    // Rows 154 (SD's 2 × 77: a partial last row tile), 5 (one partial tile) and 300 (over the limit: the
    // fallback path); K = 600 spans three K blocks; N = 70 ends in a partial column panel. Same blocking
    // and FMA order as `linear`, so equality is exact; against the Double reference, sums of 600 products
    // of values in [-1, 1] round to within 1e-4.
    func testMatchesLinearBitForBit() {
        for rows in [154, 5, 300] {
            let x = randomTensor([rows, 600], seed: 31)
            let w1 = randomTensor([70, 600], seed: 32), b1 = randomTensor([70], seed: 33)
            let w2 = randomTensor([33, 600], seed: 34), b2 = randomTensor([33], seed: 35)
            let res = randomTensor([rows, 33], seed: 36)
            let ys = linearGroup(x, [LinearTerm(half(w1), Weight(b1)), LinearTerm(w2Weight(w2), Weight(b2), residual: res),
                                     LinearTerm(half(w1), nil)])
            XCTAssertEqual(ys[0], linear(x, half(w1), Weight(b1)), "rows \(rows)")
            XCTAssertEqual(ys[1], linear(x, w2Weight(w2), Weight(b2), residual: res), "rows \(rows)")
            XCTAssertEqual(ys[2], linear(x, half(w1)), "rows \(rows)")
            XCTAssertLessThan(ys[0].maxAbsDifference(reference(x, half(w1).toTensor(), b1, nil)), 1e-4)
            XCTAssertLessThan(ys[1].maxAbsDifference(reference(x, w2, b2, res)), 1e-4)
        }
    }

    // The fused activation must equal the separate quickGelu pass exactly (same exact exp, same formula).
    func testQuickGeluEpilogueMatchesSeparatePass() {
        for rows in [154, 7] {
            let x = randomTensor([2, rows / 2 + 1, 64], seed: 41)
            let w = randomTensor([96, 64], seed: 42), b = randomTensor([96], seed: 43)
            let fused = linearGroup(x, [LinearTerm(half(w), Weight(b), epilogue: .quickGelu)])[0]
            XCTAssertEqual(fused, quickGelu(linear(x, half(w), Weight(b))), "rows \(rows)")
        }
    }

    private func w2Weight(_ t: Tensor) -> Weight { Weight(t) }
}
