import DiffuseCore
import Foundation

/// torch.optim.AdamW (single-tensor path, amsgrad off, maximize off): per step t (from 1)
///   p ← p·(1 − lr·wd)                                  decoupled weight decay, before the Adam update
///   m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²
///   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)   eps added after the bias-corrected sqrt
/// Leaves out: amsgrad, maximize, capturable/fused variants.
public struct AdamW: Sendable {
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// Steps taken so far (torch's state["step"]).
    public private(set) var step = 0
    /// First and second moments, by parameter name.
    public private(set) var m: [String: [Float]] = [:], v: [String: [Float]] = [:]

    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }

    /// Restores moments and step count (checkpoint resume).
    public init(beta1: Float, beta2: Float, eps: Float, weightDecay: Float, step: Int,
                m: [String: [Float]], v: [String: [Float]]) {
        self.init(beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
        self.step = step; self.m = m; self.v = v
    }

    public mutating func update(_ params: [Parameter], lr: Float) {
        step += 1
        let bc1 = 1 - Float(Foundation.pow(Double(beta1), Double(step)))
        let bc2Sqrt = Float((1 - Foundation.pow(Double(beta2), Double(step))).squareRoot())
        let stepSize = lr / bc1
        let (b1, b2, eps, decay) = (beta1, beta2, eps, 1 - lr * weightDecay)
        for p in params {
            var mm = m[p.name] ?? [Float](repeating: 0, count: p.value.count)
            var vv = v[p.name] ?? [Float](repeating: 0, count: p.value.count)
            p.value.withUnsafeMutable { w in p.grad.withUnsafe { g in
                mm.withUnsafeMutableBufferPointer { mp in vv.withUnsafeMutableBufferPointer { vp in
                    for i in 0..<w.count {
                        let gi = g[i]
                        w[i] *= decay
                        mp[i] += (gi - mp[i]) * (1 - b1)
                        vp[i] = vp[i] * b2 + (1 - b2) * gi * gi
                        let denom = vp[i].squareRoot() / bc2Sqrt + eps
                        w[i] -= stepSize * (mp[i] / denom)
                    }
                } }
            } }
            m[p.name] = mm
            v[p.name] = vv
        }
    }
}

/// torch.nn.utils.clip_grad_norm_(params, maxNorm) (2-norm): scales every gradient by
/// min(1, maxNorm / (total + 1e-6)). Returns the total norm before clipping.
@discardableResult
public func clipGradNorm(_ params: [Parameter], maxNorm: Float) -> Float {
    var sq = 0.0
    for p in params { for g in p.grad.data { sq += Double(g) * Double(g) } }
    let total = Float(sq.squareRoot())
    let coef = min(1, maxNorm / (total + 1e-6))
    if coef < 1 {
        for p in params { p.grad.withUnsafeMutable { g in for i in 0..<g.count { g[i] *= coef } } }
    }
    return total
}

/// diffusers' get_cosine_schedule_with_warmup under torch's LambdaLR: the factor for optimiser step
/// `step` (0-based: the first update uses step 0) — linear warm-up from 0, then half a cosine down to 0.
public func cosineWarmupFactor(step: Int, warmup: Int, total: Int) -> Float {
    if step < warmup { return Float(step) / Float(max(1, warmup)) }
    let progress = Double(step - warmup) / Double(max(1, total - warmup))
    return Float(max(0, 0.5 * (1 + Foundation.cos(Double.pi * 0.5 * 2 * progress))))
}
