import CDiffuseCPU
import Foundation

// Multi-head scaled dot-product attention, flash-style: keys are visited in blocks with an online
// softmax (running max and sum per query, float32), so no score matrix larger than
// [keyBlock, queryBlock] ever exists (at 512 px a full one is 64 MB per head).
//
// Both products run on the GEMM micro-kernel in transposed form, Sᵀ = K·Qᵀ and Oᵀ = Vᵀ·Pᵀ:
//   - the scores come out as [keys][16 queries] panels, which is exactly the packed-B layout the second
//     product reads, so P is never repacked, and the softmax runs down columns with SIMD over queries;
//   - the head dim (40/80/160 in SD) becomes the M side of Oᵀ, padded only to a multiple of the tile's rows.
// K and Vᵀ are packed once per head, Q once per query block. Both products run on `GemmTile.active` (12×32
// on AVX-512): every score and output element is the same FMA chain whatever the tile (one K block each),
// so the result does not depend on the tile.

/// Queries per block (a multiple of both tiles' 16 / 32 columns) and keys per block (of their 6 / 12 rows).

let attnQueryBlock = 64, attnKeyBlock = 192

/// q [B, Lq, H·D], k and v [B, Lk, H·D] → [B, Lq, H·D]. Scale 1/√D; `causal` masks keys after the query
/// (CLIP's text transformer).
public func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool = false) -> Tensor {
    attention(q: q, k: k, v: v, heads: heads, causal: causal, tile: .active)
}

/// The same on a chosen tile (tests compare both).
func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool, tile: GemmTile) -> Tensor {
    let (b, lq, hd) = (q.shape[0], q.shape[1], q.shape[2])
    let lk = k.shape[1]
    let d = hd / heads
    let qBlocks = (lq + attnQueryBlock - 1) / attnQueryBlock
    // Few heads (the VAE's single-head attention): split each head's queries so every thread has work.
    let groups = max(1, min(qBlocks, (2 * Parallel.threads + b * heads - 1) / (b * heads)))
    let blocksPerGroup = (qBlocks + groups - 1) / groups
    var out = Tensor(zeros: q.shape)
    q.withUnsafe { qp in k.withUnsafe { kp in v.withUnsafe { vp in out.withUnsafeMutable { op in
        let qb = qp.baseAddress!, kb = kp.baseAddress!, vb = vp.baseAddress!, ob = op.baseAddress!
        Parallel.forRange(b * heads * groups) { tasks in
            let ws = AttentionWorkspace(lk: lk, d: d, tile: tile)
            defer { ws.deallocate() }
            var packedHead = -1
            for task in tasks {
                let group = task % groups, bh = task / groups
                let h = bh % heads, batch = bh / heads
                let kvOff = batch * lk * hd + h * d
                if bh != packedHead { ws.packKeysValues(k: kb + kvOff, v: vb + kvOff, ld: hd); packedHead = bh }
                let firstBlock = min(qBlocks, group * blocksPerGroup)
                for blk in firstBlock..<min(qBlocks, firstBlock + blocksPerGroup) {
                    let q0 = blk * attnQueryBlock, qn = min(attnQueryBlock, lq - q0)
                    let off = (batch * lq + q0) * hd + h * d
                    ws.queryBlock(q: qb + off, out: ob + off, ld: hd, q0: q0, qn: qn, scale: 1 / Float(d).squareRoot(),
                                  causal: causal)
                }
            }
        }
    } } } }
    return out
}

/// One thread's buffers for attention over one head at a time.
private struct AttentionWorkspace {
    let lk: Int, d: Int, dPad: Int, keyBlocks: Int
    let tile: GemmTile, mr: Int, nr: Int     // mr × nr: 6×16 (AVX2) or 12×32 (AVX-512)
    let packK: UnsafeMutablePointer<Float>   // A panels of K: [lk/mr][d][mr]
    let packV: UnsafeMutablePointer<Float>   // per key block, A panels of Vᵀ: [block][d/mr][kbn][mr]
    let packQ: UnsafeMutablePointer<Float>   // B panels of Q: [qb/nr][d][nr]
    let s: UnsafeMutablePointer<Float>       // Sᵀ, then P, as B panels: [qb/nr][kbn][nr]
    let ot: UnsafeMutablePointer<Float>      // Oᵀ [dPad][qb]
    let rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>, corr: UnsafeMutablePointer<Float>

