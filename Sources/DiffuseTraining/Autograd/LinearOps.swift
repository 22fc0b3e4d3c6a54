import DiffuseCore

// Backward of y = x·Wᵀ + b, built on gemmNT (C = A·Bᵀ, both read along K): each product below names
// which operand had to be transposed into that layout.

/// Gradients of `linear` for x [..., K], w [N, K], dy [..., N]: returns dx [..., K]; adds dyᵀ·x into
/// dw [N, K] and the row sums of dy into db [N].
public func linearBackward(x: Tensor, w: Tensor, dy: Tensor, dw: inout Tensor, db: UnsafeMutablePointer<Float>?) -> Tensor {
    let n = w.shape[0], k = w.shape[1]
    let m = x.count / k
    precondition(dy.count == m * n, "linearBackward: dy \(dy.shape) vs x \(x.shape), w \(w.shape)")
    var dx = Tensor(zeros: x.shape)
    dy.withUnsafe { dyp in
        let dyb = dyp.baseAddress!
        // dx [M, K] = dy [M, N] · W [N, K]  → B operand Wᵀ [K, N]
        let wT = w.withUnsafe { transposed($0.baseAddress!, rows: n, cols: k) }
        wT.withUnsafeBufferPointer { wt in
            dx.withUnsafeMutable { d in
                gemmNT(m: m, n: k, k: n, a: dyb, lda: n, b: wt.baseAddress!, ldb: n, c: d.baseAddress!, ldc: k)
            }
        }
        // dW [N, K] += dyᵀ [N, M] · x [M, K]  → A = dyᵀ, B = xᵀ [K, M]
        let dyT = transposed(dyb, rows: m, cols: n)
        let xT = x.withUnsafe { transposed($0.baseAddress!, rows: m, cols: k) }
        dyT.withUnsafeBufferPointer { a in
            xT.withUnsafeBufferPointer { b in
                dw.withUnsafeMutable { c in
                    gemmNT(m: n, n: k, k: m, a: a.baseAddress!, lda: m, b: b.baseAddress!, ldb: m,
                           c: c.baseAddress!, ldc: k, accumulate: true)
                }
            }
            if let db {
                Parallel.forRange(n, minChunk: 64) { r in
                    for j in r {
                        var s: Float = 0
                        let row = a.baseAddress! + j * m
                        for i in 0..<m { s += row[i] }
                        db[j] += s
                    }
                }
            }
        }
    }
    return dx
}
