import DiffuseCore
import Foundation

// Backward of multi-head scaled dot-product attention (DiffuseCore.attention, non-causal). Per (batch,
// head) the probabilities are recomputed rather than stored — [Lq, Lk] per head is small at the
// resolutions we train, and keeping them for every layer would hold the whole pass in memory:
//   S = Q·Kᵀ·s, P = softmax(S), O = P·V
//   dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)) · s, dQ = dS·K, dK = dSᵀ·Q
// Every product reads its head's columns in place (row stride H·D) and writes its gradient in place.

/// q [B, Lq, H·D], k and v [B, Lk, H·D], dOut [B, Lq, H·D] → (dq, dk, dv).
public func attentionBackward(q: Tensor, k: Tensor, v: Tensor, dOut: Tensor, heads: Int) -> (Tensor, Tensor, Tensor) {
    let (b, lq, hd) = (q.shape[0], q.shape[1], q.shape[2])
    let lk = k.shape[1], d = hd / heads
    let scale = 1 / Float(d).squareRoot()
    // Every element is written: each (batch, head) covers its own columns of every row.
    var dq = uninitializedTensor(q.shape) { _ in }, dk = uninitializedTensor(k.shape) { _ in }
    var dv = uninitializedTensor(v.shape) { _ in }
    q.withUnsafe { qp in k.withUnsafe { kp in v.withUnsafe { vp in dOut.withUnsafe { op in
    dq.withUnsafeMutable { dqp in dk.withUnsafeMutable { dkp in dv.withUnsafeMutable { dvp in
        let qb = qp.baseAddress!, kb = kp.baseAddress!, vb = vp.baseAddress!, ob = op.baseAddress!
        let dqb = dqp.baseAddress!, dkb = dkp.baseAddress!, dvb = dvp.baseAddress!
        Parallel.forEach(b * heads) { bh in
            let h = bh % heads, batch = bh / heads
            let qOff = batch * lq * hd + h * d, kOff = batch * lk * hd + h * d
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * lq * lk) { scratch in
                let p = scratch.baseAddress!, dp = p + lq * lk
                // S [Lq, Lk] = Qh · Khᵀ, then P = softmax(S·s) row by row
                gemm(transA: false, transB: true, m: lq, n: lk, k: d, a: qb + qOff, lda: hd, b: kb + kOff, ldb: hd,
                     c: p, ldc: lk, serial: true)
                for r in 0..<lq { softmax(p + r * lk, lk, scale) }
                // dP [Lq, Lk] = dOh · Vhᵀ
                gemm(transA: false, transB: true, m: lq, n: lk, k: d, a: ob + qOff, lda: hd, b: vb + kOff, ldb: hd,
                     c: dp, ldc: lk, serial: true)
                for r in 0..<lq {
                    let pr = p + r * lk, dr = dp + r * lk
                    var dot: Float = 0
                    for j in 0..<lk { dot += dr[j] * pr[j] }
                    for j in 0..<lk { dr[j] = pr[j] * (dr[j] - dot) * scale }
                }
                // dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q, each [rows, D] at row stride H·D
                gemm(transA: true, transB: false, m: lk, n: d, k: lq, a: p, lda: lk, b: ob + qOff, ldb: hd,
                     c: dvb + kOff, ldc: hd, serial: true)
                gemm(transA: false, transB: false, m: lq, n: d, k: lk, a: dp, lda: lk, b: kb + kOff, ldb: hd,
                     c: dqb + qOff, ldc: hd, serial: true)
                gemm(transA: true, transB: false, m: lk, n: d, k: lq, a: dp, lda: lk, b: qb + qOff, ldb: hd,
                     c: dkb + kOff, ldc: hd, serial: true)
            }
        }
    } } } } } } }
    return (dq, dk, dv)
}

/// In-place softmax(scale · row), max-subtracted as DiffuseCore's forward.
private func softmax(_ row: UnsafeMutablePointer<Float>, _ n: Int, _ scale: Float) {
    var mx = -Float.infinity
    for j in 0..<n { mx = max(mx, row[j]) }
    var sum: Float = 0
    for j in 0..<n { let e = Foundation.exp((row[j] - mx) * scale); row[j] = e; sum += e }
    for j in 0..<n { row[j] /= sum }
}
