import CDiffuseCPU
import Dispatch
import Foundation

// The GEMM engine: a register-tiled SIMD micro-kernel over packed panels, with Goto/BLIS-style cache
// blocking. Everything GEMM-shaped in the models (linear layers, convolutions, attention) runs here.
//
// C[M, N] (+)= A[M, K] · B[N, K]ᵀ, where A and B are *sources* that know how to copy a block of their
// rows into the packed panel layout: row-major matrices, matrices stored K-major ([K, N]), f16/bf16
// weights (widened while packing), and the implicit im2col of an image (so convolutions never build a
// column matrix). Packing makes the micro-kernel's loads contiguous and keeps the working set in cache:
//   - an A micro-panel [kc][12] (18 KB at kc = 384) stays in L1 while B's micro-panels stream past it;
//   - the B block [kc][nc] (≤ 1.5 MB) stays in L2; the A block [mc][kc] is packed once per B block.
// Sums are plain float32 FMAs in k order within a block; only the order of additions differs from a
// naive loop, so results match the references to float32 rounding.

/// Micro-tile rows (A rows per broadcast group) and columns (two SIMD8 vectors).
let gemmMR = 6, gemmNR = 16
/// Cache-block limits: K depth of a packed block, A rows per packed block, B columns per L2 block.
/// Tuned for the AVX-512 12×32 tile with 48 KB L1d / 2 MB L2 per core (Emerald Rapids): one K block for
/// K ≤ 384 (SD's 320-wide layers), and B's block [384][1024] (1.5 MB) in L2. `DIFFUSE_GEMM_KC`, `_MC`,
/// `_NC` override them for tuning experiments (read once; K blocking changes float32 rounding order only).
let gemmKC = gemmKnob("DIFFUSE_GEMM_KC", 384), gemmMC = gemmKnob("DIFFUSE_GEMM_MC", 120),
    gemmNC = gemmKnob("DIFFUSE_GEMM_NC", 1024)

func gemmKnob(_ name: String, _ fallback: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap { Int($0) }.map { max(1, $0) } ?? fallback
}

/// Something the GEMM can read row-blocks of, in packed panel layout.
protocol PanelSource {
    /// Writes rows r0 ..< r0 + count, K columns p0 ..< p0 + kc, as dst[p · width + (r − r0)], with the
    /// columns count ..< width zero (the micro-kernel always computes full tiles).
    func pack(rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>)
}

/// element(r, p) = base[r · ld + p]: row-major A, or B in the "NT" layout (torch Linear weights).
struct RowMajorSource: PanelSource {
    let base: UnsafePointer<Float>
    let ld: Int

    @inline(__always)
    func pack(rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        diffuse_pack_f32_panel(base + r0 * ld + p0, ld, count, width, kc, dst)   // 8×8 register transposes
        zeroPadColumns(count: count, width: width, kc: kc, dst)
    }

    /// Element by element: the reference the transposing packer is tested against.
    func packReference(rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        for r in 0..<count {
            let s = base + (r0 + r) * ld + p0
            var d = dst + r
            for p in 0..<kc { d.pointee = s[p]; d += width }
        }
        zeroPadColumns(count: count, width: width, kc: kc, dst)
    }
}

/// element(r, p) = base[p · ld + r]: a matrix stored [K, rows] (V in P·V, the pixels of a 1×1 conv, a
/// transposed GEMM operand). Each K step's `count` rows are contiguous, so a panel row is a short vector copy.
struct KMajorSource: PanelSource {
    let base: UnsafePointer<Float>
    let ld: Int

    @inline(__always)
    func pack(rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        for p in 0..<kc {
            let s = base + (p0 + p) * ld + r0, d = dst + p * width
            var r = 0
            while r + 8 <= count { storeVec(d + r, loadVec(s + r)); r += 8 }
            while r < count { d[r] = s[r]; r += 1 }
            while r < width { d[r] = 0; r += 1 }
        }
    }
}

/// A weight [rows, K] in its stored dtype, widened to float32 while packing (no f32 copy of the weight).
struct WeightSource: PanelSource {
    let w: Weight
    let ld: Int

