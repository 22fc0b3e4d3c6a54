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
        step(params, lr: lr, gradScale: 1, ema: nil)
    }

    /// One step on the gradients scaled by `gradScale` (gradient clipping's factor; the gradients themselves
    /// are left as they are), then `ema`'s update on the new weights — one pass over memory, with the same
    /// float operations per element as a separate scale pass, `update` and `EMA.update`.
    public mutating func update(_ params: [Parameter], lr: Float, gradScale: Float, ema: inout EMA) {
        withUnsafeMutablePointer(to: &ema) { step(params, lr: lr, gradScale: gradScale, ema: $0) }
    }

    private mutating func step(_ params: [Parameter], lr: Float, gradScale: Float, ema: UnsafeMutablePointer<EMA>?) {
        step += 1
        let bc1 = 1 - Float(Foundation.pow(Double(beta1), Double(step)))
        let bc2Sqrt = Float((1 - Foundation.pow(Double(beta2), Double(step))).squareRoot())
        let k = AdamWStepConstants(oneMinusBeta1: 1 - beta1, beta2: beta2, oneMinusBeta2: 1 - beta2, eps: eps,
                                   decay: 1 - lr * weightDecay, stepSize: lr / bc1, bc2Sqrt: bc2Sqrt,
                                   gradScale: gradScale, emaOneMinus: ema?.pointee.beginUpdate() ?? 0)
        var slots: [AdamWSlot] = [], withoutShadow: [Parameter] = []
        for p in params where p.value.count > 0 {
            let n = p.value.count
            if m[p.name] == nil { m[p.name] = [Float](repeating: 0, count: n) }
            if v[p.name] == nil { v[p.name] = [Float](repeating: 0, count: n) }
            // Each mutable access makes its array unique first (no copy-on-write later); the moments are
            // reached in place through the dictionaries.
            let shadow = ema?.pointee.hasShadow(p) == true ? ema!.pointee.withShadow(of: p) { $0 } : nil
            if ema != nil && shadow == nil { withoutShadow.append(p) }
            slots.append(AdamWSlot(w: p.value.withUnsafeMutable { $0.baseAddress! }, g: p.grad.withUnsafe { $0.baseAddress! },
                                   m: m[p.name]!.withUnsafeMutableBufferPointer { $0.baseAddress! },
                                   v: v[p.name]!.withUnsafeMutableBufferPointer { $0.baseAddress! }, shadow: shadow, count: n))
        }
        adamWStep(slots, k)
        // A parameter without a shadow yet gets one from its new weights, as EMA.update does.
        for p in withoutShadow { ema!.pointee.update(p, oneMinus: k.emaOneMinus) }
    }
}

/// torch.nn.utils.clip_grad_norm_(params, maxNorm) (2-norm): scales every gradient by
/// min(1, maxNorm / (total + 1e-6)). Returns the total norm before clipping.
@discardableResult
public func clipGradNorm(_ params: [Parameter], maxNorm: Float) -> Float {
    let (total, coef) = gradClipFactor(params, maxNorm: maxNorm)
    if coef < 1 { for p in params { p.grad.withUnsafeMutable { g in scaleInPlace(g.baseAddress!, count: g.count, by: coef) } } }
    return total
}

/// clip_grad_norm_'s total 2-norm and scale factor min(1, maxNorm / (total + 1e-6)), gradients untouched.
/// The squares are summed in Double, one element after another in parameter order: a split sum would round
/// differently, and the serial sum is a few ms.
public func gradClipFactor(_ params: [Parameter], maxNorm: Float) -> (total: Float, coef: Float) {
    var sq = 0.0
    for p in params {
        p.grad.withUnsafe { g in for x in g { sq += Double(x) * Double(x) } }
    }
    let total = Float(sq.squareRoot())
    return (total, min(1, maxNorm / (total + 1e-6)))
}

/// diffusers' get_cosine_schedule_with_warmup under torch's LambdaLR: the factor for optimiser step
/// `step` (0-based: the first update uses step 0) — linear warm-up from 0, then half a cosine down to 0.
public func cosineWarmupFactor(step: Int, warmup: Int, total: Int) -> Float {
    if step < warmup { return Float(step) / Float(max(1, warmup)) }
    let progress = Double(step - warmup) / Double(max(1, total - warmup))
    return Float(max(0, 0.5 * (1 + Foundation.cos(Double.pi * 0.5 * 2 * progress))))
}
