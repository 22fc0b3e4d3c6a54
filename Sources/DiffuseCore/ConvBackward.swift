// Weight gradient of a 2-D convolution as one implicit GEMM over the whole batch:
//   dW [O, C·kh·kw] += Σ_images dy [O, P] · cols [C·kh·kw, P]ᵀ
// with K = N·P (every output pixel of every image). K is the pixel axis, which NCHW stores contiguously —
// packing from there would transpose every element — so x and dy are first copied channels-last, after
// which each packed panel row is a few contiguous channel runs. No im2col matrix is built, and the
// weight-gradient block stays in cache across all images.

/// dw [O, C, kh, kw] += the weight gradient of `conv2d(x, w, stride:, padding:)` for x [N, C, H, W] and
/// dy [N, O, Ho, Wo].
public func conv2dWeightGradient(x: Tensor, dy: Tensor, kh: Int, kw: Int, stride: Int, padding: Int,
                                 dw: UnsafeMutablePointer<Float>) {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, ho, wo) = (dy.shape[1], dy.shape[2], dy.shape[3])
    precondition(dy.shape[0] == n && ho == (h + 2 * padding - kh) / stride + 1 && wo == (w + 2 * padding - kw) / stride + 1,
                 "conv2dWeightGradient: x \(x.shape) vs dy \(dy.shape)")
    let taps = c * kh * kw, p = ho * wo
    // Channels-last copies make K (pixels) the outer index of both operands, so packing is contiguous
    // copies of channel runs instead of a transpose: one pass over x and dy buys that.
    let xLast = UnsafeMutablePointer<Float>.allocate(capacity: x.count)
    let dyLast = UnsafeMutablePointer<Float>.allocate(capacity: dy.count)
    let dwTaps = UnsafeMutablePointer<Float>.allocate(capacity: o * taps)   // [O, (ky, kx, C)]
    defer { xLast.deallocate(); dyLast.deallocate(); dwTaps.deallocate() }
    x.withUnsafe { toChannelsLast($0.baseAddress!, images: n, channels: c, plane: h * w, into: xLast) }
    dy.withUnsafe { toChannelsLast($0.baseAddress!, images: n, channels: o, plane: p, into: dyLast) }
    let dySource = KMajorSource(base: dyLast, ld: o)
    let tapSource = ChannelsLastTapsSource(x: xLast, c: c, h: h, w: w, kw: kw, stride: stride, pad: padding, ho: ho, wo: wo)
    let k2 = kh * kw
    // dW [O, (ky, kx, C)]; computing dWᵀ instead (less tile padding when O = 32) was slower: the taps
    // source then packs 12-wide panels, with its per-segment index arithmetic repeated 2.7× as often.
    gemmParallel(m: o, n: taps, k: n * p, a: dySource, b: tapSource, c: dwTaps, ldc: taps, accumulate: false)
    Parallel.forRange(o, minChunk: max(1, 16384 / max(taps, 1))) { ocs in
        for oc in ocs { for ic in 0..<c { for k in 0..<k2 { dw[(oc * c + ic) * k2 + k] += dwTaps[oc * taps + k * c + ic] } } }
    }
}

/// [N, C, P] → [N, P, C] in blocks of 8 channels × 64 pixels (8 read streams, contiguous writes), images in parallel.
func toChannelsLast(_ src: UnsafePointer<Float>, images n: Int, channels c: Int, plane p: Int,
                    into dst: UnsafeMutablePointer<Float>) {
    Parallel.forRange(n) { imgs in
        for img in imgs {
            let s = src + img * c * p, d = dst + img * c * p
            var c0 = 0
            while c0 < c {
                let c1 = min(c, c0 + 8)
                var p0 = 0
                while p0 < p {
                    let p1 = min(p, p0 + 64)
                    for i in p0..<p1 { for ch in c0..<c1 { d[i * c + ch] = s[ch * p + i] } }
                    p0 = p1
                }
                c0 = c1
            }
        }
    }
}

/// Naive weight gradient (Double accumulation): the reference `conv2dWeightGradient` is tested against.
public func conv2dWeightGradientReference(x: Tensor, dy: Tensor, kh: Int, kw: Int, stride: Int, padding: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, ho, wo) = (dy.shape[1], dy.shape[2], dy.shape[3])
    var dw = Tensor(zeros: [o, c, kh, kw])
    for oc in 0..<o { for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
        var s = 0.0
        for img in 0..<n { for oy in 0..<ho { for ox in 0..<wo {
            let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
            if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
            s += Double(x.data[((img * c + ic) * h + iy) * w + ix]) * Double(dy.data[((img * o + oc) * ho + oy) * wo + ox])
        } } }
        dw.data[((oc * c + ic) * kh + ky) * kw + kx] = Float(s)
    } } } }
    return dw
}

/// The transposed im2col of a batch from channels-last x [N, H, W, C], taps ordered (ky, kx, c):
/// element(tap, q) = x[image, oy·s − pad + ky, ox·s − pad + kx, c] for output pixel q = image · Ho·Wo + oy · Wo
/// + ox, zero in the padding. A panel row (fixed pixel) is a few contiguous channel runs.
struct ChannelsLastTapsSource: PanelSource {
    let x: UnsafePointer<Float>
    let c: Int, h: Int, w: Int, kw: Int, stride: Int, pad: Int, ho: Int, wo: Int

    @inline(__always)
    func pack(rows t0: Int, count: Int, width: Int, k q0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        let plane = ho * wo
        var img = q0 / plane, oy = (q0 % plane) / wo, ox = q0 % wo
        for p in 0..<kc {
            let d = dst + p * width
            let image = x + img * h * w * c
            var r = 0
            while r < count {
                let t = t0 + r, k = t / c, c0 = t - k * c
                let seg = min(c - c0, count - r)
                let iy = oy * stride - pad + k / kw, ix = ox * stride - pad + k % kw
                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                    let s = image + (iy * w + ix) * c + c0, dd = d + r
                    var j = 0
                    while j + 8 <= seg { storeVec(dd + j, loadVec(s + j)); j += 8 }
                    while j < seg { dd[j] = s[j]; j += 1 }
                } else {
                    for j in r..<(r + seg) { d[j] = 0 }
                }
                r += seg
            }
            while r < width { d[r] = 0; r += 1 }
            ox += 1
            if ox == wo { ox = 0; oy += 1; if oy == ho { oy = 0; img += 1 } }
        }
    }
}
