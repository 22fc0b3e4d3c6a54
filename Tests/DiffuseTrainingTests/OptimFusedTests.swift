import Foundation
import XCTest
@testable import DiffuseTraining

/// The vectorised, thread-split optimiser passes (OptimKernels.swift) against the plain scalar loops they
/// replaced, bit for bit: each element must get the same float operations in the same order.
final class OptimFusedTests: XCTestCase {
    /// Sizes: a tail shorter than one vector, a multiple of 8, and tensors big enough (≥ 2 × 2¹⁵ floats) to be
    /// split over the threads with a ragged tail.
    let sizes = [5, 64, 3, 70_001, 2 * 32_768 + 13]

    func params(seed: UInt64) -> [Parameter] {
        sizes.enumerated().map { i, n in
            let p = Parameter("p\(i)", randomTensor([n], seed: seed + UInt64(i)))
            p.grad = randomTensor([n], seed: seed + 100 + UInt64(i))
            return p
        }
    }

    /// The scalar reference: clipGradNorm's scale pass, AdamW.update's and EMA.update's loops as they were.
    struct Reference {
        var m: [String: [Float]] = [:], v: [String: [Float]] = [:], shadow: [String: [Float]] = [:]
        var step = 0, updates = 0

        mutating func step(_ ps: [(name: String, w: [Float], g: [Float])], lr: Float, maxNorm: Float,
                           b1: Float, b2: Float, eps: Float, wd: Float, emaMax: Float) -> [String: [Float]] {
            var sq = 0.0
            for p in ps { for g in p.g { sq += Double(g) * Double(g) } }
            let coef = min(1, maxNorm / (Float(sq.squareRoot()) + 1e-6))
            step += 1
            let bc1 = 1 - Float(Foundation.pow(Double(b1), Double(step)))
            let bc2Sqrt = Float((1 - Foundation.pow(Double(b2), Double(step))).squareRoot())
            let stepSize = lr / bc1, decay = 1 - lr * wd
            updates += 1
            let s = updates - 1
            let emaDecay: Float = s <= 0 ? 0 : min(emaMax, Float(1 + s) / Float(10 + s))
            var out: [String: [Float]] = [:]
            for p in ps {
                var w = p.w, mm = m[p.name] ?? [Float](repeating: 0, count: w.count)
                var vv = v[p.name] ?? [Float](repeating: 0, count: w.count)
                var sh = shadow[p.name] ?? p.w
                for i in 0..<w.count {
                    let gi = coef < 1 ? p.g[i] * coef : p.g[i]
                    w[i] *= decay
                    mm[i] += (gi - mm[i]) * (1 - b1)
                    vv[i] = vv[i] * b2 + (1 - b2) * gi * gi
                    let denom = vv[i].squareRoot() / bc2Sqrt + eps
                    w[i] -= stepSize * (mm[i] / denom)
                }
                for i in 0..<w.count { sh[i] -= (1 - emaDecay) * (sh[i] - w[i]) }
                m[p.name] = mm; v[p.name] = vv; shadow[p.name] = sh
                out[p.name] = w
            }
            return out
        }
    }

    func testFusedStepMatchesScalarLoopsBitForBit() {
        let ps = params(seed: 7)
        var reference = Reference()
        for p in ps { reference.shadow[p.name] = p.value.data }
        var adam = AdamW(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)
        var ema = EMA(ps, maxDecay: 0.999)
        for step in 0..<4 {
            // Step 0 clips hard (norm ≈ 300 ≫ 1); later steps use a norm limit above the norm: no clipping.
            let maxNorm: Float = step == 0 ? 1 : 1e6
            let lr: Float = 1e-3 * Float(step + 1)
            let expected = reference.step(ps.map { ($0.name, $0.value.data, $0.grad.data) }, lr: lr, maxNorm: maxNorm,
                                          b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01, emaMax: 0.999)
            let clip = gradClipFactor(ps, maxNorm: maxNorm).coef
            adam.update(ps, lr: lr, gradScale: clip, ema: &ema)
            for p in ps {
                XCTAssertEqual(p.value.data.map(\.bitPattern), expected[p.name]!.map(\.bitPattern), "step \(step) \(p.name) weights")
                XCTAssertEqual(adam.m[p.name]!.map(\.bitPattern), reference.m[p.name]!.map(\.bitPattern), "step \(step) \(p.name) m")
                XCTAssertEqual(adam.v[p.name]!.map(\.bitPattern), reference.v[p.name]!.map(\.bitPattern), "step \(step) \(p.name) v")
                XCTAssertEqual(ema.shadow[p.name]!.map(\.bitPattern), reference.shadow[p.name]!.map(\.bitPattern),
                               "step \(step) \(p.name) EMA")
                p.grad = randomTensor([p.value.count], seed: UInt64(1000 * step) + UInt64(p.value.count))
            }
        }
    }

    func testSeparateCallsMatchFusedStep() {
        let a = params(seed: 21), b = params(seed: 21)
        var adamA = AdamW(), adamB = AdamW()
        var emaA = EMA(a, maxDecay: 0.99), emaB = EMA(b, maxDecay: 0.99)
        for step in 0..<3 {
            for (i, (pa, pb)) in zip(a, b).enumerated() {   // the same fresh gradients on both sides
                pa.grad = randomTensor([pa.value.count], seed: UInt64(50 * step + i))
                pb.grad = pa.grad
            }
            clipGradNorm(a, maxNorm: 1)
            adamA.update(a, lr: 1e-3)
            emaA.update(a)
            adamB.update(b, lr: 1e-3, gradScale: gradClipFactor(b, maxNorm: 1).coef, ema: &emaB)
            for (pa, pb) in zip(a, b) {
                XCTAssertEqual(pa.value.data.map(\.bitPattern), pb.value.data.map(\.bitPattern), pa.name)
                XCTAssertEqual(emaA.shadow[pa.name]!.map(\.bitPattern), emaB.shadow[pb.name]!.map(\.bitPattern), pa.name)
            }
        }
    }

    func testZeroGradClearsEveryElement() {
        for p in params(seed: 3) {
            p.zeroGrad()
            XCTAssertTrue(p.grad.data.allSatisfy { $0 == 0 }, p.name)
        }
    }
}
