// Linear layers on top of the packed GEMM. Weights are read in their stored dtype and widened while
// packing, so a full f32 copy never exists.

/// y[..., N] = x[..., K] · wᵀ + b, with `w` in torch's Linear layout [N, K].
public func linear(_ x: Tensor, _ w: Weight, _ b: Weight? = nil) -> Tensor {
    let k = w.shape[1], n = w.shape[0]
    precondition(x.shape.last == k, "linear: input \(x.shape) vs weight \(w.shape)")
    let m = x.count / k
    var outShape = x.shape
    outShape[outShape.count - 1] = n
    // The bias is written first and the product accumulated onto it (what torch's addmm does), which
    // saves a separate pass over y.
    var y = Tensor(shape: outShape) { yp in
        if let b { fillRows(yp.baseAddress!, rows: m, cols: n, with: b) }
    }
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            gemmNT(m: m, n: n, k: k, a: xp.baseAddress!, lda: k, weight: w, c: yp.baseAddress!, ldc: n,
                   accumulate: b != nil)
        }
    }
    return y
}

/// y[r, c] = v[c] for a row-major [rows, cols] buffer.
func fillRows(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, with v: Weight) {
    if rows == 0 { return }
    v.widen(from: 0, count: cols, into: y)
    for r in 1..<rows { (y + r * cols).update(from: y, count: cols) }
}
