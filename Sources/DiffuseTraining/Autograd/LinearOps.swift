import DiffuseCore

// Backward of y = x·Wᵀ + b. Both products read an operand along its stored rows' other axis; the GEMM
// packs it transposed straight from that layout (gemm(transA:transB:)), so nothing is copied first.

/// Gradients of `linear` for x [..., K], w [N, K], dy [..., N]: returns dx [..., K]; adds dyᵀ·x into
/// dw [N, K] and the column sums of dy into db [N].
public func linearBackward(x: Tensor, w: Tensor, dy: Tensor, dw: inout Tensor, db: UnsafeMutablePointer<Float>?) -> Tensor {
    let n = w.shape[0], k = w.shape[1]
    let m = x.count / k
    precondition(dy.count == m * n, "linearBackward: dy \(dy.shape) vs x \(x.shape), w \(w.shape)")
    return dy.withUnsafe { dyp in
        let dyb = dyp.baseAddress!
        x.withUnsafe { xp in
            dw.withUnsafeMutable { c in
                // dW [N, K] += dyᵀ [N, M] · x [M, K]
                gemm(transA: true, transB: false, m: n, n: k, k: m, a: dyb, lda: n, b: xp.baseAddress!, ldb: k,
                     c: c.baseAddress!, ldc: k, accumulate: true)
            }
        }
        if let db { addColumnSums(dyb, rows: m, cols: n, into: db) }
        // dx [M, K] = dy [M, N] · W [N, K]
        return uninitializedTensor(x.shape) { d in
            w.withUnsafe { wp in
                gemm(transA: false, transB: false, m: m, n: k, k: n, a: dyb, lda: n, b: wp.baseAddress!, ldb: k,
                     c: d.baseAddress!, ldc: k)
            }
        }
    }
}

/// out[j] += Σ_i a[i, j] for a [rows, cols], each column summed from row 0 down in float32 (the order a
/// per-column loop takes), rows streamed once.
func addColumnSums(_ a: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { t in
        let s = t.baseAddress!
        s.initialize(repeating: 0, count: cols)
        for i in 0..<rows {
            let row = a + i * cols
            for j in 0..<cols { s[j] += row[j] }
        }
        for j in 0..<cols { out[j] += s[j] }
    }
}
