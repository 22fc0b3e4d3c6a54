import DiffuseCore

// Backward of a 2-D convolution (NCHW, square stride/padding) as two gemmNT products per image over
// the classic im2col layout cols[C·kh·kw, P] (one row per kernel tap, P = output pixels):
//   dW [O, CK] += dy [O, P] · colsᵀ      (B operand = cols [CK, P], already "NT")
//   dcols [CK, P] = Wᵀ [CK, O] · dy      (B operand = dyᵀ [P, O])
// and col2im scatters dcols back onto the input (the transposed convolution).

struct ConvGeometry {
    let c: Int, h: Int, w: Int, kh: Int, kw: Int, stride: Int, padding: Int
    var ho: Int { (h + 2 * padding - kh) / stride + 1 }
    var wo: Int { (w + 2 * padding - kw) / stride + 1 }
    var p: Int { ho * wo }
    var ck: Int { c * kh * kw }

    /// cols [CK, P] of one image x [C, H, W]; taps that fall in the padding read 0.
    func im2col(_ x: UnsafePointer<Float>, into cols: UnsafeMutablePointer<Float>) {
        let (ho, wo, p) = (self.ho, self.wo, self.p)
        Parallel.forRange(c, minChunk: 4) { chans in
            for ch in chans { for ky in 0..<kh { for kx in 0..<kw {
                let row = cols + ((ch * kh + ky) * kw + kx) * p
                let plane = x + ch * h * w
                for oy in 0..<ho {
                    let iy = oy * stride - padding + ky
                    let out = row + oy * wo
                    if iy < 0 || iy >= h { for ox in 0..<wo { out[ox] = 0 }; continue }
                    for ox in 0..<wo {
                        let ix = ox * stride - padding + kx
                        out[ox] = (ix >= 0 && ix < w) ? plane[iy * w + ix] : 0
                    }
                }
            } } }
        }
    }

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
    let n = x.shape[0], o = w.shape[0], p = g.p, ck = g.ck
    precondition(dy.shape == [n, o, g.ho, g.wo], "conv2dBackward: dy \(dy.shape) vs expected \([n, o, g.ho, g.wo])")
    var dx = Tensor(zeros: x.shape)
    let wT = w.withUnsafe { transposed($0.baseAddress!, rows: o, cols: ck) }  // [CK, O]
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: ck * p)
    defer { cols.deallocate() }
    x.withUnsafe { xp in dy.withUnsafe { dyp in dx.withUnsafeMutable { dxp in dw.withUnsafeMutable { dwp in
        wT.withUnsafeBufferPointer { wt in
            for img in 0..<n {
                let dyi = dyp.baseAddress! + img * o * p
                g.im2col(xp.baseAddress! + img * g.c * g.h * g.w, into: cols)
                gemmNT(m: o, n: ck, k: p, a: dyi, lda: p, b: cols, ldb: p, c: dwp.baseAddress!, ldc: ck,
                       accumulate: true)
                let dyT = transposed(dyi, rows: o, cols: p)  // [P, O]
                dyT.withUnsafeBufferPointer { dt in
                    gemmNT(m: ck, n: p, k: o, a: wt.baseAddress!, lda: o, b: dt.baseAddress!, ldb: o, c: cols, ldc: p)
                }
                g.col2im(cols, into: dxp.baseAddress! + img * g.c * g.h * g.w)
                if let db {
                    for oc in 0..<o {
                        var s: Float = 0
                        for i in 0..<p { s += dyi[oc * p + i] }
                        db[oc] += s
                    }
                }
            }
        }
    } } } }
    return dx
}