    @inline(__always)
    func pack(rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        switch w.dtype {
        case .f32:
            RowMajorSource(base: w.base.assumingMemoryBound(to: Float.self), ld: ld)
                .pack(rows: r0, count: count, width: width, k: p0, kc: kc, into: dst)
            return
        case .f16:
            // F16C conversion and 8×8 register transposes (C: Swift has no F16C intrinsic).
            let base = w.base.assumingMemoryBound(to: UInt16.self)
            diffuse_pack_f16_panel(base + r0 * ld + p0, ld, count, width, kc, dst)
        case .bf16:
            let base = w.base.assumingMemoryBound(to: UInt16.self)
            for r in 0..<count {
                let s = base + (r0 + r) * ld + p0
                var d = dst + r
                for p in 0..<kc { d.pointee = Float(bitPattern: UInt32(s[p]) << 16); d += width }
            }
        }
        zeroPadColumns(count: count, width: width, kc: kc, dst)
    }

    /// The f16 case with the Swift widening and one strided store per element: the reference the C packer
    /// is tested against (other dtypes: `pack`).
    func packReference(rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        switch w.dtype {
        case .f32, .bf16:
            pack(rows: r0, count: count, width: width, k: p0, kc: kc, into: dst)
            return
        case .f16:
            let base = w.base.assumingMemoryBound(to: UInt16.self)
            for r in 0..<count {
                let s = base + (r0 + r) * ld + p0
                var d = dst + r
                var p = 0
                while p + 8 <= kc {
                    let v = widenHalf8(s + p)
                    for i in 0..<8 { d[i * width] = v[i] }
                    d += 8 * width; p += 8
                }
                while p < kc { d.pointee = halfToFloat(s[p]); d += width; p += 1 }
            }
        }
        zeroPadColumns(count: count, width: width, kc: kc, dst)
    }
}

/// 8 IEEE halves → floats, exactly (same values as `halfToFloat`), in vector integer and float ops: the
/// stdlib's SIMD8<Float16> → SIMD8<Float> conversion compiles to one scalar vcvtph2ps per lane.
/// Magnitude bits shifted into a float's place and multiplied by 2¹¹² give every finite half exactly
/// (subnormal halves land on small floats, and the product is exact); ±inf/NaN get the exponent set to
/// all ones instead.
@inline(__always)
func widenHalf8(_ p: UnsafePointer<UInt16>) -> SIMD8<Float> {
    let h = SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt16>.self))
    let magnitude = (h & 0x7fff) &<< 13
    var v = unsafeBitCast(magnitude, to: SIMD8<Float>.self) * SIMD8<Float>(repeating: 0x1p112)
    // NaNs come out quiet, as from vcvtph2ps: bit 22 set when any mantissa bit is (the add carries into bit 23).
    let quiet = (((magnitude & 0x7f_ffff) &+ 0x7f_ffff) & 0x80_0000) &>> 1
    let special = unsafeBitCast(magnitude | quiet | 0x7f80_0000, to: SIMD8<Float>.self)
    v.replace(with: special, where: v .>= SIMD8<Float>(repeating: 65536))
    return unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) | ((h & 0x8000) &<< 16), to: SIMD8<Float>.self)
}

@inline(__always)
func zeroPadColumns(count: Int, width: Int, kc: Int, _ dst: UnsafeMutablePointer<Float>) {
    if count == width { return }
    for p in 0..<kc { for r in count..<width { dst[p * width + r] = 0 } }
}

