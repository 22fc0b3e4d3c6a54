// Linear layers for few token rows (the CLIP text encoder: 2 × 77 = 154 rows), where the general GEMM
// spends a large share of its time outside the micro-kernel: every thread re-packs the whole of A for
// each of its column blocks, the bias and residual are laid down in serial passes, and each layer of a
// transformer block is its own pair of thread hand-offs.
//
// Here A (≤ `smallLinearRows` rows) is packed once, by all threads together, and shared (each thread
// reads it into its own L2: 0.47 MB at K = 768, 1.9 MB at K = 3072, which spills to L3 on a 1.25 MB L2); then the output columns of one or several weights are dealt out
// as 32-wide panels. For each panel a thread writes bias (+ residual) into C, then per K block widens one
// B micro-panel (kc × nr, in L1) and runs it against all row tiles of A, and finally applies the
// activation to the panel while it is still in cache.
//
// The tile and FMA order are those of `gemmBlocked`; the K blocks are smaller (`smallLinearKC`), so sums
// round differently from `linear`'s (tests: within 2e-5 of it, 1e-4 of the naive reference); the fused
// activation equals the separate pass bit for bit.

/// At most this many A rows take the shared-A path (A packed is rows × K floats: 1.9 MB at 154 × 3072).
public let smallLinearRows = 256

/// K block of this path: each B micro-panel (kc × 32 floats) is reused by every row tile of A, so it must
/// stay in L1 beside one A micro-panel: 24 + 9 KB at 192, where the general GEMM's 384 (48 KB) filled a
/// 48 KB L1 on its own. (The general GEMM keeps 384: there the A micro-panel stays in L1 instead.)
/// SD's text encoder, 2 threads, Ice Lake VM (L1d 48 KB), alternating binaries (2026-11-29): 0.166–0.224 s
/// before, 0.147–0.209 s at 192 (BENCHMARKS.md, stop 14). `DIFFUSE_SMALL_LINEAR_KC` overrides it.
let smallLinearKC = gemmKnob("DIFFUSE_SMALL_LINEAR_KC", 192)

/// What happens to a finished output panel.
public enum LinearEpilogue: Sendable {
    case none
    /// x / (1 + exp(−1.702 x)), bit-identical to `quickGelu`.
    case quickGelu
}

/// One product of `linearGroup`: weight [N, K], optional bias [N], optional residual [..., N] added in.
public struct LinearTerm {
    public let weight: Weight
    public let bias: Weight?
    public let residual: Tensor?
    public let epilogue: LinearEpilogue

    public init(_ weight: Weight, _ bias: Weight?, residual: Tensor? = nil, epilogue: LinearEpilogue = .none) {
        self.weight = weight; self.bias = bias; self.residual = residual; self.epilogue = epilogue
    }
}

/// y_t = epilogue(x · w_tᵀ + b_t (+ residual_t)) for every term t, sharing one packing of x [..., K]. Falls
/// back to `linear` (+ activation pass) for more than `smallLinearRows` rows.
public func linearGroup(_ x: Tensor, _ terms: [LinearTerm]) -> [Tensor] {
    let k = x.shape.last!, m = x.count / k
    for t in terms {
        precondition(t.weight.shape.count == 2 && t.weight.shape[1] == k, "linearGroup: input \(x.shape) vs weight \(t.weight.shape)")
    }
    if m > smallLinearRows || m == 0 || k == 0 {
        return terms.map { t in
            let y = linear(x, t.weight, t.bias, residual: t.residual)
            switch t.epilogue {
            case .none: return y
            case .quickGelu: return quickGelu(y)
            }
        }
    }
    let tile = GemmTile.active, mr = tile.mr, nr = tile.nr
    let kc0 = balancedBlock(k, limit: smallLinearKC, multiple: 1)
    let mPad = roundUp(m, mr)
    let packA = UnsafeMutablePointer<Float>.allocate(capacity: mPad * k)   // [K block][row panel][kc][mr]
    defer { packA.deallocate() }
    x.withUnsafe { xp in
        let src = RowMajorSource(base: xp.baseAddress!, ld: k)
        Parallel.forRange(mPad / mr) { panels in
            var pc = 0
            while pc < k {
                let kc = min(kc0, k - pc), r0 = panels.lowerBound * mr
                packPanels(src, rows: r0, count: min(m, panels.upperBound * mr) - r0, width: mr, k: pc, kc: kc,
                           into: packA + pc * mPad + r0 * kc)
                pc += kc
            }
        }
    }
    // Every term's column panels in one list, dealt out in contiguous runs.
    let panelCounts = terms.map { ($0.weight.shape[0] + nr - 1) / nr }
    let panelStarts = panelCounts.reduce(into: [0]) { $0.append($0.last! + $1) }
    let job = SmallLinearJob(m: m, k: k, kc0: kc0, mPad: mPad, tile: tile, packA: packA)
    let outputs = withOutputs(terms.map { m * $0.weight.shape[0] }) { out in
        Parallel.forRange(panelStarts.last!) { range in
            let packB = UnsafeMutablePointer<Float>.allocate(capacity: tile.nr * kc0)
            let panelC = UnsafeMutablePointer<Float>.allocate(capacity: m * tile.nr)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: m * tile.nr)
            defer { packB.deallocate(); panelC.deallocate(); scratch.deallocate() }
            var t = 0
            for panel in range {
                while panel >= panelStarts[t + 1] { t += 1 }
                job.run(terms[t], column: (panel - panelStarts[t]) * nr, c: out[t], packB: packB, panel: panelC,
                        scratch: scratch)
            }
        }
    }
    return zip(terms, outputs).map { t, data in
        var shape = x.shape
        shape[shape.count - 1] = t.weight.shape[0]
        return Tensor(shape: shape, data: data)
    }
}

