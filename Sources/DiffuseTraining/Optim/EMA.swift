import DiffuseCore

/// diffusers' EMAModel (use_ema_warmup off, update_after_step 0, min_decay 0): at optimisation step n
/// (counted from 1) the decay is min(maxDecay, (1 + s) / (10 + s)) with s = n − 1, and 0 when s ≤ 0;
/// then shadow ← shadow − (1 − decay)·(shadow − param). The shadow weights are what gets published.
public struct EMA: Sendable {
    public var maxDecay: Float
    public private(set) var updates = 0
    public private(set) var shadow: [String: [Float]]

    public init(_ params: [Parameter], maxDecay: Float) {
        self.maxDecay = maxDecay
        shadow = Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.value.data) })
    }

    public init(maxDecay: Float, updates: Int, shadow: [String: [Float]]) {
        self.maxDecay = maxDecay; self.updates = updates; self.shadow = shadow
    }

    public func decay(at n: Int) -> Float {
        let s = n - 1
        if s <= 0 { return 0 }
        return min(maxDecay, Float(1 + s) / Float(10 + s))
    }

    public mutating func update(_ params: [Parameter]) {
        let oneMinus = beginUpdate()
        for p in params { update(p, oneMinus: oneMinus) }
    }

    /// Counts one update and returns its 1 − decay.
    mutating func beginUpdate() -> Float {
        updates += 1
        return 1 - decay(at: updates)
    }

    func hasShadow(_ p: Parameter) -> Bool { shadow[p.name] != nil }

    /// `body` on p's shadow buffer, mutated in place (no copy-on-write). The shadow must exist.
    mutating func withShadow<R>(of p: Parameter, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        shadow[p.name]!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }

    /// shadow ← shadow − oneMinus·(shadow − param) for one parameter (a missing shadow starts as the param).
    mutating func update(_ p: Parameter, oneMinus: Float) {
        if shadow[p.name] == nil { shadow[p.name] = p.value.data }
        p.value.withUnsafe { w in
            withShadow(of: p) { s in emaStep(count: w.count, shadow: s, w: w.baseAddress!, oneMinus: oneMinus) }
        }
    }
}
