// 2-D convolution as an implicit GEMM: y[o, pixel] = Σ_(c,ky,kx) w[o, (c,ky,kx)] · x[c, iy, ix].
// The weight is the A operand (its [O, C·kh·kw] rows are already K-contiguous) and the image is the B
// operand, read straight into the GEMM's packed panels by `Im2colSource`: no column matrix is ever
// built (a full im2col of a 512-px VAE layer would be over a gigabyte), and the output comes out NCHW.

/// 2-D convolution, NCHW: x [N, C, H, W], w [O, C, kh, kw], bias [O] → [N, O, Ho, Wo]. `residual` (the
/// output's shape) is added through the GEMM's accumulation instead of a separate pass.
public func conv2d(_ x: Tensor, _ w: Weight, _ b: Weight? = nil, stride: Int = 1, padding: Int = 0,
                   residual: Tensor? = nil) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    precondition(w.shape[1] == c, "conv2d: input \(x.shape) vs weight \(w.shape)")
    let ho = (h + 2 * padding - kh) / stride + 1
    let wo = (wd + 2 * padding - kw) / stride + 1
    let p = ho * wo, ck = c * kh * kw
    // Bias first, product accumulated onto it: saves a pass over y.
    var y: Tensor
    if var r = residual {
        precondition(r.shape == [n, o, ho, wo], "conv2d: residual \(r.shape) vs output \([n, o, ho, wo])")
        if let b { r.withUnsafeMutable { addChannels($0.baseAddress!, n: n, c: o, plane: p, with: b) } }
        y = r
    } else {
        y = Tensor(shape: [n, o, ho, wo]) { yp in
            if let b { fillChannels(yp.baseAddress!, n: n, c: o, plane: p, with: b) }
        }
    }
    let accumulate = b != nil || residual != nil
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            let xb = xp.baseAddress!, yb = yp.baseAddress!
            let pointwise = kh == 1 && kw == 1 && stride == 1 && padding == 0
            func image(_ i: Int) -> Im2colSource {
                Im2colSource(x: xb + i * c * h * wd, c: c, h: h, w: wd, kh: kh, kw: kw, stride: stride, pad: padding, wo: wo)
            }
            let a = WeightSource(w: w, ld: ck)
            if n > 1 {
                // All images as one GEMM (columns image by image): the weights are packed once per call,
                // which matters at low resolution where each weight is used for few pixels. Each image's
                // columns are padded to whole tiles (4×4 = 16 pixels against 32-wide tiles at the UNet's
                // lowest level): the padding costs what a partial tile per image cost anyway.
                let pPad = roundUp(p, GemmTile.active.nr)
                let out = ImageColumns(columns: pPad, stride: o * p, valid: p)
                if pointwise {
                    let src = ImageBatchSource(images: (0..<n).map { KMajorSource(base: xb + $0 * c * p, ld: p) },
                                               rowsPerImage: pPad, validRows: p)
                    gemmParallel(m: o, n: n * pPad, k: ck, a: a, b: src, c: yb, ldc: p, out: out, accumulate: accumulate)
                } else {
                    let src = ImageBatchSource(images: (0..<n).map(image), rowsPerImage: pPad, validRows: p)
                    gemmParallel(m: o, n: n * pPad, k: ck, a: a, b: src, c: yb, ldc: p, out: out, accumulate: accumulate)
                }
                return
            }
            for img in 0..<n {
                let yi = yb + img * o * p
                if pointwise {
                    // A 1×1 convolution reads the image as B = x[C, H·W] directly (K-major): no transpose.
                    gemmParallel(m: o, n: p, k: ck, a: a, b: KMajorSource(base: xb + img * c * p, ld: p),
                                 c: yi, ldc: p, accumulate: accumulate)
                } else {
                    gemmParallel(m: o, n: p, k: ck, a: a, b: image(img), c: yi, ldc: p, accumulate: accumulate)
                }
            }
        }
    }
    return y
}

/// y[n, c, :] = v[c] for every image n.
func fillChannels(_ y: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int, with v: Weight) {
    let bv = v.toTensor().data
    for nc in 0..<(n * c) { (y + nc * plane).update(repeating: bv[nc % c], count: plane) }
}

/// y[n, c, :] += v[c] for every image n.
func addChannels(_ y: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int, with v: Weight) {
    let bv = v.toTensor().data
    for nc in 0..<(n * c) { let row = y + nc * plane, add = bv[nc % c]; for i in 0..<plane { row[i] += add } }
}

/// The im2col matrix of one image, element(pixel, (ch, ky, kx)) = x[ch, oy·s − pad + ky, ox·s − pad + kx]
/// (zero outside the image), produced panel by panel without materialising it.
struct Im2colSource: PanelSource {
    let x: UnsafePointer<Float>
    let c: Int, h: Int, w: Int, kh: Int, kw: Int, stride: Int, pad: Int, wo: Int

    @inline(__always)
    func pack(rows j0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        if coversWholeRows(j0: j0, count: count, width: width) {   // Im2colRows.swift
            packWholeRows(j0: j0, width: width, k: p0, kc: kc, into: dst)
            return
        }
        let oy0 = j0 / wo, ox0 = j0 % wo
        // Common case: the panel's pixels lie in one output row, so each (ch, ky, kx) reads `width`
        // consecutive inputs (stride 1) of one input row.
        let oneRow = stride == 1 && count == width && ox0 + width <= wo
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * width) { t in
            let iyBase = t.baseAddress!, ixBase = t.baseAddress! + width
            for q in 0..<width {
                let pix = j0 + min(q, count - 1)
                iyBase[q] = (pix / wo) * stride - pad
                ixBase[q] = (pix % wo) * stride - pad
            }
            var kx = p0 % kw, ky = (p0 / kw) % kh, ch = p0 / (kw * kh)
            for p in 0..<kc {
                let d = dst + p * width
                let plane = x + ch * h * w
                if oneRow {
                    let iy = oy0 - pad + ky, ix0 = ox0 - pad + kx
                    if iy < 0 || iy >= h {
                        d.update(repeating: 0, count: width)
                    } else if ix0 >= 0 && ix0 + width <= w {
                        d.update(from: plane + iy * w + ix0, count: width)
                    } else {
                        let row = plane + iy * w
                        for q in 0..<width { let ix = ix0 + q; d[q] = ix >= 0 && ix < w ? row[ix] : 0 }
                    }
                } else {
                    for q in 0..<width {
                        let iy = iyBase[q] + ky, ix = ixBase[q] + kx
                        d[q] = q < count && iy >= 0 && iy < h && ix >= 0 && ix < w ? plane[iy * w + ix] : 0
                    }
                }
                kx += 1
                if kx == kw { kx = 0; ky += 1; if ky == kh { ky = 0; ch += 1 } }
            }
        }
    }
}

/// Naive direct convolution (Double accumulation): the reference `conv2d` is tested against.
public func conv2dReference(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: Int, padding: Int) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let ho = (h + 2 * padding - kh) / stride + 1, wo = (wd + 2 * padding - kw) / stride + 1
    var y = Tensor(zeros: [n, o, ho, wo])
    for img in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
        var s = Double(b?.data[oc] ?? 0)
        for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
            let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
            if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
            s += Double(x.data[((img * c + ic) * h + iy) * wd + ix]) * Double(w.data[((oc * c + ic) * kh + ky) * kw + kx])
        } } }
        y.data[((img * o + oc) * ho + oy) * wo + ox] = Float(s)
    } } } }
    return y
}