/// Arrays of the given sizes, left uninitialised for `body`, which must write every element (the
/// general `Tensor(shape:_:)` zero-fills first, a serial pass this path avoids).
private func withOutputs(_ counts: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [[Float]] {
    var result: [[Float]] = []
    func nest(_ i: Int, _ pointers: [UnsafeMutablePointer<Float>]) {
        if i == counts.count { body(pointers); return }
        let array = [Float](unsafeUninitializedCapacity: counts[i]) { buf, count in
            nest(i + 1, pointers + [buf.baseAddress!])
            count = counts[i]
        }
        result.insert(array, at: 0)
    }
    nest(0, [])
    return result
}

/// The shared state of one `linearGroup` call: packed A and the blocking.
private struct SmallLinearJob {
    let m: Int, k: Int, kc0: Int, mPad: Int
    let tile: GemmTile
    let packA: UnsafeMutablePointer<Float>

    /// Output columns j0 ..< j0 + nr of one term into c [m, N]. The sums build up in `panel` [m, nr] at
    /// stride nr and are copied into c once at the end: in place, C's rows lie N floats apart (12 KB for
    /// fc1), so one tile's 12 rows fall in the same L1 sets and every K block reloaded them from L2
    /// (C harness, one thread, fc1's shape: 121 → 134 GFLOP/s; BENCHMARKS.md, stop 19). Same sums.
    func run(_ t: LinearTerm, column j0: Int, c: UnsafeMutablePointer<Float>, packB: UnsafeMutablePointer<Float>,
             panel: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let n = t.weight.shape[0], nr = min(tile.nr, n - j0), ldp = tile.nr
        let initialised = t.bias != nil || t.residual != nil
        if initialised { initialise(t, panel, ldp: ldp, ldr: n, column: j0, count: nr) }
        let b = WeightSource(w: t.weight, ld: k)
        var pc = 0
        while pc < k {
            let kc = min(kc0, k - pc)
            b.pack(rows: j0, count: nr, width: tile.nr, k: pc, kc: kc, into: packB)
            macroKernel(mc: m, nc: nr, kc: kc, a: packA + pc * mPad, b: packB, c: panel, ldc: ldp, out: .plain,
                        col0: 0, tile: tile, accumulate: initialised || pc > 0)
            pc += kc
        }
        if case .quickGelu = t.epilogue { quickGeluPanel(panel, ldc: ldp, rows: m, columns: nr, scratch: scratch) }
        copyRows(from: panel, ld: ldp, to: c + j0, ld: n, rows: m, count: nr)
    }

    /// p[i, 0..<count] = bias[j0 ..< j0 + count] (+ residual[i, j0 ...]), p at stride ldp, the residual at
    /// stride ldr: the sum `linear` forms before accumulating the product onto it.
    private func initialise(_ t: LinearTerm, _ p: UnsafeMutablePointer<Float>, ldp: Int, ldr: Int, column j0: Int,
                            count: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { bias in
            let bp = bias.baseAddress!
            if let b = t.bias { b.widen(from: j0, count: count, into: bp) } else { bp.update(repeating: 0, count: count) }
            // Explicit loops: a 32-float row copy through memmove costs more in the call than the copy.
            if let r = t.residual {
                r.withUnsafe { rp in
                    for i in 0..<m {
                        let src = rp.baseAddress! + i * ldr + j0, dst = p + i * ldp
                        var j = 0
                        while j + 8 <= count { storeVec(dst + j, loadVec(src + j) + loadVec(bp + j)); j += 8 }
                        while j < count { dst[j] = src[j] + bp[j]; j += 1 }
                    }
                }
            } else if count == 32 {
                // The bias held in registers and stored per row (a row copy loop becomes a memmove call).
                let b0 = loadVec(bp), b1 = loadVec(bp + 8), b2 = loadVec(bp + 16), b3 = loadVec(bp + 24)
                for i in 0..<m {
                    let dst = p + i * ldp
                    storeVec(dst, b0); storeVec(dst + 8, b1); storeVec(dst + 16, b2); storeVec(dst + 24, b3)
                }
            } else {
                for i in 0..<m {
                    let dst = p + i * ldp
                    var j = 0
                    while j + 8 <= count { storeVec(dst + j, loadVec(bp + j)); j += 8 }
                    while j < count { dst[j] = bp[j]; j += 1 }
                }
            }
        }
    }
}

/// dst[i, 0..<count] = src[i, 0..<count] for `rows` rows at the given strides (explicit vector loops, as above).
private func copyRows(from src: UnsafeMutablePointer<Float>, ld lds: Int, to dst: UnsafeMutablePointer<Float>, ld ldd: Int,
                      rows: Int, count: Int) {
    for i in 0..<rows {
        let s = src + i * lds, d = dst + i * ldd
        var j = 0
        while j + 8 <= count { storeVec(d + j, loadVec(s + j)); j += 8 }
        while j < count { d[j] = s[j]; j += 1 }
    }
}

/// quickGelu over a [rows, columns] block of C at stride ldc; scratch holds rows · columns floats.
private func quickGeluPanel(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int,
                            scratch: UnsafeMutablePointer<Float>) {
    for i in 0..<rows {
        let row = c + i * ldc, s = scratch + i * columns
        for j in 0..<columns { s[j] = -1.702 * row[j] }
    }
    exactExpInPlace(scratch, count: rows * columns)
    for i in 0..<rows {
        let row = c + i * ldc, s = scratch + i * columns
        for j in 0..<columns { row[j] = row[j] / (1 + s[j]) }
    }
}
