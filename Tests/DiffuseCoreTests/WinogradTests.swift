import Foundation
import XCTest
@testable import DiffuseCore

/// The Winograd F(4×4, 3×3) convolution against the naive Double reference. It is not bit-identical to the
/// direct path (other additions, transform rounding), so these compare with tolerances, and the error test
/// measures how much larger its error is than the direct convolution's on SD-like layers.
final class WinogradTests: XCTestCase {
    /// Odd sizes and sizes not a multiple of the 4×4 tile, a single row or column of tiles, batch > 1,
    /// channel counts not a multiple of the 8-lane vectors or the 12-row micro-tile, f16 and f32 weights,
    /// with and without bias and residual.
    func testMatchesReference() {
        for (n, c, o, h, w, dtype) in [(1, 3, 5, 5, 7, DType.f32), (2, 13, 20, 9, 13, .f16), (3, 8, 12, 4, 4, .f32),
                                       (1, 20, 25, 1, 6, .f32), (2, 9, 7, 17, 3, .f16), (1, 40, 30, 32, 64, .f32)] {
            let x = randomTensor([n, c, h, w], seed: 91)
            let wf = randomTensor([o, c, 3, 3], seed: 92), bias = randomTensor([o], seed: 93)
            let wt = Weight(shape: wf.shape, dtype: dtype, bytes: encode(wf.data, dtype))
            let residual = randomTensor([n, o, h, w], seed: 94)
            let ref = conv2dReference(x, wt.toTensor(), nil, stride: 1, padding: 1)
            for (b, r) in [(nil, nil), (Weight(bias), nil), (nil, residual), (Weight(bias), residual)] as [(Weight?, Tensor?)] {
                var expected = ref
                for i in 0..<expected.count {
                    expected.data[i] += (r?.data[i] ?? 0) + (b == nil ? 0 : bias.data[(i / (h * w)) % o])
                }
                let y = conv2d(x, wt, b, stride: 1, padding: 1, residual: r, direct: true, winograd: true)
                // Sums of 9c ≤ 360 products of values in [-1, 1] (|y| ≲ 20); the transforms scale terms by up to
                // 8·5 = 40 before they cancel, so the float32 rounding is some 10× the direct sum's: 2e-4.
                XCTAssertLessThan(y.maxAbsDifference(expected), 2e-4, "\(n)×\(c)×\(h)×\(w) → \(o) \(dtype)")
            }
        }
    }

    /// A tiny scratch budget forces several chunks of tile rows (including a chunk ending mid-image) and
    /// several output-channel blocks: the result must not depend on the blocking.
    func testChunksAndBlocksMatchOneShot() {
        let (n, c, o, h, w) = (2, 10, 30, 11, 10)
        let x = randomTensor([n, c, h, w], seed: 95), wt = Weight(randomTensor([o, c, 3, 3], seed: 96))
        let whole = conv2d(x, wt, nil, stride: 1, padding: 1, residual: nil, direct: true, winograd: true)
        for budget in [36 * 12 * 16 + 36 * (10 + 12) * 3, 36 * 12 * 16 + 36 * (10 + 12) * 3 * 5] {
            var y = Tensor(zeros: [n, o, h, w])
            x.withUnsafe { xp in y.withUnsafeMutable { yp in
                conv2dWinograd(x: xp.baseAddress!, n: n, c: c, h: h, w: w, weight: wt, o: o, y: yp.baseAddress!,
                               accumulate: false, scratchFloats: budget)
            } }
            // Same transforms and GEMM blocking along K per element: identical sums, so bit-identical.
            XCTAssertEqual(y.data.map(\.bitPattern), whole.data.map(\.bitPattern), "budget \(budget)")
        }
    }

    /// SD-like layers (weights ~ N(0, 1/(9c)) as after training-style init, inputs ~ N(0, 1)): the error of
    /// Winograd and of the direct convolution against float64, on a slice of output channels (the reference
    /// is slow). Measured max abs error, Winograd / direct: 9.5× (320 ch @64²), 14.2× (512 @128²), 11.3×
    /// (128 @256²); RMS error ratios are printed too. Bound: 16× max abs (about the "~10× direct" target,
    /// with room for the max of a few hundred thousand errors being a noisy statistic), and 4e-5 relative to
    /// max |y| (2.5× the worst measured; f16 weights alone are rounded by 5e-4 relative).
    func testErrorAgainstFloat64OnSDShapes() {
        for (c, o, side) in [(320, 16, 64), (512, 8, 128), (128, 8, 256)] {
            let x = gaussianTensor([1, c, side, side], std: 1, seed: 97)
            let wf = gaussianTensor([o, c, 3, 3], std: Float(1 / (9 * Double(c)).squareRoot()), seed: 98)
            let wt = Weight(shape: wf.shape, dtype: .f16, bytes: encode(wf.data, .f16))
            let ref = conv2dReference(x, wt.toTensor(), nil, stride: 1, padding: 1)
            let direct = conv2d(x, wt, nil, stride: 1, padding: 1, residual: nil, direct: true, winograd: false)
            let wino = conv2d(x, wt, nil, stride: 1, padding: 1, residual: nil, direct: true, winograd: true)
            let scale = ref.maxAbs
            let (ed, ew) = (direct.maxAbsDifference(ref), wino.maxAbsDifference(ref))
            let (rd, rw) = (rmsDifference(direct, ref), rmsDifference(wino, ref))
            print(String(format: "winograd error c=%d %d²: max abs direct %.3g, winograd %.3g (ratio %.1f; rel. to max|y| %.2g, %.2g); RMS direct %.3g, winograd %.3g (ratio %.1f)",
                         c, side, ed, ew, ew / ed, ed / scale, ew / scale, rd, rw, rw / rd))
            XCTAssertLessThan(ew, 16 * ed, "c \(c) side \(side)")
            XCTAssertLessThan(ew, 4e-5 * scale, "c \(c) side \(side)")
        }
    }
}

func rmsDifference(_ a: Tensor, _ b: Tensor) -> Double {
    var s = 0.0
    for i in 0..<a.count { let d = Double(a.data[i] - b.data[i]); s += d * d }
    return (s / Double(a.count)).squareRoot()
}

/// Normal values (Box–Muller on a 64-bit LCG), deterministic per seed.
func gaussianTensor(_ shape: [Int], std: Float, seed: UInt64) -> Tensor {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    func uniform() -> Double {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return (Double(s >> 11) + 0.5) / Double(1 << 53)
    }
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, data: (0..<count).map { _ in
        Float((-2 * Foundation.log(uniform())).squareRoot() * Foundation.cos(2 * Double.pi * uniform())) * std
    })
}
