import DiffuseCore
import Foundation

// Backward of the normalisations. With x̂ = (x − μ)·rstd over a group of n values and dx̂ = dy·γ:
//   dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)),  dγ += Σ dy·x̂,  dβ += Σ dy.
// Statistics are recomputed here (cheap) in Double, as DiffuseCore's forward kernels compute them.

/// Gradients of `groupNorm(x, groups:, weight:, bias:, eps:)` (no fused SiLU): x and dy [N, C, ...].
/// Returns dx; adds into dgamma, dbeta [C].
public func groupNormBackward(x: Tensor, dy: Tensor, groups: Int, gamma: Tensor, eps: Float,
                              dgamma: inout Tensor, dbeta: inout Tensor) -> Tensor {
    let n = x.shape[0], c = x.shape[1]
    let plane = x.count / (n * c), cpg = c / groups
    var dx = uninitializedTensor(x.shape) { _ in }   // every element written below
    // Per-(sample, channel) partial sums so threads never write the same slot.
    var dgPart = [Float](repeating: 0, count: n * c), dbPart = [Float](repeating: 0, count: n * c)
    x.withUnsafe { xp in dy.withUnsafe { dyp in dx.withUnsafeMutable { dxp in
        dgPart.withUnsafeMutableBufferPointer { dgp in dbPart.withUnsafeMutableBufferPointer { dbp in
            let xb = xp.baseAddress!, dyb = dyp.baseAddress!, dxb = dxp.baseAddress!
            let dgb = dgp.baseAddress!, dbb = dbp.baseAddress!
            Parallel.forEach(n * groups) { ng in
                let g = ng % groups, sample = ng / groups
                let start = ng * cpg * plane, len = cpg * plane
                let (mean, rstd) = moments(xb + start, len, eps)
                var sumD = 0.0, sumDX = 0.0
                for cc in 0..<cpg {
                    let ch = g * cpg + cc, gm = Double(gamma.data[ch])
                    var sdy = 0.0, sdyx = 0.0
                    for i in 0..<plane {
                        let at = start + cc * plane + i
                        let xh = (Double(xb[at]) - mean) * rstd, d = Double(dyb[at])
                        sdy += d; sdyx += d * xh
                    }
                    dgb[sample * c + ch] = Float(sdyx); dbb[sample * c + ch] = Float(sdy)
                    sumD += sdy * gm; sumDX += sdyx * gm
                }
                let mD = sumD / Double(len), mDX = sumDX / Double(len)
                for cc in 0..<cpg {
                    let gm = Double(gamma.data[g * cpg + cc])
                    for i in 0..<plane {
                        let at = start + cc * plane + i
                        let xh = (Double(xb[at]) - mean) * rstd
                        dxb[at] = Float(rstd * (Double(dyb[at]) * gm - mD - xh * mDX))
                    }
                }
            }
        } }
    } } }
    for s in 0..<n { for ch in 0..<c { dgamma.data[ch] += dgPart[s * c + ch]; dbeta.data[ch] += dbPart[s * c + ch] } }
    return dx
}

/// Gradients of `layerNorm(x, weight:, bias:, eps:)` over the last dimension. Returns dx; adds into dgamma, dbeta.
/// Rows are split into one contiguous chunk per thread, each with its own Double partial sums of dγ, dβ
/// (added in chunk order, so the result does not depend on timing).
public func layerNormBackward(x: Tensor, dy: Tensor, gamma: Tensor, eps: Float,
                              dgamma: inout Tensor, dbeta: inout Tensor) -> Tensor {
    let d = x.shape.last!, rows = x.count / d
    let chunks = max(1, min(Parallel.threads, rows / 64))
    var partial = [Double](repeating: 0, count: 2 * d * chunks)   // per chunk: dγ [d], then dβ [d]
    var dx = uninitializedTensor(x.shape) { _ in }   // every element written below
    x.withUnsafe { xp in dy.withUnsafe { dyp in dx.withUnsafeMutable { dxp in gamma.withUnsafe { gp in
        partial.withUnsafeMutableBufferPointer { pp in
            let xb = xp.baseAddress!, dyb = dyp.baseAddress!, dxb = dxp.baseAddress!, gm = gp.baseAddress!
            let pb = pp.baseAddress!
            let per = (rows + chunks - 1) / chunks
            Parallel.forEach(chunks) { chunk in
                let dgPart = pb + chunk * 2 * d, dbPart = dgPart + d
                for row in (chunk * per)..<min(rows, (chunk + 1) * per) {
                    let s = xb + row * d, g = dyb + row * d, o = dxb + row * d
                    let (mean, rstd) = moments(s, d, eps)
                    var mD = 0.0, mDX = 0.0
                    for i in 0..<d {
                        let xh = (Double(s[i]) - mean) * rstd, dd = Double(g[i])
                        dgPart[i] += dd * xh; dbPart[i] += dd
                        let dxh = dd * Double(gm[i])
                        mD += dxh; mDX += dxh * xh
                    }
                    mD /= Double(d); mDX /= Double(d)
                    for i in 0..<d {
                        let xh = (Double(s[i]) - mean) * rstd
                        o[i] = Float(rstd * (Double(g[i]) * Double(gm[i]) - mD - xh * mDX))
                    }
                }
            }
        }
    } } } }
    for i in 0..<d {
        var dg = 0.0, db = 0.0
        for chunk in 0..<chunks { dg += partial[chunk * 2 * d + i]; db += partial[chunk * 2 * d + d + i] }
        dgamma.data[i] += Float(dg); dbeta.data[i] += Float(db)
    }
    return dx
}

/// Mean and 1/√(var + eps) of `len` values, in Double (biased variance, as torch's norms).
@inline(__always)
func moments(_ p: UnsafePointer<Float>, _ len: Int, _ eps: Float) -> (Double, Double) {
    var sum = 0.0
    for i in 0..<len { sum += Double(p[i]) }
    let mean = sum / Double(len)
    var sq = 0.0
    for i in 0..<len { let v = Double(p[i]) - mean; sq += v * v }
    return (mean, 1 / (sq / Double(len) + Double(eps)).squareRoot())
}