    init(lk: Int, d: Int, tile: GemmTile) {
        self.lk = lk; self.d = d; self.tile = tile
        mr = tile.mr; nr = tile.nr
        dPad = roundUp(d, mr)
        keyBlocks = (lk + attnKeyBlock - 1) / attnKeyBlock
        packK = .allocate(capacity: roundUp(lk, mr) * d)
        packV = .allocate(capacity: keyBlocks * dPad * attnKeyBlock)
        packQ = .allocate(capacity: attnQueryBlock * d)
        s = .allocate(capacity: attnKeyBlock * attnQueryBlock)
        ot = .allocate(capacity: dPad * attnQueryBlock)
        rowMax = .allocate(capacity: attnQueryBlock)
        rowSum = .allocate(capacity: attnQueryBlock)
        corr = .allocate(capacity: attnQueryBlock)
    }

    func deallocate() {
        for p in [packK, packV, packQ, s, ot, rowMax, rowSum, corr] { p.deallocate() }
    }

    func packKeysValues(k: UnsafePointer<Float>, v: UnsafePointer<Float>, ld: Int) {
        packPanels(RowMajorSource(base: k, ld: ld), rows: 0, count: lk, width: mr, k: 0, kc: d, into: packK)
        for blk in 0..<keyBlocks {
            let j0 = blk * attnKeyBlock, kbn = min(attnKeyBlock, lk - j0)
            packPanels(KMajorSource(base: v, ld: ld), rows: 0, count: d, width: mr, k: j0, kc: kbn,
                       into: packV + blk * dPad * attnKeyBlock)
        }
    }

    /// Queries q0 ..< q0 + qn of one head: q and out point at the block's first row, row stride ld.
    func queryBlock(q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ld: Int, q0: Int, qn: Int,
                    scale: Float, causal: Bool) {
        let panels = (qn + nr - 1) / nr
        packPanels(RowMajorSource(base: q, ld: ld), rows: 0, count: qn, width: nr, k: 0, kc: d, into: packQ)
        rowMax.update(repeating: -.infinity, count: panels * nr)
        rowSum.update(repeating: 0, count: panels * nr)
        // Causal: blocks wholly after the block's last query are skipped (the rest is masked); blocks keep
        // their full size because Vᵀ was packed per full block.
        let keyEnd = causal ? min(lk, q0 + qn) : lk
        for blk in 0..<((keyEnd + attnKeyBlock - 1) / attnKeyBlock) {
            let j0 = blk * attnKeyBlock, kbn = min(attnKeyBlock, lk - j0)
            for p in 0..<panels {
                // Sᵀ[kbn, nr] = K_blk · Q_panelᵀ
                let sp = s + p * kbn * nr
                macroKernel(mc: kbn, nc: nr, kc: d, a: packK + j0 * d, b: packQ + p * nr * d,
                            c: sp, ldc: nr, tile: tile, accumulate: false)
                if causal { maskFutureKeys(sp, keys: j0..<(j0 + kbn), firstQuery: q0 + p * nr, nr: nr) }
                softmaxBlock(sp, keys: kbn, max: rowMax + p * nr, sum: rowSum + p * nr, scale: scale)
                if blk > 0 {
                    for g in stride(from: 0, to: nr, by: 16) {
                        rescaleColumns(ot + p * nr + g, rows: d, ld: attnQueryBlock, by: corr + g)
                    }
                }
            }
            // Oᵀ[dPad, qn] (+)= Vᵀ_blk · P_blk: all dPad rows (Vᵀ's padding rows are zero), so every tile is
            // a full one stored in place instead of going through a scratch tile; rows ≥ d are never read.
            macroKernel(mc: dPad, nc: panels * nr, kc: kbn, a: packV + blk * dPad * attnKeyBlock, b: s,
                        c: ot, ldc: attnQueryBlock, tile: tile, accumulate: blk > 0)
        }
        for i in 0..<qn {
            let inv = 1 / rowSum[i], o = out + i * ld
            for x in 0..<d { o[x] = ot[x * attnQueryBlock + i] * inv }
        }
    }

    /// The online softmax over one score panel s [keys][nr]: running max and sum of its nr queries, s
    /// replaced by the unnormalised probabilities, `corr` by the factor for earlier partial outputs.
    private func softmaxBlock(_ s: UnsafeMutablePointer<Float>, keys: Int, max: UnsafeMutablePointer<Float>,
                              sum: UnsafeMutablePointer<Float>, scale: Float) {
        #if arch(x86_64)
        // Max, then exp and sum fused in one pass (4 passes over the panel in the Swift path): the same
        // float operations in the same order, so the same bits.
        if tile == .avx512 { diffuse_softmax_block_avx512(s, keys, nr, nr / 16, max, sum, corr, scale); return }
        #endif
        for g in stride(from: 0, to: nr, by: 16) {
            softmaxShift(s + g, keys: keys, ld: nr, max: max + g, corr: corr + g, scale: scale)
        }
        diffuse_softmax_exp(s, keys * nr)   // 1 ulp, the AVX-512 kernel's exp (softmaxexp.c)
        for g in stride(from: 0, to: nr, by: 16) {
            softmaxSum(s + g, keys: keys, ld: nr, sum: sum + g, corr: corr + g)
        }
    }
}

