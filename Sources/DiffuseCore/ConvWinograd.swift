import Foundation

// Stride-1, pad-1 3×3 convolutions by Winograd's minimal filtering F(4×4, 3×3) (transforms and their
// derivation: WinogradTransforms.swift). Each 4×4 block of outputs ("tile") costs 36 multiplications per
// (input, output) channel pair instead of 144: the convolution becomes 36 independent GEMMs
//     M[ξ][co][t] = Σ_ci U[ξ][co][ci] · V[ξ][ci][t]      (ξ: the 6×6 transformed positions, t: tiles)
// on the existing packed GEMM, plus three cheap transforms. All arithmetic stays float32: only the order of
// additions and the transforms' rounding differ from the direct sum (errors measured in WinogradTests).
//
// Memory stays bounded (no transformed weights are kept between calls, the SD weights stay memory-mapped
// f16): tile rows are processed in chunks and output channels in blocks, sized so that V, U and M of one
// step together stay under `winogradScratchFloats`. Filters are re-transformed per chunk; that costs
// ~1/T_c of the GEMM work, T_c the tiles of a chunk (hundreds or more).

/// Floats of scratch one call may use for V, U and M together (64 MB).
let winogradScratchFloats = 16 << 20

/// Whether `conv2d` runs this convolution by Winograd: 3×3, stride 1, pad 1, and measured faster than the
/// direct GEMM for its size (`winogradFaster`).
func winogradApplies(kh: Int, kw: Int, stride: Int, padding: Int, n: Int, c: Int, h: Int, w: Int, o: Int) -> Bool {
    kh == 3 && kw == 3 && stride == 1 && padding == 1 && winogradEnabled && winogradFaster(n: n, c: c, h: h, w: w, o: o)
}

/// `DIFFUSE_NO_WINOGRAD=1` turns the path off (to compare with the direct convolution in the same build);
/// `DIFFUSE_WINOGRAD_EVERYWHERE=1` ignores the size thresholds, so that the parity tests' small models run
/// every 3×3 stride-1 convolution through it.
let winogradEnabled = ProcessInfo.processInfo.environment["DIFFUSE_NO_WINOGRAD"] != "1"
let winogradEverywhere = ProcessInfo.processInfo.environment["DIFFUSE_WINOGRAD_EVERYWHERE"] == "1"

/// The size thresholds, in one place. Measured with `diffuse-bench-kernels --winograd --threads 2` (release,
/// AVX-512 tile, f16 weights, machine load ≈ 4 so ±30%), Winograd time / direct time:
///   32×32 and larger, c and o ≥ 128: 0.42–0.75 (UNet 320→320 @32 batch 2: 0.66, 640→320: 0.45, VAE 512→512
///     @64: 0.43, 256→256 @256: 0.42, 128→128 @256: 0.75);
///   16×16 (UNet batch 2, 32 tiles): 0.94–1.16 with U packed per GEMM; 0.50–0.73 since the packed driver
///     (ConvWinogradPacked.swift) transforms U into the micro-kernel's panels (2 threads, load ≈ 2.5);
///   8×8 and 4×4: 1.6–3.2× slower even packed (8 or 2 tiles: the 32-wide GEMM panels mostly padding); a
///     driver with the roles swapped (tiles as the 12 micro-kernel rows) reached 1.0–1.2× at 8² and was
///     removed as it never ran outside the tests;
///   few channels: 4→320 @32 5.4×, 4→512 @32 3×, 128→3 @256 4.4× slower (transforms dominate, the 3-row
///     GEMM pads to 12); 320→4 @32 measured 0.36–0.56 but is one small layer: left direct with the rule.
func winogradFaster(n: Int, c: Int, h: Int, w: Int, o: Int) -> Bool {
    winogradEverywhere || n * ((h + 3) / 4) * ((w + 3) / 4) >= 32 && h >= 16 && w >= 16 && c >= 64 && o >= 64
}

/// y[img, co, :, :] (+)= conv3×3(x[img], w)[co] for a stride-1, pad-1 convolution; x: [n, c, h, w],
/// y: [n, o, h, w], weight: [o, c, 3, 3]. `accumulate`: add onto y (bias and residual already there).
/// `scratchFloats` smaller than the default only in tests (many chunks and channel blocks on small shapes).
func conv2dWinograd(x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, weight: Weight, o: Int,
                    y: UnsafeMutablePointer<Float>, accumulate: Bool, scratchFloats: Int = winogradScratchFloats) {
    if winogradPackedFits(n: n, c: c, h: h, w: w, o: o, scratchFloats: scratchFloats) {
        conv2dWinogradPacked(x: x, n: n, c: c, h: h, w: w, weight: weight, o: o, y: y, accumulate: accumulate)
        return
    }
    let plan = WinogradPlan(n: n, c: c, h: h, w: w, o: o)
    let (tw, tileRows) = (plan.tw, n * plan.th)
    let cp = roundUp(c, 8)
    // Output channel block: U ≤ a quarter of the budget, whole micro-tile rows.
    let block = min(o, max(12, (scratchFloats / 4) / (36 * cp) / 12 * 12))
    // Tile rows per chunk: V [36][c][ldv] and M [36][block][ldm] in the rest.
    let perRow = 36 * (c + block) * tw
    let chunkRows = max(1, min(tileRows, (scratchFloats - 36 * block * cp) / perRow))
    let maxTiles = chunkRows * tw, ld = roundUp(maxTiles, 8) + 8
    let v = UnsafeMutablePointer<Float>.allocate(capacity: 36 * c * ld)
    let u = UnsafeMutablePointer<Float>.allocate(capacity: 36 * block * cp)
    let m = UnsafeMutablePointer<Float>.allocate(capacity: 36 * block * ld + 8)
    defer { v.deallocate(); u.deallocate(); m.deallocate() }
    var r0 = 0
    while r0 < tileRows {
        let r1 = min(tileRows, r0 + chunkRows), tiles = (r1 - r0) * tw
        Parallel.forRange(c) { chs in
            winogradInputTransform(x, plan: plan, rows: r0, r1, channels: chs, v: v, ldv: ld)
        }
        var co0 = 0
        while co0 < o {
            let rows = min(block, o - co0)
            Parallel.forRange(rows) { cos in
                winogradFilterTransform(weight, c: c, outputs: co0, co0 + rows, rows: cos, u: u, ld: cp, blockRows: block)
            }
            // The 36 GEMMs split between the threads: each is [rows × c] · [c × tiles], big enough alone.
            Parallel.forRange(36) { ξs in
                for ξ in ξs {
                    gemmBlocked(rows: 0..<rows, cols: 0..<tiles, k: c, a: RowMajorSource(base: u + ξ * block * cp, ld: cp),
                                b: KMajorSource(base: v + ξ * c * ld, ld: ld), c: m + ξ * block * ld, ldc: ld,
                                accumulate: false)
                }
            }
            Parallel.forRange(rows) { cos in
                winogradOutputTransform(m, ldm: ld, blockRows: block, plan: plan, rows: r0, r1, outputs: co0,
                                        channels: cos, y: y, accumulate: accumulate)
            }
            co0 += rows
        }
        r0 = r1
    }
}

/// Benchmark hook: `conv2d` with Winograd forced on or off (diffuse-bench-kernels --winograd).
public func _conv2d(_ x: Tensor, _ w: Weight, _ b: Weight?, padding: Int, winograd: Bool) -> Tensor {
    conv2d(x, w, b, stride: 1, padding: padding, residual: nil, direct: true, winograd: winograd)
}
