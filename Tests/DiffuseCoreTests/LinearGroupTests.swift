import XCTest
@testable import DiffuseCore

/// `linearGroup` (shared packed input, fused bias / residual / quick_gelu) against `linear`, against the
/// naive GEMM reference, and its fused activation against the separate pass, bit for bit.
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
    // fallback path, which is `linear` itself: equal bit for bit); K = 600 spans four of this path's K blocks
    // and two of `linear`'s, so the sums round differently: within 2e-5 of `linear` (sums of 600 products of
    // values in [-1, 1], |y| up to ~20, float32 steps ~2e-6) and within 1e-4 of the Double reference.
    func testMatchesLinear() {
        for rows in [154, 5, 300] {
            let x = randomTensor([rows, 600], seed: 31)
            let w1 = randomTensor([70, 600], seed: 32), b1 = randomTensor([70], seed: 33)
            let w2 = randomTensor([33, 600], seed: 34), b2 = randomTensor([33], seed: 35)
            let res = randomTensor([rows, 33], seed: 36)
            let ys = linearGroup(x, [LinearTerm(half(w1), Weight(b1)), LinearTerm(w2Weight(w2), Weight(b2), residual: res),
                                     LinearTerm(half(w1), nil)])
            let expected = [linear(x, half(w1), Weight(b1)), linear(x, w2Weight(w2), Weight(b2), residual: res),
                            linear(x, half(w1))]
            for (y, e) in zip(ys, expected) {
                if rows > smallLinearRows { XCTAssertEqual(y, e, "rows \(rows)") }
                XCTAssertLessThan(y.maxAbsDifference(e), 2e-5, "rows \(rows)")
            }
            XCTAssertLessThan(ys[0].maxAbsDifference(reference(x, half(w1).toTensor(), b1, nil)), 1e-4)
            XCTAssertLessThan(ys[1].maxAbsDifference(reference(x, w2, b2, res)), 1e-4)
        }
    }

    // The fused activation must equal the separate quickGelu pass exactly (same exact exp, same formula).
    // K = 600: several K blocks, so the products it is applied to are the multi-block sums.
    func testQuickGeluEpilogueMatchesSeparatePass() {
        for rows in [154, 7] {
            let x = randomTensor([2, rows / 2 + 1, 600], seed: 41)
            let w = randomTensor([96, 600], seed: 42), b = randomTensor([96], seed: 43)
            let fused = linearGroup(x, [LinearTerm(half(w), Weight(b), epilogue: .quickGelu)])[0]
            let plain = linearGroup(x, [LinearTerm(half(w), Weight(b))])[0]
            XCTAssertEqual(fused, quickGelu(plain), "rows \(rows)")
        }
    }

    private func w2Weight(_ t: Tensor) -> Weight { Weight(t) }
}
