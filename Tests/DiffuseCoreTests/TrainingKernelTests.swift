import XCTest
@testable import DiffuseCore

/// The backward-pass kernels against naive Double-accumulating references: the transposed-operand GEMM
/// in all four layouts (leading dimensions wider than the matrix, both thread splits, K blocks,
/// accumulation, serial) and the implicit-GEMM convolution weight gradient (K runs crossing output rows
/// and images, padding, stride 2, 1×1).
final class TrainingKernelTests: XCTestCase {
    // Same bound as GemmTests: float32 sums of K products of values in [-1, 1] vs Double; indexing mistakes
    // give errors of order 1.
    func tol(_ k: Int) -> Float { 1e-5 * Float(max(k, 1)) }

    func testGemmTransposedLayoutsMatchReference() {
        for (m, n, k) in [(7, 17, 5), (130, 33, 600), (13, 1100, 40), (40, 9, 300), (1, 31, 1)] {
            for transA in [false, true] { for transB in [false, true] { for serial in [false, true] {
                let pad = 3   // leading dimensions wider than the stored rows
                let (ar, ac) = transA ? (k, m) : (m, k), (br, bc) = transB ? (n, k) : (k, n)
                let a = testValues(ar * ac, seed: 61), b = testValues(br * bc, seed: 62)
                let ap = padded(a, rows: ar, cols: ac, ld: ac + pad), bp = padded(b, rows: br, cols: bc, ld: bc + pad)
                let c0 = testValues(m * (n + pad), seed: 63)
                var c = c0
                gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: ap, lda: ac + pad, b: bp, ldb: bc + pad,
                     c: &c, ldc: n + pad, accumulate: true, serial: serial)
                let ref = gemmReference(transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b)
                var err: Float = 0
                for i in 0..<m {
                    for j in 0..<(n + pad) {
                        let expected = c0[i * (n + pad) + j] + (j < n ? ref[i * n + j] : 0)
                        err = max(err, abs(c[i * (n + pad) + j] - expected))
                    }
                }
                XCTAssertLessThan(err, tol(k) + 1e-6, "transA \(transA) transB \(transB) serial \(serial) \(m)x\(n)x\(k)")
            } } }
        }
    }

    func testConvWeightGradientMatchesReference() {
        // (N, C, H, W, O, k, stride, pad): 3×3 same, odd sizes so pixel runs cross rows and images inside a
        // K block, stride 2, 1×1, a K longer than one block (N·P > 256).
        let cases = [(3, 5, 7, 9, 11, 3, 1, 1), (2, 4, 8, 8, 6, 3, 2, 1), (4, 6, 5, 5, 13, 1, 1, 0), (2, 3, 16, 16, 40, 3, 1, 1)]
        for (n, c, h, w, o, kk, s, p) in cases {
            let x = Tensor(shape: [n, c, h, w], data: testValues(n * c * h * w, seed: 71))
            let ho = (h + 2 * p - kk) / s + 1, wo = (w + 2 * p - kk) / s + 1
            let dy = Tensor(shape: [n, o, ho, wo], data: testValues(n * o * ho * wo, seed: 72))
            let start = testValues(o * c * kk * kk, seed: 73)
            var dw = start
            conv2dWeightGradient(x: x, dy: dy, kh: kk, kw: kk, stride: s, padding: p, dw: &dw)
            let ref = conv2dWeightGradientReference(x: x, dy: dy, kh: kk, kw: kk, stride: s, padding: p)
            let expected = zip(ref.data, start).map { $0 + $1 }
            XCTAssertLessThan(maxDiff(dw, expected), tol(n * ho * wo) + 1e-6, "case \(String(describing: (n, c, h, w, o, kk, s, p)))")
        }
    }

    private func padded(_ v: [Float], rows: Int, cols: Int, ld: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: rows * ld)   // NaN in the gaps: reading one shows up
        for r in 0..<rows { for j in 0..<cols { out[r * ld + j] = v[r * cols + j] } }
        return out
    }
}
