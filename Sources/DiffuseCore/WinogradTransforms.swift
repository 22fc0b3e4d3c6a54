import CDiffuseCPU

// The three transforms of Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray 2015), built by the
// Toom–Cook construction on the interpolation points 0, 1, −1, 1/2, −2 and ∞: Aᵀ[i][j] = a_jⁱ,
// G[j][k] = a_jᵏ / Π_(l≠j)(a_j − a_l), Bᵀ row j = the coefficients of Π_(l≠j)(x − a_l) (row ∞: of Π_l(x − a_l)).
// For one 6×6 input tile d and 3×3 filter g, the 4×4 output tile of the stride-1 correlation is
//     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
// with
//     Bᵀ = [1 −3/2 −2 3/2 1 0;  0 −1 1/2 5/2 1 0;  0 1 −5/2 1/2 1 0;  0 −2 −1 2 1 0;  0 1/2 −1 −1/2 1 0;
//           0 1 −3/2 −2 3/2 1]
//     G  = [1 0 0;  1/3 1/3 1/3;  −1/3 1/3 −1/3;  −16/15 −8/15 −4/15;  1/15 −2/15 4/15;  0 0 1]
//     Aᵀ = [1 1 1 1 1 0;  0 1 −1 1/2 −2 0;  0 1 1 1/4 4 0;  0 1 −1 1/8 −8 1]
// (checked against the direct sum in float64 to 2e-15). The points 1/2, −2 instead of the usual 2, −2 halve
// the float32 error (simulated: 2.3e-5 against 5.7e-5 max abs on 320-channel layers; measured in
// WinogradTests). Every 2-D transform is the 1-D one applied to columns, then rows; the helpers below are
// the 1-D ones on 8 tiles (or 8 channels) at a time, one per SIMD lane, so no data moves between lanes.

typealias WinoVec = SIMD8<Float>

/// Bᵀ·d for six vectors d0…d5 (one input tile column or row per lane).
@inline(__always)
func winogradInput1D(_ d0: WinoVec, _ d1: WinoVec, _ d2: WinoVec, _ d3: WinoVec, _ d4: WinoVec, _ d5: WinoVec)
    -> (WinoVec, WinoVec, WinoVec, WinoVec, WinoVec, WinoVec) {
    let half = WinoVec(repeating: 0.5), two = WinoVec(repeating: 2)
    let threeHalves = WinoVec(repeating: 1.5), fiveHalves = WinoVec(repeating: 2.5)
    let d31 = d3 - d1, d42 = d4 - d2
    let o0 = (d0 + d4).addingProduct(threeHalves, d31).addingProduct(-two, d2)
    let o1 = (d4 - d1).addingProduct(half, d2).addingProduct(fiveHalves, d3)
    let o2 = (d4 + d1).addingProduct(-fiveHalves, d2).addingProduct(half, d3)
    let o3 = d42.addingProduct(two, d31)
    let o4 = d42.addingProduct(-half, d31)
    let o5 = (d5 + d1).addingProduct(threeHalves, d42).addingProduct(-two, d3)
    return (o0, o1, o2, o3, o4, o5)
}

/// G·g for three vectors g0…g2 (one filter column or row per lane).
@inline(__always)
func winogradFilter1D(_ g0: WinoVec, _ g1: WinoVec, _ g2: WinoVec)
    -> (WinoVec, WinoVec, WinoVec, WinoVec, WinoVec, WinoVec) {
    let third = WinoVec(repeating: 1.0 / 3), fifteenth = WinoVec(repeating: 1.0 / 15)
    let outer = g0 + g2
    return (g0, (outer + g1) * third, (g1 - outer) * third,
            -(g0 * 16 + g1 * 8 + g2 * 4) * fifteenth, (g0 - g1 * 2 + g2 * 4) * fifteenth, g2)
}

