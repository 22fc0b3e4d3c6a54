import XCTest
@testable import DiffuseTraining

/// Every backward against central finite differences of its float32 forward (DiffuseCore's kernels).
/// Loss L = Σ y·r (r fixed random), |L| ≲ 50; with h = 1e-2 the quotient's float32 rounding error is about
/// 6e-8·50 / 1e-2 ≈ 3e-4 and the O(h²) curvature term stays below 1e-3 for these smooth ops, so
/// |analytic − fd| ≤ 2e-3 + 1e-2·|fd| is tight enough to catch any wrong term (those are off by O(1)).
final class GradFiniteDifferenceTests: XCTestCase {
    let rtol = 1e-2, atol = 2e-3

    func testLinearAndConvolution() {
        let x = randomTensor([2, 3, 5], seed: 1), w = randomTensor([4, 5], seed: 2), r = randomTensor([2, 3, 4], seed: 3)
        var dw = Tensor(zeros: w.shape)
        let dx = linearBackward(x: x, w: w, dy: r, dw: &dw, db: nil)
        assertFiniteDifferences("linear dx", x: x, analytic: dx, rtol: rtol, atol: atol) { contract(linear($0, Weight(w)), r) }
        assertFiniteDifferences("linear dw", x: w, analytic: dw, rtol: rtol, atol: atol) { contract(linear(x, Weight($0)), r) }
        for (stride, padding) in [(1, 1), (2, 1), (2, 0)] {
            let x = randomTensor([2, 3, 7, 6], seed: 4), w = randomTensor([4, 3, 3, 3], seed: 5)
            let y = conv2d(x, Weight(w), stride: stride, padding: padding)
            let r = randomTensor(y.shape, seed: 6)
            var dw = Tensor(zeros: w.shape)
            let dx = conv2dBackward(x: x, w: w, dy: r, stride: stride, padding: padding, dw: &dw, db: nil)
            assertFiniteDifferences("conv s\(stride) p\(padding) dx", x: x, analytic: dx, rtol: rtol, atol: atol) {
                contract(conv2d($0, Weight(w), stride: stride, padding: padding), r)
            }
            assertFiniteDifferences("conv s\(stride) p\(padding) dw", x: w, analytic: dw, rtol: rtol, atol: atol) {
                contract(conv2d(x, Weight($0), stride: stride, padding: padding), r)
            }
        }
    }

    func testNorms() {
        let x = randomTensor([2, 4, 3, 3], seed: 7, scale: 2), g = randomTensor([4], seed: 8), b = randomTensor([4], seed: 9)
        let r = randomTensor(x.shape, seed: 10)
        var dg = Tensor(zeros: [4]), db = Tensor(zeros: [4])
        let dx = groupNormBackward(x: x, dy: r, groups: 2, gamma: g, eps: 1e-5, dgamma: &dg, dbeta: &db)
        let gn = { (x: Tensor, g: Tensor) in groupNorm(x, groups: 2, weight: Weight(g), bias: Weight(b), eps: 1e-5) }
        assertFiniteDifferences("group norm dx", x: x, analytic: dx, rtol: rtol, atol: atol) { contract(gn($0, g), r) }
        assertFiniteDifferences("group norm dgamma", x: g, analytic: dg, rtol: rtol, atol: atol) { contract(gn(x, $0), r) }
        let lx = randomTensor([3, 6], seed: 11, scale: 3), lg = randomTensor([6], seed: 12), lr = randomTensor([3, 6], seed: 13)
        var dlg = Tensor(zeros: [6]), dlb = Tensor(zeros: [6])
        let dlx = layerNormBackward(x: lx, dy: lr, gamma: lg, eps: 1e-5, dgamma: &dlg, dbeta: &dlb)
        let ln = { (x: Tensor, g: Tensor) in layerNorm(x, weight: Weight(g), bias: Weight(Tensor(zeros: [6])), eps: 1e-5) }
        assertFiniteDifferences("layer norm dx", x: lx, analytic: dlx, rtol: rtol, atol: atol) { contract(ln($0, lg), lr) }
        assertFiniteDifferences("layer norm dgamma", x: lg, analytic: dlg, rtol: rtol, atol: atol) { contract(ln(lx, $0), lr) }
    }

    func testAttention() {
        let q = randomTensor([2, 4, 6], seed: 14), k = randomTensor([2, 5, 6], seed: 15), v = randomTensor([2, 5, 6], seed: 16)
        let r = randomTensor([2, 4, 6], seed: 17)
        let (dq, dk, dv) = attentionBackward(q: q, k: k, v: v, dOut: r, heads: 2)
        assertFiniteDifferences("attention dq", x: q, analytic: dq, rtol: rtol, atol: atol) { contract(attention(q: $0, k: k, v: v, heads: 2), r) }
        assertFiniteDifferences("attention dk", x: k, analytic: dk, rtol: rtol, atol: atol) { contract(attention(q: q, k: $0, v: v, heads: 2), r) }
        assertFiniteDifferences("attention dv", x: v, analytic: dv, rtol: rtol, atol: atol) { contract(attention(q: q, k: k, v: $0, heads: 2), r) }
    }

    func testPointwiseAndShapes() {
        let x = randomTensor([3, 8], seed: 18, scale: 2), r = randomTensor([3, 8], seed: 19)
        assertFiniteDifferences("silu", x: x, analytic: siluBackward(x: x, dy: r), rtol: rtol, atol: atol) { contract(silu($0), r) }
        assertFiniteDifferences("gelu", x: x, analytic: geluBackward(x: x, dy: r), rtol: rtol, atol: atol) { contract(gelu($0), r) }
        let rg = randomTensor([3, 4], seed: 20)
        assertFiniteDifferences("geglu", x: x, analytic: gegluBackward(x: x, dy: rg), rtol: rtol, atol: atol) { contract(geglu($0), rg) }
        let img = randomTensor([1, 2, 3, 3], seed: 21), ru = randomTensor([1, 2, 6, 6], seed: 22)
        assertFiniteDifferences("upsample", x: img, analytic: upsampleNearest2xBackward(dy: ru), rtol: rtol, atol: atol) {
            contract(upsampleNearest2x($0), ru)
        }
        let big = randomTensor([1, 12, 2, 2], seed: 23)
        XCTAssertEqual(pixelUnshuffle(pixelShuffle(big, 2), 2), big, "pixel shuffle and unshuffle are inverse permutations")
        let target = randomTensor([3, 8], seed: 24)
        assertFiniteDifferences("mse", x: x, analytic: mseLoss(x, target).grad, rtol: rtol, atol: 1e-4) {
            Double(mseLoss($0, target).loss)
        }
    }
}
