// Linear layers and convolutions on top of gemmNT. Weights are read in their stored dtype; non-f32
// weights are widened a block of output rows at a time so a full f32 copy never exists.

/// Rows of `w` [N, K] widened into a scratch buffer `rowsPerBlock` at a time; f32 weights are used in place.
@inline(__always)
func withWidenedRows(_ w: Weight, rows n: Int, k: Int, rowsPerBlock: Int,
                     _ body: (_ rowRange: Range<Int>, _ ptr: UnsafePointer<Float>) -> Void) {
    if w.dtype == .f32 {
        body(0..<n, w.base.assumingMemoryBound(to: Float.self))
        return
    }
    let block = max(1, min(n, rowsPerBlock))
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: block * k)
    defer { scratch.deallocate() }
    var r0 = 0
    while r0 < n {
        let r1 = min(n, r0 + block)
        w.widen(from: r0 * k, count: (r1 - r0) * k, into: scratch)
        body(r0..<r1, UnsafePointer(scratch))
        r0 = r1
    }
}

/// y[..., N] = x[..., K] · wᵀ + b, with `w` in torch's Linear layout [N, K].
public func linear(_ x: Tensor, _ w: Weight, _ b: Weight? = nil) -> Tensor {
    let k = w.shape[1], n = w.shape[0]
    precondition(x.shape.last == k, "linear: input \(x.shape) vs weight \(w.shape)")
    let m = x.count / k
    var outShape = x.shape
    outShape[outShape.count - 1] = n
    var y = Tensor(zeros: outShape)
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            withWidenedRows(w, rows: n, k: k, rowsPerBlock: max(16, 262_144 / max(k, 1))) { rows, wp in
                gemmNT(m: m, n: rows.count, k: k, a: xp.baseAddress!, lda: k,
                       b: wp, ldb: k, c: yp.baseAddress! + rows.lowerBound, ldc: n)
            }
            if let b { addBias(yp.baseAddress!, rows: m, cols: n, bias: b) }
        }
    }
    return y
}

/// y[r, c] += bias[c] for a row-major [rows, cols] buffer.
func addBias(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: Weight) {
    let bv = bias.toTensor().data
    bv.withUnsafeBufferPointer { bp in
        Parallel.forRange(rows, minChunk: max(1, 16384 / max(cols, 1))) { r in
            for i in r {
                let row = y + i * cols
                for j in 0..<cols { row[j] += bp[j] }
            }
        }
    }
}

/// 2-D convolution, NCHW: x [N, C, H, W], w [O, C, kh, kw], bias [O] → [N, O, Ho, Wo].
/// Implemented as im2col + gemm over chunks of output pixels, so the column buffer stays a few MB at
/// any resolution (a full im2col of a 512-px VAE layer would be over a gigabyte).
public func conv2d(_ x: Tensor, _ w: Weight, _ b: Weight? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    precondition(w.shape[1] == c, "conv2d: input \(x.shape) vs weight \(w.shape)")
    let ho = (h + 2 * padding - kh) / stride + 1
    let wo = (wd + 2 * padding - kw) / stride + 1
    let p = ho * wo, ck = c * kh * kw
    var y = Tensor(zeros: [n, o, ho, wo])
    let wf = w.dtype == .f32 ? nil : w.toTensor().data
    let chunk = max(64, min(p, (4 << 20) / max(ck * 4, 1)))
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            withWeightPointer(w, widened: wf) { wp in
                let cols = UnsafeMutablePointer<Float>.allocate(capacity: chunk * ck)
                defer { cols.deallocate() }
                for img in 0..<n {
                    let xi = xp.baseAddress! + img * c * h * wd
                    let yi = yp.baseAddress! + img * o * p
                    var p0 = 0
                    while p0 < p {
                        let p1 = min(p, p0 + chunk)
                        if kh == 1 && kw == 1 && stride == 1 && padding == 0 {
                            transposeChannels(xi, c: c, p: p, range: p0..<p1, into: cols)
                        } else {
                            im2colRows(xi, c: c, h: h, w: wd, kh: kh, kw: kw, stride: stride, padding: padding,
                                       wo: wo, range: p0..<p1, into: cols)
                        }
                        gemmNT(m: o, n: p1 - p0, k: ck, a: wp, lda: ck, b: cols, ldb: ck, c: yi + p0, ldc: p)
                        p0 = p1
                    }
                }
            }
            if let b { addChannelBias(yp.baseAddress!, n: n, c: o, plane: p, bias: b) }
        }
    }
    return y
}

@inline(__always)
func withWeightPointer(_ w: Weight, widened: [Float]?, _ body: (UnsafePointer<Float>) -> Void) {
    if let widened { widened.withUnsafeBufferPointer { body($0.baseAddress!) } }
    else { body(w.base.assumingMemoryBound(to: Float.self)) }
}

/// cols[q, ch] = x[ch, p0 + q]: a 1×1 convolution only needs the channel-pixel transpose.
private func transposeChannels(_ x: UnsafePointer<Float>, c: Int, p: Int, range: Range<Int>,
                               into cols: UnsafeMutablePointer<Float>) {
    let count = range.count
    Parallel.forRange(count, minChunk: 256) { qs in
        for ch in 0..<c {
            let src = x + ch * p + range.lowerBound
            for q in qs { cols[q * c + ch] = src[q] }
        }
    }
}

/// cols[q, (ch, ky, kx)] for output pixels q in `range`; zero where the window leaves the image.
private func im2colRows(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, kh: Int, kw: Int,
                        stride: Int, padding: Int, wo: Int, range: Range<Int>,
                        into cols: UnsafeMutablePointer<Float>) {
    let ck = c * kh * kw
    Parallel.forRange(range.count, minChunk: 64) { qs in
        for q in qs {
            let pix = range.lowerBound + q
            let oy = pix / wo, ox = pix % wo
            let row = cols + q * ck
            var idx = 0
            for ch in 0..<c {
                let plane = x + ch * h * w
                for ky in 0..<kh {
                    let iy = oy * stride - padding + ky
                    for kx in 0..<kw {
                        let ix = ox * stride - padding + kx
                        row[idx] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? plane[iy * w + ix] : 0
                        idx += 1
                    }
                }
            }
        }
    }
}

func addChannelBias(_ y: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int, bias: Weight) {
    let bv = bias.toTensor().data
    Parallel.forRange(n * c) { r in
        for nc in r {
            let v = bv[nc % c]
            let row = y + nc * plane
            for i in 0..<plane { row[i] += v }
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