/// Aᵀ·m for six vectors m0…m5.
@inline(__always)
func winogradOutput1D(_ m0: WinoVec, _ m1: WinoVec, _ m2: WinoVec, _ m3: WinoVec, _ m4: WinoVec, _ m5: WinoVec)
    -> (WinoVec, WinoVec, WinoVec, WinoVec) {
    let a = m1 + m2, b = m1 - m2
    return (m0 + a + m3 + m4,
            b.addingProduct(WinoVec(repeating: 0.5), m3).addingProduct(WinoVec(repeating: -2), m4),
            a.addingProduct(WinoVec(repeating: 0.25), m3).addingProduct(WinoVec(repeating: 4), m4),
            (b + m5).addingProduct(WinoVec(repeating: 0.125), m3).addingProduct(WinoVec(repeating: -8), m4))
}

/// Where one call's transformed data lives. Tiles are numbered row-major over "tile rows" (image by image,
/// th tile rows of tw tiles each); a chunk holds the tile rows r0 ..< r1, its tile t = (r − r0)·tw + tx.
struct WinogradPlan {
    let n: Int, c: Int, h: Int, w: Int, o: Int
    /// Tiles per image column and row: ⌈h/4⌉, ⌈w/4⌉.
    var th: Int { (h + 3) / 4 }
    var tw: Int { (w + 3) / 4 }
    /// Row length of the scratch rows the input and output transforms work in (whole vectors, one spare).
    var scratchWidth: Int { roundUp(tw + 1, 8) + 8 }
}

/// V[ξ][ci][t] for channels `channels` and tile rows r0 ..< r1: V = Bᵀ d B per tile, ξ = 6·ξy + ξx.
/// x: [n, c, h, w]; v has row stride ldv (≥ tiles + 8: rows are written in whole vectors).
func winogradInputTransform(_ x: UnsafePointer<Float>, plan p: WinogradPlan, rows r0: Int, _ r1: Int,
                            channels: Range<Int>, v: UnsafeMutablePointer<Float>, ldv: Int) {
    let sw = p.scratchWidth, tw = p.tw
    // s[k][j][q] = x[row 4ty − 1 + k][column 4q + j − 1] (zero outside the image): the tile's six input rows
    // split by column phase, so tile q's column j (j < 4) is s[k][j][q] and its columns 4, 5 are s[k][0…1][q + 1].
    let s = UnsafeMutablePointer<Float>.allocate(capacity: 6 * 4 * sw)
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: 6 * 4 * sw)   // Bᵀ applied down the columns
    defer { s.deallocate(); cols.deallocate() }
    s.initialize(repeating: 0, count: 6 * 4 * sw); cols.initialize(repeating: 0, count: 6 * 4 * sw)
    for ci in channels {
        for r in r0..<r1 {
            let img = r / p.th, ty = r % p.th
            let plane = x + (img * p.c + ci) * p.h * p.w
            for k in 0..<6 { splitRow(plane, row: 4 * ty - 1 + k, p: p, into: s + k * 4 * sw, sw: sw) }
            // Columns: cols[ξy][j][q] = Σ_k Bᵀ[ξy][k] · s[k][j][q], 8 entries at a time.
            var e = 0
            while e < 4 * sw {
                let o = winogradInput1D(loadVec(s + e), loadVec(s + 4 * sw + e), loadVec(s + 8 * sw + e),
                                        loadVec(s + 12 * sw + e), loadVec(s + 16 * sw + e), loadVec(s + 20 * sw + e))
                storeVec(cols + e, o.0); storeVec(cols + 4 * sw + e, o.1); storeVec(cols + 8 * sw + e, o.2)
                storeVec(cols + 12 * sw + e, o.3); storeVec(cols + 16 * sw + e, o.4); storeVec(cols + 20 * sw + e, o.5)
                e += 8
            }
            // Rows: V[6ξy + ξx][ci][t] = Σ_j Bᵀ[ξx][j] · cols[ξy][column j of tile], 8 tiles at a time.
            let t0 = (r - r0) * tw
            for ξy in 0..<6 {
                let cy = cols + ξy * 4 * sw
                var q = 0
                while q < tw {
                    let o = winogradInput1D(loadVec(cy + q), loadVec(cy + sw + q), loadVec(cy + 2 * sw + q),
                                            loadVec(cy + 3 * sw + q), loadVec(cy + q + 1), loadVec(cy + sw + q + 1))
                    let dst = v + (6 * ξy * p.c + ci) * ldv + t0 + q, step = p.c * ldv
                    storeVec(dst, o.0); storeVec(dst + step, o.1); storeVec(dst + 2 * step, o.2)
                    storeVec(dst + 3 * step, o.3); storeVec(dst + 4 * step, o.4); storeVec(dst + 5 * step, o.5)
                    q += 8
                }
            }
        }
    }
}

