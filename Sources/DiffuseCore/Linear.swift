// Linear layers on top of the packed GEMM. Weights are read in their stored dtype and widened while
// packing, so a full f32 copy never exists.

/// y[..., N] = x[..., K] · wᵀ + b (+ residual), with `w` in torch's Linear layout [N, K]. `residual`
/// (same shape as y) is added in the GEMM's accumulation instead of a separate pass.
public func linear(_ x: Tensor, _ w: Weight, _ b: Weight? = nil, residual: Tensor? = nil) -> Tensor {
    let k = w.shape[1], n = w.shape[0]
    precondition(x.shape.last == k, "linear: input \(x.shape) vs weight \(w.shape)")
    let m = x.count / k
    var outShape = x.shape
    outShape[outShape.count - 1] = n
    // The bias is written first and the product accumulated onto it (what torch's addmm does), which
    // saves a separate pass over y.
    var y: Tensor
    if var r = residual {
        precondition(r.shape == outShape, "linear: residual \(r.shape) vs output \(outShape)")
        if let b { r.withUnsafeMutable { addRows(b, to: $0.baseAddress!, rows: m, cols: n) } }
        y = r
    } else {
        y = Tensor(shape: outShape) { yp in
            if let b { fillRows(yp.baseAddress!, rows: m, cols: n, with: b) }
        }
    }
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            gemmNT(m: m, n: n, k: k, a: xp.baseAddress!, lda: k, weight: w, c: yp.baseAddress!, ldc: n,
                   accumulate: b != nil || residual != nil)
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

/// y[r, c] += v[c] for a row-major [rows, cols] buffer.
func addRows(_ v: Weight, to y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    let bv = v.toTensor().data
    for r in 0..<rows { let row = y + r * cols; for c in 0..<cols { row[c] += bv[c] } }
}

/// A 1×1 convolution read as tokens: x [N, C, H, W], w [O, C, 1, 1] → [N, H·W, O], the same as
/// channelsLast(conv2d(x, w, b)) without the transpose (the image is the GEMM's A operand, K-major).
public func conv1x1ToTokens(_ x: Tensor, _ w: Weight, _ b: Weight?) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1]), p = x.count / (n * c), o = w.shape[0]
    precondition(w.count == o * c, "conv1x1ToTokens: input \(x.shape) vs weight \(w.shape)")
    var y = Tensor(shape: [n, p, o]) { yp in
        if let b { fillRows(yp.baseAddress!, rows: n * p, cols: o, with: b) }
    }
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            for img in 0..<n {
                gemmParallel(m: p, n: o, k: c, a: KMajorSource(base: xp.baseAddress! + img * c * p, ld: p),
                             b: WeightSource(w: w, ld: c), c: yp.baseAddress! + img * p * o, ldc: o,
                             accumulate: b != nil)
            }
        }
    }
    return y
}

/// The inverse reading: tokens [N, H·W, C], w [O, C, 1, 1] → residual + conv2d(channelsFirst(tokens), w, b),
/// [N, O, H, W] (the shape of `residual`), with no transpose and no separate residual pass.
public func conv1x1FromTokens(_ t: Tensor, _ w: Weight, _ b: Weight?, residual: Tensor) -> Tensor {
    let (n, p, c) = (t.shape[0], t.shape[1], t.shape[2]), o = w.shape[0]
    precondition(w.count == o * c && residual.count == n * o * p, "conv1x1FromTokens: \(t.shape), \(w.shape), \(residual.shape)")
    var y = residual
    y.withUnsafeMutable { yp in
        if let b {
            let bv = b.toTensor().data
            for nc in 0..<(n * o) { let row = yp.baseAddress! + nc * p, v = bv[nc % o]; for i in 0..<p { row[i] += v } }
        }
        t.withUnsafe { tp in
            for img in 0..<n {
                gemmParallel(m: o, n: p, k: c, a: WeightSource(w: w, ld: c),
                             b: RowMajorSource(base: tp.baseAddress! + img * p * c, ld: c),
                             c: yp.baseAddress! + img * o * p, ldc: p, accumulate: true)
            }
        }
    }
    return y
}
