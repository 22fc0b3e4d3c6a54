import Foundation

// Multi-head scaled dot-product attention. Queries are processed in blocks, so at most
// [blockRows, Lk] scores per thread exist at once: at 512 px (4096 tokens) the full score matrix per
// head would be 64 MB, and materialising it is what makes naive implementations slow and large.

/// q [B, Lq, H·D], k and v [B, Lk, H·D] → [B, Lq, H·D]. Scale 1/√D; `causal` masks keys after the query
/// (CLIP's text transformer).
public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool = false) -> Tensor {
    let (b, lq, hd) = (q.shape[0], q.shape[1], q.shape[2])
    let lk = k.shape[1]
    let d = hd / heads
    let scale = 1 / Float(d).squareRoot()
    let block = 64
    let qBlocks = (lq + block - 1) / block
    var out = Tensor(zeros: q.shape)
    q.withUnsafe { qp in k.withUnsafe { kp in v.withUnsafe { vp in out.withUnsafeMutable { op in
        let qb = qp.baseAddress!, kb = kp.baseAddress!, vb = vp.baseAddress!, ob = op.baseAddress!
        Parallel.forRange(b * heads * qBlocks) { tasks in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: block * lk)
            defer { scores.deallocate() }
            for task in tasks {
                let qBlock = task % qBlocks, bh = task / qBlocks
                let h = bh % heads, batch = bh / heads
                let r0 = qBlock * block, rows = min(block, lq - r0)
                let qOff = (batch * lq + r0) * hd + h * d
                let kvOff = batch * lk * hd + h * d
                // scores[rows, Lk] = Q_blk · Kᵀ
                gemmNTSerial(m: rows, n: lk, k: d, a: qb + qOff, lda: hd, b: kb + kvOff, ldb: hd, c: scores, ldc: lk)
                for r in 0..<rows {
                    let row = scores + r * lk
                    let valid = causal ? min(lk, r0 + r + 1) : lk
                    softmaxRow(row, count: valid, scale: scale)
                    for j in valid..<lk { row[j] = 0 }
                    // out_row = Σ_j p_j · V_j
                    let o = ob + qOff + r * hd
                    for x in 0..<d { o[x] = 0 }
                    for j in 0..<valid {
                        let pj = row[j]
                        let vr = vb + kvOff + j * hd
                        for x in 0..<d { o[x] += pj * vr[x] }
                    }
                }
            }
        }
    } } } }
    return out
}

/// In-place softmax(scale · row[0..<count]).
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, count: Int, scale: Float) {
    var mx = -Float.infinity
    for j in 0..<count { mx = max(mx, row[j]) }
    var sum: Float = 0
    for j in 0..<count { let e = Foundation.exp((row[j] - mx) * scale); row[j] = e; sum += e }
    let inv = 1 / sum
    for j in 0..<count { row[j] *= inv }
}

/// Naive reference: full score matrix, Double softmax.
public func attentionReference(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool = false) -> Tensor {
    let (b, lq, hd) = (q.shape[0], q.shape[1], q.shape[2])
    let lk = k.shape[1], d = hd / heads
    let scale = 1 / Double(d).squareRoot()
    var out = Tensor(zeros: q.shape)
    for bb in 0..<b { for h in 0..<heads { for i in 0..<lq {
        var s = [Double](repeating: -.infinity, count: lk)
        for j in 0..<lk where !(causal && j > i) {
            var acc = 0.0
            for x in 0..<d { acc += Double(q.data[(bb * lq + i) * hd + h * d + x]) * Double(k.data[(bb * lk + j) * hd + h * d + x]) }
            s[j] = acc * scale
        }
        let mx = s.max()!
        let e = s.map { Foundation.exp($0 - mx) }
        let z = e.reduce(0, +)
        for x in 0..<d {
            var acc = 0.0
            for j in 0..<lk { acc += e[j] / z * Double(v.data[(bb * lk + j) * hd + h * d + x]) }
            out.data[(bb * lq + i) * hd + h * d + x] = Float(acc)
        }
    } } }
    return out
}
