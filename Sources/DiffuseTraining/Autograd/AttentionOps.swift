import DiffuseCore
import Foundation

// Backward of multi-head scaled dot-product attention (DiffuseCore.attention, non-causal). Per (batch,
// head) the probabilities are recomputed rather than stored — [Lq, Lk] per head is small at the
// resolutions we train, and keeping them for every layer would hold the whole pass in memory:
//   S = Q·Kᵀ·s, P = softmax(S), O = P·V
//   dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)) · s, dQ = dS·K, dK = dSᵀ·Q

/// q [B, Lq, H·D], k and v [B, Lk, H·D], dOut [B, Lq, H·D] → (dq, dk, dv).
public func attentionBackward(q: Tensor, k: Tensor, v: Tensor, dOut: Tensor, heads: Int) -> (Tensor, Tensor, Tensor) {
    let (b, lq, hd) = (q.shape[0], q.shape[1], q.shape[2])
    let lk = k.shape[1], d = hd / heads
    let scale = 1 / Float(d).squareRoot()
    var dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
    q.withUnsafe { qp in k.withUnsafe { kp in v.withUnsafe { vp in dOut.withUnsafe { op in
    dq.withUnsafeMutable { dqp in dk.withUnsafeMutable { dkp in dv.withUnsafeMutable { dvp in
        let qb = qp.baseAddress!, kb = kp.baseAddress!, vb = vp.baseAddress!, ob = op.baseAddress!
        let dqb = dqp.baseAddress!, dkb = dkp.baseAddress!, dvb = dvp.baseAddress!
        Parallel.forEach(b * heads) { bh in
            let h = bh % heads, batch = bh / heads
            let qOff = batch * lq * hd + h * d, kOff = batch * lk * hd + h * d
            // Contiguous per-head copies: Qh [Lq, D], Kh/Vh [Lk, D], dOh [Lq, D].
            let qh = gather(qb + qOff, rows: lq, d: d, stride: hd), kh = gather(kb + kOff, rows: lk, d: d, stride: hd)
            let vh = gather(vb + kOff, rows: lk, d: d, stride: hd), doh = gather(ob + qOff, rows: lq, d: d, stride: hd)
            var p = [Float](repeating: 0, count: lq * lk), dp = [Float](repeating: 0, count: lq * lk)
            gemm(lq, lk, d, qh, kh, &p)                      // S [Lq, Lk]
            p.withUnsafeMutableBufferPointer { pp in
                for r in 0..<lq { softmax(pp.baseAddress! + r * lk, lk, scale) }
            }
            gemm(lq, lk, d, doh, vh, &dp)                    // dP [Lq, Lk]
            for r in 0..<lq {
                var dot: Float = 0
                for j in 0..<lk { dot += dp[r * lk + j] * p[r * lk + j] }
                for j in 0..<lk { dp[r * lk + j] = p[r * lk + j] * (dp[r * lk + j] - dot) * scale }
            }
            let pT = p.withUnsafeBufferPointer { transposed($0.baseAddress!, rows: lq, cols: lk) }
            let dsT = dp.withUnsafeBufferPointer { transposed($0.baseAddress!, rows: lq, cols: lk) }
            let doT = doh.withUnsafeBufferPointer { transposed($0.baseAddress!, rows: lq, cols: d) }
            let kT = kh.withUnsafeBufferPointer { transposed($0.baseAddress!, rows: lk, cols: d) }
            let qT = qh.withUnsafeBufferPointer { transposed($0.baseAddress!, rows: lq, cols: d) }
            var gv = [Float](repeating: 0, count: lk * d), gq = [Float](repeating: 0, count: lq * d)
            var gk = [Float](repeating: 0, count: lk * d)
            gemm(lk, d, lq, pT, doT, &gv)                    // dV = Pᵀ·dO
            gemm(lq, d, lk, dp, kT, &gq)                     // dQ = dS·K
            gemm(lk, d, lq, dsT, qT, &gk)                    // dK = dSᵀ·Q
            scatter(gq, into: dqb + qOff, rows: lq, d: d, stride: hd)
            scatter(gk, into: dkb + kOff, rows: lk, d: d, stride: hd)
            scatter(gv, into: dvb + kOff, rows: lk, d: d, stride: hd)
        }
    } } } } } } }
    return (dq, dk, dv)
}

/// C [m, n] = A [m, k] · B [n, k]ᵀ on one thread (the caller parallelises over heads).
private func gemm(_ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float], _ c: inout [Float]) {
    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
        gemmNTSerial(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k, c: cp.baseAddress!, ldc: n)
    } } }
}

private func gather(_ src: UnsafePointer<Float>, rows: Int, d: Int, stride: Int) -> [Float] {
    var out = [Float](repeating: 0, count: rows * d)
    for r in 0..<rows { for x in 0..<d { out[r * d + x] = src[r * stride + x] } }
    return out
}

private func scatter(_ src: [Float], into dst: UnsafeMutablePointer<Float>, rows: Int, d: Int, stride: Int) {
    for r in 0..<rows { for x in 0..<d { dst[r * stride + x] = src[r * d + x] } }
}

/// In-place softmax(scale · row), max-subtracted as DiffuseCore's forward.
private func softmax(_ row: UnsafeMutablePointer<Float>, _ n: Int, _ scale: Float) {
    var mx = -Float.infinity
    for j in 0..<n { mx = max(mx, row[j]) }
    var sum: Float = 0
    for j in 0..<n { let e = Foundation.exp((row[j] - mx) * scale); row[j] = e; sum += e }
    for j in 0..<n { row[j] /= sum }
}
