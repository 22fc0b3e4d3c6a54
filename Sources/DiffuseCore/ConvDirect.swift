import DiffuseKernelsAVX512
import Foundation

// Stride-1 convolution GEMM that reads the image in place instead of packing it (AVX-512 tile only).
//
// With the output's pixels as the tile's 32-wide side, a panel of 32 output pixels in one row reads, for
// each k = (ch, ky, kx), 32 consecutive inputs of one input row: B's row k is x + off[k] + (panel's first
// input), with off[k] = ch·H·W + ky·W + kx the same for every panel. Away from the image border that row
// is already contiguous in memory, so the micro-kernel loads it directly (`avx512Kernel12x32Gather`) and
// packing, which cost 12–20% of the time of the high-resolution, few-channel VAE layers (every input read
// 9 times per thread from a different channel plane), disappears. Panels touching the border (zero padding)
// are packed as before. The FMA chain per output element is unchanged, so the result is bit-identical to
// the packed path (tested).

/// Whether `conv2dDirect` handles this convolution: stride 1, AVX-512 tile, output rows a whole number of
/// tiles wide (so no panel straddles two rows), offsets within Int32 (of the zero-bordered copy, when made).
func conv2dDirectApplies(stride: Int, pad: Int, wo: Int, c: Int, h: Int, w: Int, tile: GemmTile) -> Bool {
    tile == .avx512 && stride == 1 && wo % tile.nr == 0 && c * (h + 2 * pad) * (w + 2 * pad) < Int(Int32.max)
}

/// Whether `conv2dDirect` first copies the input into a zero-bordered buffer: when every panel would touch
/// the border (output rows one or two panels wide: the 32×32 level of the built-in model, 64×64 latents),
/// so that the in-place path would pack everything. The copy is one pass over x; packing, with few output
/// channels to share each packed panel (32 at the built-in model's top level), cost half as much as the
/// micro-kernel there.
@inline(__always)
func directPadsInput(wo: Int, pad: Int, tile: Int) -> Bool { pad > 0 && wo <= 2 * tile && directPaddingEnabled }

/// `DIFFUSE_NO_DIRECT_PADDING=1` packs border panels as before (results are identical; for timing both).
let directPaddingEnabled = ProcessInfo.processInfo.environment["DIFFUSE_NO_DIRECT_PADDING"] != "1"

/// y[img, o, pixel] (+)= Σ_k w[o, k] · im2col(x[img])[pixel, k] for every image, one GEMM with columns image
/// by image. x: [n, c, h, w], y: [n, o, ho, wo].
func conv2dDirect(x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, kh: Int, kw: Int, pad: Int,
                  weight: WeightSource, o: Int, ho: Int, wo: Int, y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let tile = GemmTile.avx512, tc = tile.nr
    if directPadsInput(wo: wo, pad: pad, tile: tc) {
        let (hp, wp) = (h + 2 * pad, w + 2 * pad)
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: n * c * hp * wp)   // [n, c, hp, wp]
        defer { padded.deallocate() }
        Parallel.forRange(n * c, minChunk: max(1, 16384 / (hp * wp))) { planes in
            for plane in planes {
                let d = padded + plane * hp * wp, s = x + plane * h * w
                zeroFloats(d, pad * wp)
                for iy in 0..<h {
                    let row = d + (iy + pad) * wp
                    for q in 0..<pad { row[q] = 0; row[pad + w + q] = 0 }
                    copyFloats(row + pad, s + iy * w, w)
                }
                zeroFloats(d + (pad + h) * wp, pad * wp)
            }
        }
        conv2dDirect(x: padded, n: n, c: c, h: hp, w: wp, kh: kh, kw: kw, pad: 0, weight: weight, o: o, ho: ho, wo: wo,
                     y: y, accumulate: accumulate)
        return
    }
    let k = c * kh * kw, p = ho * wo
    var offsets = [Int32](repeating: 0, count: k)
    for ch in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
        offsets[(ch * kh + ky) * kw + kx] = Int32(ch * h * w + ky * w + kx)
    } } }
    let geometry = DirectConvGeometry(x: x, c: c, h: h, w: w, kh: kh, kw: kw, pad: pad, ho: ho, wo: wo)
    offsets.withUnsafeBufferPointer { off in
        let panels = n * p / tc
        func run(_ ps: Range<Int>) {
            directBlocked(panels: ps, m: o, k: k, a: weight, geometry: geometry, offsets: off.baseAddress!,
                          y: y, o: o, accumulate: accumulate)
        }
        if Parallel.threads <= 1 || o * n * p * k < 1 << 18 { run(0..<panels) } else { Parallel.forRange(panels, run) }
    }
}