/// dst[j · sw + q] = plane[row][4q + j − 1] for q ≤ tw, zero outside the image.
@inline(__always)
private func splitRow(_ plane: UnsafePointer<Float>, row: Int, p: WinogradPlan, into dst: UnsafeMutablePointer<Float>,
                      sw: Int) {
    let w = p.w
    if row < 0 || row >= p.h {
        for j in 0..<4 { zeroFloats(dst + j * sw, p.tw + 1) }
        return
    }
    let src = plane + row * w
    // Column 4q + j − 1 is inside for 1 ≤ 4q + j ≤ w; q in 1 ..< interior has all four phases inside.
    let interior = max(1, (w + 1) / 4)
    for j in 0..<4 { dst[j * sw] = j >= 1 && j <= w ? src[j - 1] : 0 }
    var q = 1
    while q < interior {
        let s4 = src + 4 * q - 1
        dst[q] = s4[0]; dst[sw + q] = s4[1]; dst[2 * sw + q] = s4[2]; dst[3 * sw + q] = s4[3]
        q += 1
    }
    while q <= p.tw {
        for j in 0..<4 { let ix = 4 * q + j - 1; dst[j * sw + q] = ix < w ? src[ix] : 0 }
        q += 1
    }
}

/// U[ξ][co − co0][ci] = (G g Gᵀ)[ξ] for output channels co0 ..< co1 (ld: row stride ≥ c rounded up to 8).
/// The weight [o, c, 3, 3] is widened one output channel at a time.
func winogradFilterTransform(_ weight: Weight, c: Int, outputs co0: Int, _ co1: Int, rows: Range<Int>,
                             u: UnsafeMutablePointer<Float>, ld: Int, blockRows: Int) {
    let cp = roundUp(c, 8)
    let taps = UnsafeMutablePointer<Float>.allocate(capacity: 9 * cp)   // taps[k][ci], zero for ci ≥ c
    defer { taps.deallocate() }
    taps.initialize(repeating: 0, count: 9 * cp)
    for co in rows {
        widenTaps(weight, row: co0 + co, c: c, into: taps, ld: cp)
        var ci = 0
        while ci < cp {
            let t = taps + ci
            // Columns (over ky) for each kx, then rows (over kx) for each ξy.
            let c0 = winogradFilter1D(loadVec(t), loadVec(t + 3 * cp), loadVec(t + 6 * cp))
            let c1 = winogradFilter1D(loadVec(t + cp), loadVec(t + 4 * cp), loadVec(t + 7 * cp))
            let c2 = winogradFilter1D(loadVec(t + 2 * cp), loadVec(t + 5 * cp), loadVec(t + 8 * cp))
            let dst = u + co * ld + ci, step = blockRows * ld
            storeFilterRow(winogradFilter1D(c0.0, c1.0, c2.0), dst, step)
            storeFilterRow(winogradFilter1D(c0.1, c1.1, c2.1), dst + 6 * step, step)
            storeFilterRow(winogradFilter1D(c0.2, c1.2, c2.2), dst + 12 * step, step)
            storeFilterRow(winogradFilter1D(c0.3, c1.3, c2.3), dst + 18 * step, step)
            storeFilterRow(winogradFilter1D(c0.4, c1.4, c2.4), dst + 24 * step, step)
            storeFilterRow(winogradFilter1D(c0.5, c1.5, c2.5), dst + 30 * step, step)
            ci += 8
        }
    }
}

@inline(__always)
private func storeFilterRow(_ r: (WinoVec, WinoVec, WinoVec, WinoVec, WinoVec, WinoVec), _ dst: UnsafeMutablePointer<Float>,
                            _ step: Int) {
    storeVec(dst, r.0); storeVec(dst + step, r.1); storeVec(dst + 2 * step, r.2)
    storeVec(dst + 3 * step, r.3); storeVec(dst + 4 * step, r.4); storeVec(dst + 5 * step, r.5)
}

