import CDiffuseCPU

// Winograd F(4×4, 3×3) for few tiles (the UNet's 16² level at batch 2: 32 tiles). There each
// of the 36 GEMMs [o × c]·[c × tiles] uses every transformed filter value U once per 32 tiles, so the
// general driver (ConvWinograd.swift) spends as long writing U to memory, reading it back and re-packing it
// into micro-kernel panels as the multiply takes. Here the filter transform writes U straight into the
// micro-kernel's A-panel layout [kc][mr], one panel of output channels and one K block at a time, and the
// micro-kernel consumes it from cache: U never reaches memory.
//
// The weight is widened with the C panel packer in the transposed direction (rows = output channels), so
// the transform runs with its lanes over output channels and stores U rows whole. The K blocking is
// gemmBlocked's (`balancedBlock(c, limit: gemmKC)`), and the transforms are the same lane-wise operations,
// so the result is bit-identical to the general driver's (WinogradTests.testChunksAndBlocksMatchOneShot).

/// Tile count (images × tile rows × tile columns) up to which the packed driver runs: one B panel. Every A
/// panel re-reads all of packed V (36·c·tiles floats), which at 128 tiles (32² batch 2) no longer stays in
/// cache: measured 0.70 of direct there against the general driver's 0.46 (640→320), so that stays general.
let winogradPackedMaxTiles = 32

/// Whether `conv2dWinogradPacked` takes this call: few tiles, an A panel as wide as SIMD8 lanes can cover
/// in two (overlapping) vectors, and V, packed V and M within the scratch budget.
func winogradPackedFits(n: Int, c: Int, h: Int, w: Int, o: Int, scratchFloats: Int) -> Bool {
    let p = WinogradPlan(n: n, c: c, h: h, w: w, o: o), tile = GemmTile.active
    let tiles = n * p.th * p.tw, ld = roundUp(tiles, 8) + 8
    let floats = 36 * c * ld + 36 * c * roundUp(tiles, tile.nr) + 36 * o * ld
    return tiles <= winogradPackedMaxTiles && tile.mr >= 8 && tile.mr <= 16 && floats <= scratchFloats
}

/// The same convolution as `conv2dWinograd` (x: [n, c, h, w], weight [o, c, 3, 3], y: [n, o, h, w]), all tiles
/// in one chunk, threads splitting the output channels by micro-tile panels.
func conv2dWinogradPacked(x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, weight: Weight, o: Int,
                          y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let plan = WinogradPlan(n: n, c: c, h: h, w: w, o: o), tile = GemmTile.active
    let tileRows = n * plan.th, tiles = tileRows * plan.tw
    let ld = roundUp(tiles, 8) + 8, nr = tile.nr, bPanels = (tiles + nr - 1) / nr
    let v = UnsafeMutablePointer<Float>.allocate(capacity: 36 * c * ld)           // [36][c][ld]
    let vp = UnsafeMutablePointer<Float>.allocate(capacity: 36 * bPanels * c * nr) // [36][panel][c][nr]
    let m = UnsafeMutablePointer<Float>.allocate(capacity: 36 * o * ld + 8)        // [36][o][ld]
    defer { v.deallocate(); vp.deallocate(); m.deallocate() }
    Parallel.forRange(c) { chs in
        winogradInputTransform(x, plan: plan, rows: 0, tileRows, channels: chs, v: v, ldv: ld)
    }
    Parallel.forRange(36) { ξs in
        for ξ in ξs {
            for jp in 0..<bPanels {
                KMajorSource(base: v + ξ * c * ld, ld: ld).pack(rows: jp * nr, count: min(nr, tiles - jp * nr),
                                                                width: nr, k: 0, kc: c, into: vp + (ξ * bPanels + jp) * c * nr)
            }
        }
    }
    let panels = (o + tile.mr - 1) / tile.mr
    Parallel.forRange(panels) { ps in
        winogradPackedPanels(weight, c: c, o: o, panels: ps, tile: tile, vp: vp, bPanels: bPanels, tiles: tiles,
                             m: m, ldm: ld)
    }
    Parallel.forRange(o) { cos in
        winogradOutputTransform(m, ldm: ld, blockRows: o, plan: plan, rows: 0, tileRows, outputs: 0, channels: cos,
                                y: y, accumulate: accumulate)
    }
}

/// M[ξ][co][t] for the output channels of A panels `panels`: per K block, U of the panel's mr channels is
/// transformed into [36][kc][mr] and multiplied at once with every B panel of the 36 GEMMs.
private func winogradPackedPanels(_ weight: Weight, c: Int, o: Int, panels: Range<Int>, tile: GemmTile,
                                  vp: UnsafePointer<Float>, bPanels: Int, tiles: Int,
                                  m: UnsafeMutablePointer<Float>, ldm: Int) {
    let mr = tile.mr, nr = tile.nr
    let kc0 = balancedBlock(c, limit: gemmKC, multiple: 1)
    let taps = UnsafeMutablePointer<Float>.allocate(capacity: 9 * kc0 * mr)   // [ci][k][mr]
    // [36][kc][mr], each ξ's panel 64 bytes further along than a multiple of 4 kB: otherwise the 36 stores
    // of one transformed filter all map to one L1 set.
    let ξStride = kc0 * mr + 16
    let up = UnsafeMutablePointer<Float>.allocate(capacity: 36 * ξStride)
    defer { taps.deallocate(); up.deallocate() }
    for panel in panels {
        let co0 = panel * mr, rows = min(mr, o - co0)
        var ci0 = 0
        while ci0 < c {
            let kc = min(kc0, c - ci0)
            widenTapsTransposed(weight, c: c, outputs: co0, rows: rows, width: mr, inputs: ci0, kc, into: taps)
            filterTransformPanel(taps, kc: kc, mr: mr, into: up, ξStride: ξStride)
            for ξ in 0..<36 {
                let a = up + ξ * ξStride
                for jp in 0..<bPanels {
                    let b = vp + ((ξ * bPanels + jp) * c + ci0) * nr
                    microTile(tile, kc, a, b, m + (ξ * o + co0) * ldm + jp * nr, ldm, mr: rows,
                              nr: min(nr, tiles - jp * nr), ci0 > 0)
                }
            }
            ci0 += kc
        }
    }
}

/// taps[(ci − ci0) · 9 + k][r] = weight[co0 + r, ci, k / 3, k % 3] for r < rows, zero for rows ≤ r < width.
@inline(__always)
func widenTapsTransposed(_ weight: Weight, c: Int, outputs co0: Int, rows: Int, width: Int,
                                 inputs ci0: Int, _ kc: Int, into taps: UnsafeMutablePointer<Float>) {
    let start = (co0 * c + ci0) * 9
    switch weight.dtype {
    case .f16:
        diffuse_pack_f16_panel(weight.base.assumingMemoryBound(to: UInt16.self) + start, 9 * c, rows, width, 9 * kc, taps)
    case .f32:
        diffuse_pack_f32_panel(weight.base.assumingMemoryBound(to: Float.self) + start, 9 * c, rows, width, 9 * kc, taps)
    case .bf16:
        for r in 0..<rows { for p in 0..<9 * kc { taps[p * width + r] = weight[start + r * 9 * c + p] } }
    }
    zeroPadColumns(count: rows, width: width, kc: 9 * kc, taps)
}

/// up[ξ · ξStride + ci · mr + r] = (G g Gᵀ)[ξ] of filter (r, ci), lanes over r: an mr-wide row (mr ≥ 8) as
/// SIMD8 vectors at 0, 8, … and mr − 8 (the last overlaps when 8 ∤ mr and stores the same values twice).
@inline(__always)
func filterTransformPanel(_ taps: UnsafePointer<Float>, kc: Int, mr: Int, into up: UnsafeMutablePointer<Float>,
                                  ξStride: Int) {
    let groups = (mr + 7) / 8
    for ci in 0..<kc {
        for g in 0..<groups {
            let lane0 = min(8 * g, mr - 8)
            let t = taps + ci * 9 * mr + lane0
            // Columns (over ky) for each kx, then rows (over kx) for each ξy: winogradFilterTransform's order.
            let c0 = winogradFilter1D(loadVec(t), loadVec(t + 3 * mr), loadVec(t + 6 * mr))
            let c1 = winogradFilter1D(loadVec(t + mr), loadVec(t + 4 * mr), loadVec(t + 7 * mr))
            let c2 = winogradFilter1D(loadVec(t + 2 * mr), loadVec(t + 5 * mr), loadVec(t + 8 * mr))
            let dst = up + ci * mr + lane0
            storeSix(winogradFilter1D(c0.0, c1.0, c2.0), dst, ξStride)
            storeSix(winogradFilter1D(c0.1, c1.1, c2.1), dst + 6 * ξStride, ξStride)
            storeSix(winogradFilter1D(c0.2, c1.2, c2.2), dst + 12 * ξStride, ξStride)
            storeSix(winogradFilter1D(c0.3, c1.3, c2.3), dst + 18 * ξStride, ξStride)
            storeSix(winogradFilter1D(c0.4, c1.4, c2.4), dst + 24 * ξStride, ξStride)
            storeSix(winogradFilter1D(c0.5, c1.5, c2.5), dst + 30 * ξStride, ξStride)
        }
    }
}

@inline(__always)
private func storeSix(_ r: (WinoVec, WinoVec, WinoVec, WinoVec, WinoVec, WinoVec), _ dst: UnsafeMutablePointer<Float>,
                      _ step: Int) {
    storeVec(dst, r.0); storeVec(dst + step, r.1); storeVec(dst + 2 * step, r.2)
    storeVec(dst + 3 * step, r.3); storeVec(dst + 4 * step, r.4); storeVec(dst + 5 * step, r.5)
}
