import Foundation
import XCTest
@testable import DiffuseTraining

/// AdamW, clipping, warm-up + cosine LR, EMA and gradient accumulation against torch/diffusers on a tiny
/// linear model (Tests/Fixtures/grads/optim.*, made by scripts/fixtures/grads.py).
final class OptimTests: XCTestCase {
    struct Meta: Decodable {
        struct Hyper: Decodable {
            let lr: Float, betas: [Float], eps: Float, weight_decay: Float, max_norm: Float, warmup: Int, total: Int
            let ema_decay: Float, steps: Int, micro: Int
        }
        let hyper: Hyper, norms: [Float], lrs: [Float], cosine_factors: [Double], ddpm_timesteps: [Int]
    }

    func load() throws -> (FixtureTensors, Meta) {
        let data = try Data(contentsOf: fixturesRoot.appendingPathComponent("grads/optim.json"))
        return (try FixtureTensors("grads/optim.safetensors"), try JSONDecoder().decode(Meta.self, from: data))
    }

    /// Gradients of mean((x·Wᵀ + b − y)²) / micro for rows `rows` of the step's batch, added into the params.
    func accumulateGrads(_ w: Parameter, _ b: Parameter, x: Tensor, y: Tensor, rows: Range<Int>, micro: Int) {
        let xs = Tensor(shape: [rows.count, 4], data: Array(x.data[(rows.lowerBound * 4)..<(rows.upperBound * 4)]))
        let ys = Tensor(shape: [rows.count, 3], data: Array(y.data[(rows.lowerBound * 3)..<(rows.upperBound * 3)]))
        let out = linear(xs, w.weight, b.weight)
        let grad = scale(mseLoss(out, ys).grad, 1 / Float(micro))
        _ = b.grad.withUnsafeMutable { linearBackward(x: xs, w: w.value, dy: grad, dw: &w.grad, db: $0.baseAddress!) }
    }

    func testAdamWClipCosineEMAWithAccumulationMatchTorch() throws {
        let (f, meta) = try load()
        let h = meta.hyper
        let w = Parameter("weight", f["init.weight"]), b = Parameter("bias", f["init.bias"])
        var adam = AdamW(beta1: h.betas[0], beta2: h.betas[1], eps: h.eps, weightDecay: h.weight_decay)
        var ema = EMA([w, b], maxDecay: h.ema_decay)
        for s in 0..<h.steps {
            w.zeroGrad(); b.zeroGrad()
            let x = f["step\(s).x"], y = f["step\(s).y"]
            for m in 0..<h.micro { accumulateGrads(w, b, x: x, y: y, rows: (2 * m)..<(2 * m + 2), micro: h.micro) }
            let norm = clipGradNorm([w, b], maxNorm: h.max_norm)
            // Norms of ~3 summed from 15 float32 squares: 1e-5 relative is float32 rounding.
            XCTAssertEqual(norm, meta.norms[s], accuracy: 1e-5 * meta.norms[s], "step \(s) gradient norm")
            let lr = h.lr * cosineWarmupFactor(step: s, warmup: h.warmup, total: h.total)
            XCTAssertEqual(lr, meta.lrs[s], accuracy: 1e-7, "step \(s) learning rate")
            adam.update([w, b], lr: lr)
            ema.update([w, b])
            // Parameters of size ~1 after a few float32 Adam steps: torch and we round the same formulas in a
            // slightly different order (lerp vs multiply-add), ≲ 1e-6 per step; 1e-5 bounds five steps.
            assertClose(w.value, f["step\(s).weight"], atol: 1e-5, "step \(s) weight")
            assertClose(b.value, f["step\(s).bias"], atol: 1e-5, "step \(s) bias")
            assertClose(Tensor(shape: [3, 4], data: ema.shadow["weight"]!), f["step\(s).ema_weight"], atol: 1e-5, "step \(s) EMA weight")
            assertClose(Tensor(shape: [3], data: ema.shadow["bias"]!), f["step\(s).ema_bias"], atol: 1e-5, "step \(s) EMA bias")
        }
    }

    func testCosineWarmupFactors() throws {
        let (_, meta) = try load()
        for (i, expected) in meta.cosine_factors.enumerated() {
            // diffusers computes in Python doubles; we return Float: 1e-7 is float rounding of values ≤ 1.
            XCTAssertEqual(Double(cosineWarmupFactor(step: i, warmup: meta.hyper.warmup, total: meta.hyper.total)), expected,
                           accuracy: 1e-7, "factor at step \(i)")
        }
    }

    func testAccumulationEqualsOneBigBatch() {
        let x = randomTensor([4, 4], seed: 40), y = randomTensor([4, 3], seed: 41)
        let w1 = Parameter("w", randomTensor([3, 4], seed: 42)), b1 = Parameter("b", randomTensor([3], seed: 43))
        let w2 = Parameter("w", w1.value), b2 = Parameter("b", b1.value)
        accumulateGrads(w1, b1, x: x, y: y, rows: 0..<4, micro: 1)
        accumulateGrads(w2, b2, x: x, y: y, rows: 0..<2, micro: 2)
        accumulateGrads(w2, b2, x: x, y: y, rows: 2..<4, micro: 2)
        // Same sums in another grouping: float32 rounding only.
        assertClose(w1.grad, w2.grad, atol: 1e-6, "accumulated weight gradient")
        assertClose(b1.grad, b2.grad, atol: 1e-6, "accumulated bias gradient")
    }

    func testClippingLeavesSmallGradientsAlone() {
        let p = Parameter("p", Tensor(zeros: [2]))
        p.grad = Tensor(shape: [2], data: [0.3, 0.4])
        XCTAssertEqual(clipGradNorm([p], maxNorm: 1), 0.5, accuracy: 1e-7)
        XCTAssertEqual(p.grad.data, [0.3, 0.4])
        XCTAssertEqual(clipGradNorm([p], maxNorm: 0.25), 0.5, accuracy: 1e-7)
        XCTAssertEqual(p.grad.data[0], 0.15, accuracy: 1e-6)
    }
}