/// Where a panel of 32 output pixels reads and writes.
struct DirectConvGeometry {
    let x: UnsafePointer<Float>
    let c: Int, h: Int, w: Int, kh: Int, kw: Int, pad: Int, ho: Int, wo: Int

    /// The image, its packer, and the input address of the panel's first tap (nil when the panel touches
    /// the zero border and must be packed).
    @inline(__always)
    func panel(_ j: Int, tile: Int) -> (img: Int, pixel: Int, direct: UnsafePointer<Float>?) {
        let p = ho * wo, img = j / p, pixel = j % p
        let iy = pixel / wo - pad, ix = pixel % wo - pad
        let inside = iy >= 0 && iy + kh <= h && ix >= 0 && ix + tile - 1 + kw <= w
        return (img, pixel, inside ? x + img * c * h * w + iy * w + ix : nil)
    }

    func source(_ img: Int) -> Im2colSource {
        Im2colSource(x: x + img * c * h * w, c: c, h: h, w: w, kh: kh, kw: kw, stride: 1, pad: pad, wo: wo)
    }
}

/// One thread's share: panels `panels` (32 columns each) of C, all rows. Blocking as in `gemmBlocked`;
/// only border panels are packed.
private func directBlocked(panels: Range<Int>, m: Int, k: Int, a: WeightSource, geometry g: DirectConvGeometry,
                           offsets: UnsafePointer<Int32>, y: UnsafeMutablePointer<Float>, o: Int, accumulate: Bool) {
    let tile = GemmTile.avx512, tr = tile.mr, tc = tile.nr
    if panels.isEmpty || m <= 0 { return }
    let kc0 = balancedBlock(k, limit: gemmKC, multiple: 1)
    let mc0 = balancedBlock(m, limit: gemmMC, multiple: tr)
    let np0 = balancedBlock(panels.count * tc, limit: gemmNC, multiple: tc) / tc
    let packA = UnsafeMutablePointer<Float>.allocate(capacity: mc0 * kc0)
    let packB = UnsafeMutablePointer<Float>.allocate(capacity: np0 * tc * kc0)
    defer { packA.deallocate(); packB.deallocate() }
    let p = g.ho * g.wo
    var jc = panels.lowerBound
    while jc < panels.upperBound {
        let np = min(np0, panels.upperBound - jc)
        var pc = 0
        while pc < k {
            let kc = min(kc0, k - pc)
            for q in 0..<np {
                let (img, pixel, direct) = g.panel((jc + q) * tc, tile: tc)
                if direct == nil {
                    g.source(img).pack(rows: pixel, count: tc, width: tc, k: pc, kc: kc, into: packB + q * tc * kc)
                }
            }
            var ic = 0
            while ic < m {
                let mc = min(mc0, m - ic)
                packPanels(a, rows: ic, count: mc, width: tr, k: pc, kc: kc, into: packA)
                let acc = accumulate || pc > 0
                for q in 0..<np {
                    let (img, pixel, direct) = g.panel((jc + q) * tc, tile: tc)
                    let cq = y + img * o * p + ic * p + pixel
                    var ir = 0
                    while ir < mc {
                        let mr = min(tr, mc - ir), ap = packA + ir * kc, ci = cq + ir * p
                        if let direct {
                            directTile(kc, ap, direct, offsets + pc, ci, p, mr: mr, acc)
                        } else {
                            microTile(tile, kc, ap, packB + q * tc * kc, ci, p, mr: mr, nr: tc, acc)
                        }
                        ir += tr
                    }
                }
                ic += mc
            }
            pc += kc
        }
        jc += np
    }
}

/// A 12×32 tile with B read in place; fewer than 12 rows go through a scratch tile as in `microTile`.
@inline(__always)
private func directTile(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ off: UnsafePointer<Int32>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, mr: Int, _ accumulate: Bool) {
    if mr == 12 { avx512Kernel12x32Gather(kc, a, b, off, c, ldc, accumulate); return }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 12 * 32) { t in
        let scratch = t.baseAddress!
        avx512Kernel12x32Gather(kc, a, b, off, scratch, 32, false)
        addOrCopyRows(from: scratch, 32, to: c, ldc, rows: mr, columns: 32, accumulate)
    }
}
