import DiffuseCore

// Backward of a 2-D convolution (NCHW, square stride/padding):
//   dW [O, C·kh·kw] += Σ_images dy [O, P] · colsᵀ   — one implicit GEMM over the batch (DiffuseCore's
//                                                     conv2dWeightGradient), no column matrix
//   dx = the transposed convolution of dy:
//     stride 1: an ordinary convolution of dy with the flipped, channel-swapped kernel and padding
//               kh − 1 − pad (the forward kernel's batched implicit GEMM);
//     stride > 1: dcols [CK, P] = Wᵀ · dy per image (W read transposed while packing), then col2im
//               scatters the taps back onto the input.

struct ConvGeometry {
    let c: Int, h: Int, w: Int, kh: Int, kw: Int, stride: Int, padding: Int
    var ho: Int { (h + 2 * padding - kh) / stride + 1 }
    var wo: Int { (w + 2 * padding - kw) / stride + 1 }
    var p: Int { ho * wo }
    var ck: Int { c * kh * kw }

    /// dx [C, H, W] += the taps of dcols [CK, P] (col2im); parallel over channels, which never share outputs.
    func col2im(_ dcols: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let (ho, wo, p) = (self.ho, self.wo, self.p)
        Parallel.forRange(c, minChunk: 4) { chans in
            for ch in chans { for ky in 0..<kh { for kx in 0..<kw {
                let row = dcols + ((ch * kh + ky) * kw + kx) * p
                let plane = dx + ch * h * w
                for oy in 0..<ho {
                    let iy = oy * stride - padding + ky
                    if iy < 0 || iy >= h { continue }
                    for ox in 0..<wo {
                        let ix = ox * stride - padding + kx
                        if ix >= 0 && ix < w { plane[iy * w + ix] += row[oy * wo + ox] }
                    }
                }
            } } }
        }
    }
}

/// Gradients of `conv2d(x, w, b, stride:, padding:)`: x [N, C, H, W], w [O, C, kh, kw], dy [N, O, Ho, Wo].
/// Returns dx [N, C, H, W]; adds into dw [O, C, kh, kw] and db [O].
public func conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, stride: Int, padding: Int,
                           dw: inout Tensor, db: UnsafeMutablePointer<Float>?) -> Tensor {
    let g = ConvGeometry(c: x.shape[1], h: x.shape[2], w: x.shape[3], kh: w.shape[2], kw: w.shape[3],
                         stride: stride, padding: padding)
    let n = x.shape[0], o = w.shape[0]
    conv2dParameterGradients(x: x, dy: dy, kh: g.kh, kw: g.kw, stride: stride, padding: padding, dw: &dw, db: db)
    if stride == 1 && padding < g.kh && padding < g.kw {
        return conv2d(dy, Weight(flippedTransposedKernel(w)), nil, stride: 1, padding: g.kh - 1 - padding)
    }
    return stridedInputGradient(g, n: n, o: o, w: w, dy: dy)
}

/// The parameter half of `conv2dBackward`: adds into dw [O, C, kh, kw] and db [O], no input gradient (for a
/// layer whose input is data, not an activation).
public func conv2dParameterGradients(x: Tensor, dy: Tensor, kh: Int, kw: Int, stride: Int, padding: Int,
                                     dw: inout Tensor, db: UnsafeMutablePointer<Float>?) {
    let g = ConvGeometry(c: x.shape[1], h: x.shape[2], w: x.shape[3], kh: kh, kw: kw, stride: stride, padding: padding)
    let n = x.shape[0], o = dw.shape[0], p = g.p
    precondition(dy.shape == [n, o, g.ho, g.wo], "conv2dBackward: dy \(dy.shape) vs expected \([n, o, g.ho, g.wo])")
    dw.withUnsafeMutable { d in
        conv2dWeightGradient(x: x, dy: dy, kh: kh, kw: kw, stride: stride, padding: padding, dw: d.baseAddress!)
    }
    if let db {
        // Output channels split over the threads; each db[oc] still adds its image sums in image order.
        dy.withUnsafe { dyp in
            let base = dyp.baseAddress!
            Parallel.forRange(o, minChunk: max(1, 8192 / max(n * p, 1))) { ocs in
                for img in 0..<n { for oc in ocs { db[oc] += planeSum(base + (img * o + oc) * p, p) } }
            }
        }
    }
}

/// w [O, C, kh, kw] → w' [C, O, kh, kw] with w'[c, o, ky, kx] = w[o, c, kh−1−ky, kw−1−kx]: the kernel whose
/// convolution is the transpose of w's (stride 1). Written in output order (each source tap block is read
/// reversed), output channels split over the threads: a plain copy, so the split changes nothing.
func flippedTransposedKernel(_ w: Tensor) -> Tensor {
    let (o, c, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let taps = kh * kw
    return uninitializedTensor([c, o, kh, kw]) { out in
        w.withUnsafe { src in
            let s = src.baseAddress!, d = out.baseAddress!
            // Blocks of 16 input channels: each source row is read as runs of 16·taps contiguous floats.
            let blocks = (c + 15) / 16
            Parallel.forRange(blocks, minChunk: max(1, 16384 / max(16 * o * taps, 1))) { bs in
                for blk in bs {
                    let c0 = blk * 16, c1 = min(c, c0 + 16)
                    for oc in 0..<o { for ic in c0..<c1 {
                        let from = s + (oc * c + ic) * taps, to = d + (ic * o + oc) * taps
                        for t in 0..<taps { to[t] = from[taps - 1 - t] }
                    } }
                }
            }
        }
    }
}

/// dx of a strided convolution: dcols = Wᵀ · dy per image, then col2im.
private func stridedInputGradient(_ g: ConvGeometry, n: Int, o: Int, w: Tensor, dy: Tensor) -> Tensor {
    let p = g.p, ck = g.ck, imageSize = g.c * g.h * g.w
    var dx = Tensor(zeros: [n, g.c, g.h, g.w])
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: ck * p)
    defer { cols.deallocate() }
    w.withUnsafe { wp in dy.withUnsafe { dyp in dx.withUnsafeMutable { dxp in
        for img in 0..<n {
            // dcols [CK, P] = Wᵀ [CK, O] · dy [O, P]
            gemm(transA: true, transB: false, m: ck, n: p, k: o, a: wp.baseAddress!, lda: ck,
                 b: dyp.baseAddress! + img * o * p, ldb: p, c: cols, ldc: p)
            g.col2im(cols, into: dxp.baseAddress! + img * imageSize)
        }
    } } }
    return dx
}

@inline(__always)
func planeSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var s: Float = 0
    for i in 0..<n { s += p[i] }
    return s
}
