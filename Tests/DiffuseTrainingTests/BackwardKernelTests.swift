import XCTest
@testable import DiffuseTraining

/// The fast backward passes (transposed-operand GEMMs, dx of a stride-1 convolution as a convolution with
/// the flipped kernel, dW as one implicit GEMM over the batch) against naive Double loops, on sizes
/// larger and odder than the PyTorch fixtures: several GEMM blocks, pixel runs crossing rows and images.
final class BackwardKernelTests: XCTestCase {
    func testConvBackwardMatchesNaiveLoops() {
        // (N, C, H, W, O, k, stride, pad)
        for (n, c, h, w, o, kk, s, p) in [(3, 5, 9, 7, 6, 3, 1, 1), (2, 8, 10, 10, 5, 3, 2, 1), (2, 7, 6, 6, 9, 1, 1, 0),
                                          (2, 3, 8, 8, 4, 3, 1, 0)] {
            let x = randomTensor([n, c, h, w], seed: 1), wt = randomTensor([o, c, kk, kk], seed: 2)
            let ho = (h + 2 * p - kk) / s + 1, wo = (w + 2 * p - kk) / s + 1
            let dy = randomTensor([n, o, ho, wo], seed: 3)
            var dw = Tensor(zeros: wt.shape), db = [Float](repeating: 0, count: o)
            let dx = db.withUnsafeMutableBufferPointer {
                conv2dBackward(x: x, w: wt, dy: dy, stride: s, padding: p, dw: &dw, db: $0.baseAddress!)
            }
            let (rdx, rdw, rdb) = naiveConvBackward(x: x, w: wt, dy: dy, stride: s, padding: p)
            // Values ~N(0,1), sums of up to N·P ≈ 160 products: float32 rounding stays below 1e-4; an indexing
            // mistake gives errors of order 1.
            let label = "case \(String(describing: (n, c, h, w, o, kk, s, p)))"
            XCTAssertLessThan(dx.maxAbsDifference(rdx), 1e-4, "dx " + label)
            XCTAssertLessThan(dw.maxAbsDifference(rdw), 1e-4, "dw " + label)
            XCTAssertLessThan(zip(db, rdb).map { abs($0 - $1) }.max()!, 1e-4, "db " + label)
        }
    }

    func testLinearBackwardMatchesNaiveLoops() {
        let (m, k, n) = (300, 37, 70)   // M over several GEMM blocks, K and N not multiples of the tiles
        let x = randomTensor([3, m / 3, k], seed: 4), w = randomTensor([n, k], seed: 5), dy = randomTensor([3, m / 3, n], seed: 6)
        var dw = Tensor(zeros: [n, k]), db = [Float](repeating: 0, count: n)
        let dx = db.withUnsafeMutableBufferPointer { linearBackward(x: x, w: w, dy: dy, dw: &dw, db: $0.baseAddress!) }
        var rdx = Tensor(zeros: x.shape), rdw = Tensor(zeros: w.shape), rdb = [Float](repeating: 0, count: n)
        for i in 0..<m { for j in 0..<n {
            let g = Double(dy.data[i * n + j])
            rdb[j] += Float(g)
            for p in 0..<k {
                rdx.data[i * k + p] += Float(g * Double(w.data[j * k + p]))
                rdw.data[j * k + p] += Float(g * Double(x.data[i * k + p]))
            }
        } }
        // Sums of up to 300 N(0,1) products (≈ 17 in size): float32 rounding below 1e-3 either way.
        XCTAssertEqual(dx.shape, x.shape)
        XCTAssertLessThan(dx.maxAbsDifference(rdx), 1e-3)
        XCTAssertLessThan(dw.maxAbsDifference(rdw), 1e-3)
        XCTAssertLessThan(zip(db, rdb).map { abs($0 - $1) }.max()!, 1e-3)
    }

    private func naiveConvBackward(x: Tensor, w: Tensor, dy: Tensor, stride: Int, padding: Int) -> (Tensor, Tensor, [Float]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw, ho, wo) = (w.shape[0], w.shape[2], w.shape[3], dy.shape[2], dy.shape[3])
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
        var db = [Double](repeating: 0, count: o)
        for img in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
            let g = Double(dy.data[((img * o + oc) * ho + oy) * wo + ox])
            db[oc] += g
            for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                let xi = ((img * c + ic) * h + iy) * wd + ix, wi = ((oc * c + ic) * kh + ky) * kw + kx
                dx[xi] += g * Double(w.data[wi])
                dw[wi] += g * Double(x.data[xi])
            } } }
        } } } }
        return (Tensor(shape: x.shape, data: dx.map(Float.init)), Tensor(shape: w.shape, data: dw.map(Float.init)), db.map(Float.init))
    }
}
