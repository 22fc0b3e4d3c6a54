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

/// One AdamW step over `count` elements (and the EMA of the updated weights when `shadow` is given).
func adamWStep(count n: Int, w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
               v: UnsafeMutablePointer<Float>, shadow: UnsafeMutablePointer<Float>?, _ k: AdamWStepConstants) {
    forVectorChunks(n) { r in
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            let gi = load8(g + i) * k.gradScale
            var wi = load8(w + i) * k.decay
            let mi = load8(m + i) + (gi - load8(m + i)) * k.oneMinusBeta1
            let vi = load8(v + i) * k.beta2 + k.oneMinusBeta2 * gi * gi
            let denom = vi.squareRoot() / k.bc2Sqrt + k.eps
            wi -= k.stepSize * (mi / denom)
            store8(m + i, mi); store8(v + i, vi); store8(w + i, wi)
            if let s = shadow { let si = load8(s + i); store8(s + i, si - k.emaOneMinus * (si - wi)) }
            i += 8
        }
        while i < r.upperBound {
            let gi = g[i] * k.gradScale
            w[i] *= k.decay
            m[i] += (gi - m[i]) * k.oneMinusBeta1
            v[i] = v[i] * k.beta2 + k.oneMinusBeta2 * gi * gi
            let denom = v[i].squareRoot() / k.bc2Sqrt + k.eps
            w[i] -= k.stepSize * (m[i] / denom)
            if let s = shadow { s[i] -= k.emaOneMinus * (s[i] - w[i]) }
            i += 1
        }
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

/// `count` floats set to zero, split over the threads.
func zeroFill(_ p: UnsafeMutablePointer<Float>, count n: Int) {
    forVectorChunks(n) { r in (p + r.lowerBound).update(repeating: 0, count: r.count) }
}

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) private func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) private func store8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
