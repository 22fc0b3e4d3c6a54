// A faster packing path for `Im2colSource` when an output row is no wider than the GEMM panel (the
// 32-, 16- and 8-pixel-wide levels of small models, where the general path checks bounds pixel by pixel):
// a panel that starts at an output row and spans whole rows is, per tap, a few contiguous runs of
// input rows with zeros only at the padded edges.

extension Im2colSource {
    /// Whether `packWholeRows` can pack this panel: stride 1, a full panel starting at column 0 and made of
    /// whole output rows (one row as wide as the panel included: its padded edges get vector copies too).
    @inline(__always)
    func coversWholeRows(j0: Int, count: Int, width: Int) -> Bool {
        stride == 1 && count == width && wo <= width && width % wo == 0 && j0 % wo == 0
    }

    /// dst[p · width + q] = element(j0 + q, p0 + p) for the panel described by `coversWholeRows`.
    @inline(__always)
    func packWholeRows(j0: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        let oy0 = j0 / wo, rows = width / wo
        var kx = p0 % kw, ky = (p0 / kw) % kh, ch = p0 / (kw * kh)
        for p in 0..<kc {
            let plane = x + ch * h * w
            let ix0 = kx - pad
            // Columns [lo, hi) of each output row read inside the image; the rest is padding.
            let lo = max(0, -ix0), hi = min(wo, w - ix0)
            for r in 0..<rows {
                let d = dst + p * width + r * wo
                let iy = oy0 + r - pad + ky
                if iy < 0 || iy >= h || lo >= hi {
                    for q in 0..<wo { d[q] = 0 }
                    continue
                }
                let src = plane + iy * w + ix0
                for q in 0..<lo { d[q] = 0 }
                copyFloats(d + lo, src + lo, hi - lo)
                for q in hi..<wo { d[q] = 0 }
            }
            kx += 1
            if kx == kw { kx = 0; ky += 1; if ky == kh { ky = 0; ch += 1 } }
        }
    }
}
