// 2-D convolution as an implicit GEMM: y[o, pixel] = Σ_(c,ky,kx) w[o, (c,ky,kx)] · x[c, iy, ix].
// The weight is the A operand (its [O, C·kh·kw] rows are already K-contiguous) and the image is the B
// operand, read straight into the GEMM's packed panels by `Im2colSource`: no column matrix is ever
// built (a full im2col of a 512-px VAE layer would be over a gigabyte), and the output comes out NCHW.

/// 2-D convolution, NCHW: x [N, C, H, W], w [O, C, kh, kw], bias [O] → [N, O, Ho, Wo]. `residual` (the
/// output's shape) is added through the GEMM's accumulation instead of a separate pass.
public func conv2d(_ x: Tensor, _ w: Weight, _ b: Weight? = nil, stride: Int = 1, padding: Int = 0,
                   residual: Tensor? = nil) -> Tensor {
    conv2d(x, w, b, stride: stride, padding: padding, residual: residual, direct: true)
}

/// `direct: false` forces the packed path even where the in-place one applies (tests compare the two);
/// `winograd` forces Winograd on or off (nil: where `winogradApplies` says it is faster).
func conv2d(_ x: Tensor, _ w: Weight, _ b: Weight?, stride: Int, padding: Int, residual: Tensor?,
            direct: Bool, winograd: Bool? = nil) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    precondition(w.shape[1] == c, "conv2d: input \(x.shape) vs weight \(w.shape)")
    let ho = (h + 2 * padding - kh) / stride + 1
    let wo = (wd + 2 * padding - kw) / stride + 1
    let p = ho * wo, ck = c * kh * kw
    // Bias first, product accumulated onto it: saves a pass over y. The residual is copied in the same
    // (threaded) pass.
    var y: Tensor
    if let r = residual {
        precondition(r.shape == [n, o, ho, wo], "conv2d: residual \(r.shape) vs output \([n, o, ho, wo])")
        y = Tensor.overwritten(shape: r.shape) { yp in
            r.withUnsafe { addChannelsParallel($0.baseAddress!, b, to: yp, n: n, c: o, plane: p) }
        }
    } else {
        y = Tensor.overwritten(shape: [n, o, ho, wo]) { yp in
            if let b { fillChannelsParallel(yp, n: n, c: o, plane: p, with: b) } else { zeroParallel(yp, count: n * o * p) }
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
            let winogradFits = kh == 3 && kw == 3 && stride == 1 && padding == 1
            if winograd ?? winogradApplies(kh: kh, kw: kw, stride: stride, padding: padding, n: n, c: c, h: h, w: wd, o: o) {
                precondition(winogradFits, "conv2d: Winograd forced on a \(kh)×\(kw) stride-\(stride) pad-\(padding) convolution")
                conv2dWinograd(x: xb, n: n, c: c, h: h, w: wd, weight: w, o: o, y: yb, accumulate: accumulate)
                return
            }
            let a = WeightSource(w: w, ld: ck)
            if direct && conv2dDirectApplies(stride: stride, pad: padding, wo: wo, c: c, h: h, w: wd, tile: GemmTile.active) {
                conv2dDirect(x: xb, n: n, c: c, h: h, w: wd, kh: kh, kw: kw, pad: padding, weight: a, o: o, ho: ho,
                             wo: wo, y: yb, accumulate: accumulate)
                return
            }
            if n > 1 {
                // All images as one GEMM (columns image by image): the weights are packed once per call,
                // which matters at low resolution where each weight is used for few pixels. Images smaller
                // than a tile share tiles (the tight layout of GemmImageBatch.swift: 2 × 16 pixels in one
                // 32-wide tile at the UNet's lowest level, where padding each image to a tile computed
                // twice the FMAs); otherwise each image's columns are padded to whole tiles.
                let nr = GemmTile.active.nr
                let cols = imagesShareTiles(n: n, p: p, width: nr) ? p : roundUp(p, nr)
                let out = ImageColumns(columns: cols, stride: o * p, valid: p)
                if pointwise {
                    let src = ImageBatchSource(images: (0..<n).map { KMajorSource(base: xb + $0 * c * p, ld: p) },
                                               rowsPerImage: cols, validRows: p)
                    gemmParallel(m: o, n: n * cols, k: ck, a: a, b: src, c: yb, ldc: p, out: out, accumulate: accumulate)
                } else {
                    let src = ImageBatchSource(images: (0..<n).map(image), rowsPerImage: cols, validRows: p)
                    gemmParallel(m: o, n: n * cols, k: ck, a: a, b: src, c: yb, ldc: p, out: out, accumulate: accumulate)
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
        if stride != 1 || width > 32 {
            packReference(rows: j0, count: count, width: width, k: p0, kc: kc, into: dst)
            return
        }
        // Stride 1: the panel's pixels are runs along output rows (one run when the panel lies in one row,
        // two or more when an image row is narrower than the panel, as at the UNet's 16×16 and 8×8 levels),
        // and each (ch, ky, kx) reads a run as consecutive inputs of one input row. Runs are copied with
        // vector loads and stores: a library memmove per 32 floats cost as much as the copy itself.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * 32) { t in
            // Run r covers panel columns start[r] ..< start[r + 1] (the last one ..< count); its first
            // pixel reads input (iy0[r] + ky, ix0[r] + kx).
            let start = t.baseAddress!, iy0 = start + 32, ix0 = start + 64
            var runs = 0, q = 0
            while q < count {
                let pix = j0 + q, ox = pix % wo
                start[runs] = q; iy0[runs] = pix / wo - pad; ix0[runs] = ox - pad
                runs += 1
                q += min(count - q, wo - ox)
            }
            var kx = p0 % kw, ky = (p0 / kw) % kh, ch = p0 / (kw * kh)
            for p in 0..<kc {
                let d = dst + p * width
                let plane = x + ch * h * w
                for r in 0..<runs {
                    let q0 = start[r], q1 = r + 1 < runs ? start[r + 1] : count
                    let iy = iy0[r] + ky, ixs = ix0[r] + kx
                    copyRun(d + q0, row: plane + iy * w, rowValid: iy >= 0 && iy < h, from: ixs, count: q1 - q0, w: w)
                }
                for q in count..<width { d[q] = 0 }
                kx += 1
                if kx == kw { kx = 0; ky += 1; if ky == kh { ky = 0; ch += 1 } }
            }
        }
    }

    /// d[q] = row[ix + q] for q < count, zero where ix + q is outside 0 ..< w or the row is outside the image.
    @inline(__always)
    private func copyRun(_ d: UnsafeMutablePointer<Float>, row: UnsafePointer<Float>, rowValid: Bool, from ix: Int,
                         count: Int, w: Int) {
        if !rowValid { zeroFloats(d, count); return }
        let lo = min(count, max(0, -ix)), hi = max(lo, min(count, w - ix))
        for q in 0..<lo { d[q] = 0 }
        copyFloats(d + lo, row + ix + lo, hi - lo)
        for q in hi..<count { d[q] = 0 }
    }

    /// Element by element, any stride: the path for strided convolutions and the reference `pack` is tested
    /// against.
    func packReference(rows j0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
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
                for q in 0..<width {
                    let iy = iyBase[q] + ky, ix = ixBase[q] + kx
                    d[q] = q < count && iy >= 0 && iy < h && ix >= 0 && ix < w ? plane[iy * w + ix] : 0
                }
                kx += 1
                if kx == kw { kx = 0; ky += 1; if ky == kh { ky = 0; ch += 1 } }
            }
        }
    }
}

/// d[0 ..< count] = s[0 ..< count], 8 floats per load/store.
@inline(__always)
func copyFloats(_ d: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Float>, _ count: Int) {
    var i = 0
    while i + 8 <= count { storeVec(d + i, loadVec(s + i)); i += 8 }
    while i < count { d[i] = s[i]; i += 1 }
}

@inline(__always)
func zeroFloats(_ d: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    while i + 8 <= count { storeVec(d + i, SIMD8<Float>()); i += 8 }
    while i < count { d[i] = 0; i += 1 }
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