/// taps[k · ld + ci] = weight[row, ci, k / 3, k % 3] as float32: the C packers' F16C widening and 8×8 register
/// transposes (the Swift vector widening hit denormal assists on small f16 weights: 57% of the call).
@inline(__always)
private func widenTaps(_ weight: Weight, row: Int, c: Int, into taps: UnsafeMutablePointer<Float>, ld: Int) {
    let start = row * 9 * c
    switch weight.dtype {
    case .f16:
        diffuse_pack_f16_panel(weight.base.assumingMemoryBound(to: UInt16.self) + start, 9, c, ld, 9, taps)
    case .f32:
        diffuse_pack_f32_panel(weight.base.assumingMemoryBound(to: Float.self) + start, 9, c, ld, 9, taps)
    case .bf16:
        for ci in 0..<c { for k in 0..<9 { taps[k * ld + ci] = weight[start + ci * 9 + k] } }
    }
}

/// y[img, co, 4ty + i, 4tx + j] (+)= (Aᵀ M A)[i][j] for output channels `rows` of the block starting at co0
/// and tile rows r0 ..< r1. m: [36][blockRows][ldm].
func winogradOutputTransform(_ m: UnsafePointer<Float>, ldm: Int, blockRows: Int, plan p: WinogradPlan,
                             rows r0: Int, _ r1: Int, outputs co0: Int, channels: Range<Int>,
                             y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let tw = p.tw, rowLen = 4 * roundUp(tw, 8)
    let out = UnsafeMutablePointer<Float>.allocate(capacity: 4 * rowLen)   // four output rows of a tile row
    let s = UnsafeMutablePointer<Float>.allocate(capacity: 24 * 8)   // s[i][ξx], one vector each
    defer { out.deallocate(); s.deallocate() }
    for co in channels {
        for r in r0..<r1 {
            let img = r / p.th, ty = r % p.th, t0 = (r - r0) * tw
            var q = 0
            while q < tw {
                let src = m + co * ldm + t0 + q, step = blockRows * ldm
                // Columns: s[i][ξx] = Σ_ξy Aᵀ[i][ξy] · M[6ξy + ξx].
                for ξx in 0..<6 {
                    let o = winogradOutput1D(loadVec(src + ξx * step), loadVec(src + (6 + ξx) * step),
                                             loadVec(src + (12 + ξx) * step), loadVec(src + (18 + ξx) * step),
                                             loadVec(src + (24 + ξx) * step), loadVec(src + (30 + ξx) * step))
                    storeVec(s + 8 * ξx, o.0); storeVec(s + 8 * (6 + ξx), o.1)
                    storeVec(s + 8 * (12 + ξx), o.2); storeVec(s + 8 * (18 + ξx), o.3)
                }
                for i in 0..<4 {
                    let si = s + 48 * i
                    let o = winogradOutput1D(loadVec(si), loadVec(si + 8), loadVec(si + 16), loadVec(si + 24),
                                             loadVec(si + 32), loadVec(si + 40))
                    interleave4(o.0, o.1, o.2, o.3, into: out + i * rowLen + 4 * q)
                }
                q += 8
            }
            let oy0 = 4 * ty, plane = y + (img * p.o + co0 + co) * p.h * p.w
            for i in 0..<min(4, p.h - oy0) {
                let dst = plane + (oy0 + i) * p.w, src = out + i * rowLen
                if accumulate {
                    var j = 0
                    while j + 8 <= p.w { storeVec(dst + j, loadVec(dst + j) + loadVec(src + j)); j += 8 }
                    while j < p.w { dst[j] += src[j]; j += 1 }
                } else {
                    copyFloats(dst, src, p.w)
                }
            }
        }
    }
}

/// dst[4l + j] = v_j[l]: output columns of 8 tiles, from one vector per column phase.
@inline(__always)
private func interleave4(_ v0: WinoVec, _ v1: WinoVec, _ v2: WinoVec, _ v3: WinoVec, into dst: UnsafeMutablePointer<Float>) {
    for l in 0..<8 {
        storeVec4(dst + 4 * l, SIMD4<Float>(v0[l], v1[l], v2[l], v3[l]))
    }
}

@_transparent
private func storeVec4(_ p: UnsafeMutablePointer<Float>, _ v: SIMD4<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
}
