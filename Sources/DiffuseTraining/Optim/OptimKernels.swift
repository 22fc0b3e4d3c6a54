import DiffuseCore

// The per-element passes of an optimiser step, eight lanes at a time and split over the threads. Every
// element gets exactly the float operations, in the same order, that the scalar formulas in AdamW.swift /
// EMA.swift give it (Swift never contracts a·b + c into an FMA), and no element's result depends on another's,
// so results are bit-identical to the serial scalar loops whatever the split.
//
// The step is memory-bound (10 M parameters × five float arrays ≈ 200 MB, far beyond the caches), so
// AdamW, the gradient-clipping scale and the EMA run as one pass: each weight is read and written once.

/// Constants of one AdamW step (see AdamW.update for the formula).
struct AdamWStepConstants {
    var oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float, eps: Float
    var decay: Float, stepSize: Float, bc2Sqrt: Float
    /// The gradient-clipping factor (1: none); g·1 is g exactly.
    var gradScale: Float
    /// 1 − EMA decay, used when a shadow buffer is given.
    var emaOneMinus: Float
}

/// Floats below which a pass stays on the calling thread: waking the other one costs more than half of it.
let optimParallelMinFloats = 1 << 15

/// Calls `body` on disjoint ranges covering 0..<n, split over the threads at multiples of 8.
@inline(__always)
func forVectorChunks(_ n: Int, _ body: (Range<Int>) -> Void) {
    let vectors = (n + 7) / 8
    Parallel.forRange(vectors, minChunk: optimParallelMinFloats / 8) { r in
        body((r.lowerBound * 8)..<min(n, r.upperBound * 8))
    }
}

/// One parameter's buffers for a step. The pointers stay valid while nobody reassigns or resizes the arrays
/// behind them: they live only inside `AdamW.update`, which does neither.
struct AdamWSlot {
    let w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    let shadow: UnsafeMutablePointer<Float>?
    let count: Int
}

/// One AdamW step (and EMA where a slot has a shadow) over every slot in a single parallel region: the
/// slots' elements, laid end to end, are cut into one range per thread. A region per parameter would wake
/// the other thread a hundred times a step, and on a loaded machine each wake-up can cost far more than the
/// work it hands over.
func adamWStep(_ slots: [AdamWSlot], _ k: AdamWStepConstants) {
    forEachSlotRange(slots.map(\.count)) { i, r in adamWRange(r, slots[i], k) }
}

/// Calls body(slot, local range) for the parts of the slots' concatenated elements each thread gets.
func forEachSlotRange(_ counts: [Int], _ body: (Int, Range<Int>) -> Void) {
    forVectorChunks(counts.reduce(0, +)) { r in
        var offset = 0
        for (i, n) in counts.enumerated() {
            if offset >= r.upperBound { break }
            let lo = max(r.lowerBound, offset), hi = min(r.upperBound, offset + n)
            if lo < hi { body(i, (lo - offset)..<(hi - offset)) }
            offset += n
        }
    }
}

/// The step on elements `r` of one slot.
@inline(__always)
private func adamWRange(_ r: Range<Int>, _ sl: AdamWSlot, _ k: AdamWStepConstants) {
    let (w, g, m, v) = (sl.w, sl.g, sl.m, sl.v)
    var i = r.lowerBound
    while i + 8 <= r.upperBound {
        let gi = load8(g + i) * k.gradScale
        var wi = load8(w + i) * k.decay
        let mi = load8(m + i) + (gi - load8(m + i)) * k.oneMinusBeta1
        let vi = load8(v + i) * k.beta2 + k.oneMinusBeta2 * gi * gi
        let denom = vi.squareRoot() / k.bc2Sqrt + k.eps
        wi -= k.stepSize * (mi / denom)
        store8(m + i, mi); store8(v + i, vi); store8(w + i, wi)
        if let s = sl.shadow { let si = load8(s + i); store8(s + i, si - k.emaOneMinus * (si - wi)) }
        i += 8
    }
    while i < r.upperBound {
        let gi = g[i] * k.gradScale
        w[i] *= k.decay
        m[i] += (gi - m[i]) * k.oneMinusBeta1
        v[i] = v[i] * k.beta2 + k.oneMinusBeta2 * gi * gi
        let denom = v[i].squareRoot() / k.bc2Sqrt + k.eps
        w[i] -= k.stepSize * (m[i] / denom)
        if let s = sl.shadow { s[i] -= k.emaOneMinus * (s[i] - w[i]) }
        i += 1
    }
}

/// shadow ← shadow − oneMinus·(shadow − w) over `count` elements.
func emaStep(count n: Int, shadow s: UnsafeMutablePointer<Float>, w: UnsafePointer<Float>, oneMinus: Float) {
    forVectorChunks(n) { r in
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            let si = load8(s + i)
            store8(s + i, si - oneMinus * (si - load8(w + i)))
            i += 8
        }
        while i < r.upperBound { s[i] -= oneMinus * (s[i] - w[i]); i += 1 }
    }
}

/// g ← g·coef over `count` elements.
func scaleInPlace(_ g: UnsafeMutablePointer<Float>, count n: Int, by coef: Float) {
    forVectorChunks(n) { r in
        var i = r.lowerBound
        while i + 8 <= r.upperBound { store8(g + i, load8(g + i) * coef); i += 8 }
        while i < r.upperBound { g[i] *= coef; i += 1 }
    }
}