@_transparent
func loadVec(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@_transparent
func loadVec(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@_transparent
func storeVec(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// The 6×16 register tile: 12 SIMD8 accumulators, per k two vector loads of B and six broadcasts of A,
/// twelve FMAs (vfmadd231ps with -target-cpu haswell). a: [kc][6], b: [kc][16], c: 6 rows at stride ldc.
@inline(__always)
func kernel6x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = loadVec(pb), b1 = loadVec(pb + 8)
        var x = SIMD8<Float>(repeating: pa[0])
        c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = SIMD8<Float>(repeating: pa[1])
        c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = SIMD8<Float>(repeating: pa[2])
        c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = SIMD8<Float>(repeating: pa[3])
        c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = SIMD8<Float>(repeating: pa[4])
        c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = SIMD8<Float>(repeating: pa[5])
        c50.addProduct(x, b0); c51.addProduct(x, b1)
        pa += 6; pb += 16
    }
    storeRow(c, c00, c01, accumulate)
    storeRow(c + ldc, c10, c11, accumulate)
    storeRow(c + 2 * ldc, c20, c21, accumulate)
    storeRow(c + 3 * ldc, c30, c31, accumulate)
    storeRow(c + 4 * ldc, c40, c41, accumulate)
    storeRow(c + 5 * ldc, c50, c51, accumulate)
}

@inline(__always)
private func storeRow(_ c: UnsafeMutablePointer<Float>, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ accumulate: Bool) {
    if accumulate {
        storeVec(c, loadVec(c) + v0); storeVec(c + 8, loadVec(c + 8) + v1)
    } else {
        storeVec(c, v0); storeVec(c + 8, v1)
    }
}

/// C[mc, nc] (+)= packed A [mc/mr panels][kc][mr] · packed B [nc/nr panels][kc][nr]ᵀ, mr × nr the tile's
/// size (6×16 by default: attention lays its score blocks out for that tile).
@inline(__always)
func macroKernel(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                 c: UnsafeMutablePointer<Float>, ldc: Int, tile: GemmTile = .avx2, accumulate: Bool) {
    macroKernel(mc: mc, nc: nc, kc: kc, a: a, b: b, c: c, ldc: ldc, out: .plain, col0: 0, tile: tile,
                accumulate: accumulate)
}

/// The same with C's columns spread over images: block column jr is global column col0 + jr, found
/// through `out` (c points at the block's first row in image 0).
@inline(__always)
func macroKernel(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                 c: UnsafeMutablePointer<Float>, ldc: Int, out: ImageColumns, col0: Int, tile: GemmTile,
                 accumulate: Bool) {
    // Row panels outside, column panels inside: the A micro-panel ([kc][12], 18 KB at kc = 384) stays in
    // L1 while B's panels stream from L2, and C is written 12 rows at a time left to right, which the
    // hardware prefetcher follows. (Columns outside wrote C in 120-row strips: at K = 40, attention's
    // scores, that ran at half the speed; 4096×1280×320 at 3/4.)
    let tr = tile.mr, tc = tile.nr
    var ir = 0
    while ir < mc {
        var jr = 0
        while jr < nc {
            let j = col0 + jr, n = min(tc, nc - jr), mr = min(tr, mc - ir)
            if out.straddles(column: j, count: n) {   // GemmImageBatch.swift
                scatteredTile(tile, kc, a + ir * kc, b + jr * kc, c + ir * ldc, ldc, out: out, column: j, mr: mr,
                              nr: n, accumulate)
            } else {
                let cj = c + out.offset(ofColumn: j)
                microTile(tile, kc, a + ir * kc, b + jr * kc, cj + ir * ldc, ldc, mr: mr,
                          nr: min(n, out.remaining(ofColumn: j)), accumulate)
            }
            jr += tc
        }
        ir += tr
    }
}

@inline(__always)
func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

/// Splits `total` into equal blocks of at most `limit`, rounded up to a multiple of `multiple`.
@inline(__always)
func balancedBlock(_ total: Int, limit: Int, multiple: Int) -> Int {
    let blocks = max(1, (total + limit - 1) / limit)
    return roundUp((total + blocks - 1) / blocks, multiple)
}

/// Packs `count` rows of `src` starting at r0, as consecutive panels of `width` rows: [panel][kc][width].
@inline(__always)
func packPanels<S: PanelSource>(_ src: S, rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int,
                                into dst: UnsafeMutablePointer<Float>) {
    var r = 0
    while r < count {
        src.pack(rows: r0 + r, count: min(width, count - r), width: width, k: p0, kc: kc, into: dst + r * kc)
        r += width
    }
}

/// Single-threaded blocked GEMM over rows `rows` of A/C and columns `cols` of B/C. `c` points at C[0, 0].
@inline(__always)
func gemmBlocked<A: PanelSource, B: PanelSource>(
    rows: Range<Int>, cols: Range<Int>, k: Int, a: A, b: B,
    c: UnsafeMutablePointer<Float>, ldc: Int, out: ImageColumns = .plain, tile: GemmTile = .active, accumulate: Bool
) {
    let m = rows.count, n = cols.count
    if m <= 0 || n <= 0 { return }
    if k == 0 {
        precondition(out.columns == Int.max, "gemm: K = 0 with image columns")
        if !accumulate { for i in rows { (c + i * ldc + cols.lowerBound).update(repeating: 0, count: n) } }
        return
    }
    let kc0 = balancedBlock(k, limit: gemmKC, multiple: 1)
    let mc0 = balancedBlock(m, limit: gemmMC, multiple: tile.mr)
    let nc0 = balancedBlock(n, limit: gemmNC, multiple: tile.nr)
    let packA = UnsafeMutablePointer<Float>.allocate(capacity: mc0 * kc0)
    let packB = UnsafeMutablePointer<Float>.allocate(capacity: nc0 * kc0)
    defer { packA.deallocate(); packB.deallocate() }
    var jc = cols.lowerBound
    while jc < cols.upperBound {
        let nc = min(nc0, cols.upperBound - jc)
        var pc = 0
        while pc < k {
            let kc = min(kc0, k - pc)
            packPanels(b, rows: jc, count: nc, width: tile.nr, k: pc, kc: kc, into: packB)
            var ic = rows.lowerBound
            while ic < rows.upperBound {
                let mc = min(mc0, rows.upperBound - ic)
                packPanels(a, rows: ic, count: mc, width: tile.mr, k: pc, kc: kc, into: packA)
                macroKernel(mc: mc, nc: nc, kc: kc, a: packA, b: packB, c: c + ic * ldc, ldc: ldc, out: out,
                            col0: jc, tile: tile, accumulate: accumulate || pc > 0)
                ic += mc
            }
            pc += kc
        }
        jc += nc
    }
}

/// Multi-threaded: C is cut into one slab per thread along its longer side (whole tiles), and every
/// thread packs its own panels. Small products stay on the calling thread.
@inline(__always)
func gemmParallel<A: PanelSource, B: PanelSource>(
    m: Int, n: Int, k: Int, a: A, b: B, c: UnsafeMutablePointer<Float>, ldc: Int, out: ImageColumns = .plain,
    tile: GemmTile = .active, accumulate: Bool
) {
    let work = m * n * max(k, 1)
    let tr = tile.mr, tc = tile.nr
    if Parallel.threads <= 1 || work < 1 << 18 {
        gemmBlocked(rows: 0..<m, cols: 0..<n, k: k, a: a, b: b, c: c, ldc: ldc, out: out, tile: tile, accumulate: accumulate)
    } else if n >= m {
        let panels = (n + tc - 1) / tc
        Parallel.forRange(panels) { ps in
            let cols = (ps.lowerBound * tc)..<min(n, ps.upperBound * tc)
            gemmBlocked(rows: 0..<m, cols: cols, k: k, a: a, b: b, c: c, ldc: ldc, out: out, tile: tile,
                        accumulate: accumulate)
        }
    } else {
        let panels = (m + tr - 1) / tr
        Parallel.forRange(panels) { ps in
            let rows = (ps.lowerBound * tr)..<min(m, ps.upperBound * tr)
            gemmBlocked(rows: rows, cols: 0..<n, k: k, a: a, b: b, c: c, ldc: ldc, out: out, tile: tile,
                        accumulate: accumulate)
        }
    }
}

/// Benchmark hook: GFLOP/s of the macro-kernel alone on packed panels already in cache (an A block of
/// 120 rows and a B block of 64 columns, kc = 256), one thread. Used by diffuse-bench-kernels.
public func _macroKernelGflops(repetitions: Int, tile: GemmTile = .active) -> Double {
    let (mc, nc, kc) = (gemmMC, 64, gemmKC)
    let a = UnsafeMutablePointer<Float>.allocate(capacity: mc * kc), b = UnsafeMutablePointer<Float>.allocate(capacity: nc * kc)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: mc * nc)
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    a.initialize(repeating: 0.5, count: mc * kc); b.initialize(repeating: 0.25, count: nc * kc)
    c.initialize(repeating: 0, count: mc * nc)
    var best = Double.infinity
    for _ in 0..<5 {
        let t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<repetitions {
            macroKernel(mc: mc, nc: nc, kc: kc, a: a, b: b, c: c, ldc: nc, tile: tile, accumulate: true)
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9)
    }
    return 2 * Double(mc * nc * kc * repetitions) / best * 1e-9
}
