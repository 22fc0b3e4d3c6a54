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
    // saves a separate pass over y; the residual is copied in the same (threaded) pass.
    var y: Tensor
    if let r = residual {
        precondition(r.shape == outShape, "linear: residual \(r.shape) vs output \(outShape)")
        y = Tensor.overwritten(shape: outShape) { yp in
            r.withUnsafe { addRowsParallel($0.baseAddress!, b, to: yp, rows: m, cols: n) }
        }
    } else {
        y = Tensor.overwritten(shape: outShape) { yp in
            if let b { fillRowsParallel(yp, rows: m, cols: n, with: b) } else { zeroParallel(yp, count: m * n) }
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

/// A 1×1 convolution read as tokens: x [N, C, H, W], w [O, C, 1, 1] → [N, H·W, O], the same as
/// channelsLast(conv2d(x, w, b)) without the transpose (the image is the GEMM's A operand, K-major).
public func conv1x1ToTokens(_ x: Tensor, _ w: Weight, _ b: Weight?) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1]), p = x.count / (n * c), o = w.shape[0]
    precondition(w.count == o * c, "conv1x1ToTokens: input \(x.shape) vs weight \(w.shape)")
    var y = Tensor.overwritten(shape: [n, p, o]) { yp in
        if let b { fillRowsParallel(yp, rows: n * p, cols: o, with: b) } else { zeroParallel(yp, count: n * p * o) }
    }
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            let image = { KMajorSource(base: xp.baseAddress! + $0 * c * p, ld: p) }
            if imagesShareTiles(n: n, p: p, width: GemmTile.active.nr) {
                // Small images (the 4×4 level): one GEMM whose rows are all images' pixels, tight (an A
                // panel may straddle two images; y's rows are contiguous across images anyway), so the
                // weights are packed once, not once per thread with whole images per thread. Tested
                // bit-identical to the per-image path.
                let a = ImageBatchSource(images: (0..<n).map(image), rowsPerImage: p, validRows: p)
                gemmParallel(m: n * p, n: o, k: c, a: a, b: WeightSource(w: w, ld: c), c: yp.baseAddress!, ldc: o,
                             accumulate: b != nil)
                return
            }
            forImages(n, m: p, n: o, k: c, accumulate: b != nil, a: image, b: { _ in WeightSource(w: w, ld: c) },
                      c: { yp.baseAddress! + $0 * p * o }, ldc: o)
        }
    }
    return y
}

/// The inverse reading: tokens [N, H·W, C], w [O, C, 1, 1] → residual + conv2d(channelsFirst(tokens), w, b),
/// [N, O, H, W] (the shape of `residual`), with no transpose and no separate residual pass.
public func conv1x1FromTokens(_ t: Tensor, _ w: Weight, _ b: Weight?, residual: Tensor) -> Tensor {
    let (n, p, c) = (t.shape[0], t.shape[1], t.shape[2]), o = w.shape[0]
    precondition(w.count == o * c && residual.count == n * o * p, "conv1x1FromTokens: \(t.shape), \(w.shape), \(residual.shape)")
    var y = Tensor.overwritten(shape: residual.shape) { yp in
        residual.withUnsafe { addChannelsParallel($0.baseAddress!, b, to: yp, n: n, c: o, plane: p) }
    }
    y.withUnsafeMutable { yp in
        t.withUnsafe { tp in
            if imagesShareTiles(n: n, p: p, width: GemmTile.active.nr) {
                // Small images (the 4×4 level): one GEMM over all images' tokens (contiguous rows of t) with
                // the tight column layout, so two 16-token images fill one 32-wide tile and the weights are
                // packed once. Tested bit-identical to the per-image path.
                let out = ImageColumns(columns: p, stride: o * p)
                gemmParallel(m: o, n: n * p, k: c, a: WeightSource(w: w, ld: c), b: RowMajorSource(base: tp.baseAddress!, ld: c),
                             c: yp.baseAddress!, ldc: p, out: out, accumulate: true)
                return
            }
            forImages(n, m: o, n: p, k: c, accumulate: true,
                      a: { _ in WeightSource(w: w, ld: c) }, b: { RowMajorSource(base: tp.baseAddress! + $0 * p * c, ld: c) },
                      c: { yp.baseAddress! + $0 * o * p }, ldc: p)
        }
    }
    return y
}

/// One GEMM per image: C_img (+)= A(img) · B(img)ᵀ, each [m × k]·[k × n] into c(img) with row stride ldc.
/// With at least as many images as threads, in equal shares, each thread takes whole images: one parallel
/// region instead of one per image, no uneven tile split, and the weight packed once per thread instead of
/// once per thread per image. Otherwise each image's GEMM is split as usual. Either way every output
/// element gets the same K blocking (it depends on K only), so the results are bit-identical.
@inline(__always)
func forImages<A: PanelSource, B: PanelSource>(
    _ images: Int, m: Int, n: Int, k: Int, accumulate: Bool,
    a: (Int) -> A, b: (Int) -> B, c: (Int) -> UnsafeMutablePointer<Float>, ldc: Int
) {
    let t = Parallel.threads
    if t > 1 && images >= t && images % t == 0 && m * n * max(k, 1) >= 1 << 18 {
        Parallel.forRange(images) { imgs in
            for img in imgs {
                gemmBlocked(rows: 0..<m, cols: 0..<n, k: k, a: a(img), b: b(img), c: c(img), ldc: ldc, accumulate: accumulate)
            }
        }
    } else {
        for img in 0..<images {
            gemmParallel(m: m, n: n, k: k, a: a(img), b: b(img), c: c(img), ldc: ldc, accumulate: accumulate)
        }
    }
}