/// Sets Sᵀ[j, c] to −∞ where key j0 + j comes after query firstQuery + c (nr columns per row).
@inline(__always)
private func maskFutureKeys(_ s: UnsafeMutablePointer<Float>, keys: Range<Int>, firstQuery: Int, nr: Int) {
    for (j, key) in keys.enumerated() {
        for c in 0..<nr where key > firstQuery + c { s[j * nr + c] = -.infinity }
    }
}

/// One key block of the online softmax for 16 query columns of s [keys][ld], first half: updates the
/// running max, replaces s by (s − max)·scale (exp follows over the whole panel), and writes the factor
/// exp((oldMax − max)·scale) by which earlier partial outputs and sums must be multiplied.
@inline(__always)
private func softmaxShift(_ s: UnsafeMutablePointer<Float>, keys: Int, ld: Int, max mx: UnsafeMutablePointer<Float>,
                          corr: UnsafeMutablePointer<Float>, scale: Float) {
    var m0 = load8f(mx), m1 = load8f(mx + 8)
    let old0 = m0, old1 = m1
    for j in 0..<keys {
        m0 = laneMax(m0, load8f(s + j * ld)); m1 = laneMax(m1, load8f(s + j * ld + 8))
    }
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>()
    for i in 0..<8 {
        c0[i] = old0[i] == -.infinity ? 0 : Foundation.exp((old0[i] - m0[i]) * scale)
        c1[i] = old1[i] == -.infinity ? 0 : Foundation.exp((old1[i] - m1[i]) * scale)
    }
    let sc = SIMD8<Float>(repeating: scale)
    for j in 0..<keys {
        let row = s + j * ld
        store8f(row, (load8f(row) - m0) * sc); store8f(row + 8, (load8f(row + 8) - m1) * sc)
    }
    store8f(mx, m0); store8f(mx + 8, m1)
    store8f(corr, c0); store8f(corr + 8, c1)
}

/// Second half, after the exp: sum = sum · corr + Σ_keys p, in key order.
@inline(__always)
private func softmaxSum(_ s: UnsafeMutablePointer<Float>, keys: Int, ld: Int, sum: UnsafeMutablePointer<Float>,
                        corr: UnsafeMutablePointer<Float>) {
    var l0 = load8f(sum) * load8f(corr), l1 = load8f(sum + 8) * load8f(corr + 8)
    for j in 0..<keys {
        l0 += load8f(s + j * ld); l1 += load8f(s + j * ld + 8)
    }
    store8f(sum, l0); store8f(sum + 8, l1)
}

/// Oᵀ[:, 0..<16] *= corr, for the 16 query columns starting at `ot`.
@inline(__always)
private func rescaleColumns(_ ot: UnsafeMutablePointer<Float>, rows: Int, ld: Int, by corr: UnsafeMutablePointer<Float>) {
    let c0 = load8f(corr), c1 = load8f(corr + 8)
    for r in 0..<rows {
        let p = ot + r * ld
        store8f(p, load8f(p) * c0); store8f(p + 8, load8f(p + 8) * c1)
    }
}

/// Naive reference: full score matrix, Double softmax.
public func attentionReference(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool = false) -> Tensor {
    let (b, lq, hd) = (q.shape[0], q.shape[1], q.shape[2])
    let lk = k.shape[1], d = hd / heads
    let scale = 1 / Double(d).squareRoot()
    var out = Tensor(zeros: q.shape)
    for bb in 0..<b { for h in 0..<heads { for i in 0..<lq {
        var s = [Double](repeating: -.infinity, count: lk)
        for j in 0..<lk where !(causal && j > i) {
            var acc = 0.0
            for x in 0..<d { acc += Double(q.data[(bb * lq + i) * hd + h * d + x]) * Double(k.data[(bb * lk + j) * hd + h * d + x]) }
            s[j] = acc * scale
        }
        let mx = s.max()!
        let e = s.map { Foundation.exp($0 - mx) }
        let z = e.reduce(0, +)
        for x in 0..<d {
            var acc = 0.0
            for j in 0..<lk { acc += e[j] / z * Double(v.data[(bb * lk + j) * hd + h * d + x]) }
            out.data[(bb * lq + i) * hd + h * d + x] = Float(acc)
        }
    } } }
    return out
}

// File-local SIMD load/store: in debug builds (no whole-module optimisation) a helper from another file
// is an out-of-line call even when marked always-inline, which costs more than the load itself.
@inline(__always)
fileprivate func load8f(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
fileprivate func load8f(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
fileprivate func store8f(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Lane-wise maximum for finite values (the stdlib's pointwiseMax is an out-of-line generic call).
@inline(__always)
fileprivate func laneMax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }
