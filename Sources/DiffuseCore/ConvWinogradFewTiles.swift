// Winograd F(4×4, 3×3) with the GEMM's roles swapped, for very few tiles (the UNet's 8² level at batch 2:
// 8 tiles). With tiles on the 32-wide vector side of the micro-kernel three quarters of every tile would be
// padding; here the tiles are the broadcast side (12 rows: 8 of 12 used) and the transformed filters U the
// vector side (32 output channels per panel), so the GEMMs compute Mᵀ[ξ][t][co] = Σ_ci V[ξ][ci][t] · U[ξ][ci][co].
// Each element is the same FMA chain over the same K blocks as in the other drivers, and the transforms are
// the same lane-wise operations (here with lanes over output channels), so results are bit-identical.

/// Whether the few-tiles driver pads the tiles less as the micro-kernel's rows than as its columns.
func winogradSwapsRoles(tiles: Int, tile: GemmTile) -> Bool {
    roundUp(tiles, tile.mr) < roundUp(tiles, tile.nr)
}

/// `conv2dWinogradPacked` for `winogradSwapsRoles` shapes: x [n, c, h, w], y [n, o, h, w].
func conv2dWinogradSwapped(x: UnsafePointer<Float>, plan: WinogradPlan, weight: Weight,
                           y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let (c, o, tile) = (plan.c, plan.o, GemmTile.active)
    let tileRows = plan.n * plan.th, tiles = tileRows * plan.tw
    let ld = roundUp(tiles, 8) + 8, mr = tile.mr, aPanels = (tiles + mr - 1) / mr, ldo = roundUp(o, 8)
    let v = UnsafeMutablePointer<Float>.allocate(capacity: 36 * c * ld)                 // [36][c][ld]
    let va = UnsafeMutablePointer<Float>.allocate(capacity: 36 * aPanels * c * mr)      // [36][panel][c][mr]
    let mt = UnsafeMutablePointer<Float>.allocate(capacity: 36 * aPanels * mr * ldo + 8) // [36][t][ldo]
    defer { v.deallocate(); va.deallocate(); mt.deallocate() }
    Parallel.forRange(c) { chs in
        winogradInputTransform(x, plan: plan, rows: 0, tileRows, channels: chs, v: v, ldv: ld)
    }
    Parallel.forRange(36) { ξs in
        for ξ in ξs {
            for ip in 0..<aPanels {
                KMajorSource(base: v + ξ * c * ld, ld: ld).pack(rows: ip * mr, count: min(mr, tiles - ip * mr),
                                                                width: mr, k: 0, kc: c, into: va + (ξ * aPanels + ip) * c * mr)
            }
        }
    }
    let mRows = aPanels * mr
    Parallel.forRange((o + tile.nr - 1) / tile.nr) { ps in
        swappedPanels(weight, c: c, o: o, panels: ps, tile: tile, va: va, aPanels: aPanels, tiles: tiles,
                      mt: mt, mRows: mRows, ldo: ldo)
    }
    Parallel.forRange((o + 7) / 8) { groups in
        swappedOutputTransform(mt, mRows: mRows, ldo: ldo, plan: plan, channelGroups: groups, y: y, accumulate: accumulate)
    }
}

/// Mᵀ[ξ][t][co] for the output channels of B panels `panels` (nr channels each), one K block at a time.
private func swappedPanels(_ weight: Weight, c: Int, o: Int, panels: Range<Int>, tile: GemmTile,
                           va: UnsafePointer<Float>, aPanels: Int, tiles: Int,
                           mt: UnsafeMutablePointer<Float>, mRows: Int, ldo: Int) {
    let (mr, nr) = (tile.mr, tile.nr)
    let kc0 = balancedBlock(c, limit: gemmKC, multiple: 1)
    let taps = UnsafeMutablePointer<Float>.allocate(capacity: 9 * kc0 * nr)   // [ci][k][nr]
    let ξStride = kc0 * nr + 16   // [36][kc][nr], panels offset by 64 bytes: see winogradPackedPanels
    let ub = UnsafeMutablePointer<Float>.allocate(capacity: 36 * ξStride)
    defer { taps.deallocate(); ub.deallocate() }
    for panel in panels {
        let co0 = panel * nr, cols = min(nr, o - co0)
        var ci0 = 0
        while ci0 < c {
            let kc = min(kc0, c - ci0)
            widenTapsTransposed(weight, c: c, outputs: co0, rows: cols, width: nr, inputs: ci0, kc, into: taps)
            filterTransformPanel(taps, kc: kc, mr: nr, into: ub, ξStride: ξStride)
            for ξ in 0..<36 {
                let b = ub + ξ * ξStride
                for ip in 0..<aPanels {
                    let a = va + ((ξ * aPanels + ip) * c + ci0) * mr
                    microTile(tile, kc, a, b, mt + (ξ * mRows + ip * mr) * ldo + co0, ldo,
                              mr: min(mr, tiles - ip * mr), nr: cols, ci0 > 0)
                }
            }
            ci0 += kc
        }
    }
}

/// y[img, co, 4ty + i, 4tx + j] (+)= (Aᵀ M A)[i][j], 8 output channels per vector, for the channel groups
/// `channelGroups` (channels 8g ..< 8g + 8). mt: [36][mRows][ldo].
private func swappedOutputTransform(_ mt: UnsafePointer<Float>, mRows: Int, ldo: Int, plan p: WinogradPlan,
                                    channelGroups: Range<Int>, y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let plane = p.h * p.w, tiles = p.n * p.th * p.tw
    withUnsafeTemporaryAllocation(of: WinoVec.self, capacity: 24) { sBuf in
        let s = sBuf.baseAddress!   // s[6i + ξx]
        for g in channelGroups {
            let co = 8 * g, lanes = min(8, p.o - co)
            for t in 0..<tiles {
                let r = t / p.tw, tx = t % p.tw, img = r / p.th, ty = r % p.th
                let src = mt + t * ldo + co, step = mRows * ldo
                // Columns: s[i][ξx] = Σ_ξy Aᵀ[i][ξy] · M[6ξy + ξx] (winogradOutputTransform's order).
                for ξx in 0..<6 {
                    let o = winogradOutput1D(loadVec(src + ξx * step), loadVec(src + (6 + ξx) * step),
                                             loadVec(src + (12 + ξx) * step), loadVec(src + (18 + ξx) * step),
                                             loadVec(src + (24 + ξx) * step), loadVec(src + (30 + ξx) * step))
                    s[ξx] = o.0; s[6 + ξx] = o.1; s[12 + ξx] = o.2; s[18 + ξx] = o.3
                }
                let base = y + (img * p.o + co) * plane + 4 * ty * p.w + 4 * tx
                for i in 0..<min(4, p.h - 4 * ty) {
                    let si = s + 6 * i
                    let o = winogradOutput1D(si[0], si[1], si[2], si[3], si[4], si[5])
                    let row = base + i * p.w, cols = min(4, p.w - 4 * tx)
                    for l in 0..<lanes {
                        let d = row + l * plane
                        let vals = (o.0[l], o.1[l], o.2[l], o.3[l])
                        if accumulate {
                            d[0] += vals.0
                            if cols > 1 { d[1] += vals.1 }; if cols > 2 { d[2] += vals.2 }; if cols > 3 { d[3] += vals.3 }
                        } else {
                            d[0] = vals.0
                            if cols > 1 { d[1] = vals.1 }; if cols > 2 { d[2] = vals.2 }; if cols > 3 { d[3] = vals.3 }
                        }
                    }
                }
            }
        }
    }
}
