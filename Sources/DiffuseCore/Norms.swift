import Foundation

// Normalisations. Statistics are accumulated in Double: torch's CPU kernels use a pairwise/Welford
// float path, and Double keeps us at least as close to the exact value as they are.

/// GroupNorm over x [N, C, ...]: `groups` groups of C/groups channels; optional fused SiLU afterwards.
public func groupNorm(_ x: Tensor, groups: Int, weight: Weight, bias: Weight, eps: Float, silu fuseSilu: Bool = false) -> Tensor {
    let n = x.shape[0], c = x.shape[1]
    let plane = x.count / (n * c)
    let cpg = c / groups
    let gamma = weight.toTensor().data, beta = bias.toTensor().data
    var y = Tensor.overwritten(shape: x.shape) { _ in }   // every element written below
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            Parallel.forEach(n * groups) { ng in
                let g = ng % groups
                let start = ng * cpg * plane, len = cpg * plane
                let src = xp.baseAddress! + start, dst = yp.baseAddress! + start
                var sum = 0.0
                for i in 0..<len { sum += Double(src[i]) }
                let mean = sum / Double(len)
                var sq = 0.0
                for i in 0..<len { let d = Double(src[i]) - mean; sq += d * d }
                let rstd = 1.0 / (sq / Double(len) + Double(eps)).squareRoot()
                for cc in 0..<cpg {
                    let ch = g * cpg + cc
                    let scale = Float(rstd) * gamma[ch]
                    let shift = beta[ch] - Float(mean) * scale
                    let s = src + cc * plane, d = dst + cc * plane
                    for i in 0..<plane { d[i] = s[i] * scale + shift }
                    // SiLU on the plane while it is still in cache.
                    if fuseSilu { siluInPlace(d, count: plane) }
                }
            }
        }
    }
    return y
}

/// LayerNorm over the last dimension.
public func layerNorm(_ x: Tensor, weight: Weight, bias: Weight, eps: Float) -> Tensor {
    let d = x.shape.last!
    let rows = x.count / d
    let gamma = weight.toTensor().data, beta = bias.toTensor().data
    var y = Tensor.overwritten(shape: x.shape) { _ in }   // every element written below
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            Parallel.forRange(rows, minChunk: 8) { r in
                for row in r {
                    let s = xp.baseAddress! + row * d, o = yp.baseAddress! + row * d
                    var sum = 0.0
                    for i in 0..<d { sum += Double(s[i]) }
                    let mean = sum / Double(d)
                    var sq = 0.0
                    for i in 0..<d { let v = Double(s[i]) - mean; sq += v * v }
                    let rstd = Float(1.0 / (sq / Double(d) + Double(eps)).squareRoot())
                    let m = Float(mean)
                    for i in 0..<d { o[i] = (s[i] - m) * rstd * gamma[i] + beta[i] }
                }
            }
        }
    }
    return y
}

// File-local SIMD load/store: in debug builds (no whole-module optimisation) a helper from another file
// is an out-of-line call even when marked always-inline, which costs more than the load itself.
@inline(__always)
fileprivate func load8f(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
fileprivate func load8f(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
fileprivate func store8f(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
