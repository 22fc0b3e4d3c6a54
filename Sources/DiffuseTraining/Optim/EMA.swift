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
        updates += 1
        let oneMinus = 1 - decay(at: updates)
        for p in params {
            var s = shadow[p.name] ?? p.value.data
            p.value.withUnsafe { w in for i in 0..<s.count { s[i] -= oneMinus * (s[i] - w[i]) } }
            shadow[p.name] = s
        }
    }
}
