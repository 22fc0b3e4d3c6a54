import CDiffuseCPU
import DiffuseKernelsAVX512
import Foundation

// Run-time choice of the GEMM micro-kernel. DiffuseCore is compiled for haswell (AVX2+FMA) so that it runs
// on AVX2-only machines (Zen 3); on a CPU with AVX-512 the GEMM calls the 12×32 kernel of
// DiffuseKernelsAVX512 (compiled for skylake-avx512) instead, which does twice the FMA work per
// instruction. Both kernels compute every element of C as the same FMA chain in k order within a K block,
// so their results are bit-identical; only speed differs.

/// A register tile of the GEMM: its size and the micro-kernel that computes it.
public enum GemmTile: Sendable, CustomStringConvertible {
    /// 6×16, 12 ymm accumulators (AVX2+FMA): runs everywhere DiffuseCore does.
    case avx2
    /// 12×32, 24 zmm accumulators (AVX-512F): only where `avx512Available`.
    case avx512

    /// A rows per tile (the broadcast side) and B rows per tile (the vector side).
    @inline(__always) var mr: Int { self == .avx2 ? gemmMR : 12 }
    @inline(__always) var nr: Int { self == .avx2 ? gemmNR : 32 }

    public var description: String { self == .avx2 ? "AVX2 6×16" : "AVX-512 12×32" }

    /// Whether this CPU and OS run AVX-512 code (CPUID + XGETBV, read once).
    public static let avx512Available: Bool = diffuse_cpu_has_avx512() != 0

    /// The tile every GEMM uses: AVX-512 when available unless `DIFFUSE_NO_AVX512=1` (to test the AVX2 path
    /// on an AVX-512 machine). Fixed for the process: convolutions pick their batching from its width.
    public static let active: GemmTile =
        avx512Available && ProcessInfo.processInfo.environment["DIFFUSE_NO_AVX512"] != "1" ? .avx512 : .avx2
}

/// Full tile: C[mr rows at stride ldc][nr] (+)= a[kc][mr] · b[kc][nr].
@inline(__always)
func fullTile(_ tile: GemmTile, _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
              _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    #if arch(x86_64)
    if tile == .avx512 { avx512Kernel12x32(kc, a, b, c, ldc, accumulate); return }
    #endif
    kernel6x16(kc, a, b, c, ldc, accumulate)
}


/// One tile of C, full or partial (mr ≤ tile rows, nr ≤ tile columns); partial tiles go through a
/// scratch tile, so the kernels only ever compute full tiles.
@inline(__always)
func microTile(_ tile: GemmTile, _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
               _ c: UnsafeMutablePointer<Float>, _ ldc: Int, mr: Int, nr: Int, _ accumulate: Bool) {
    let tr = tile.mr, tc = tile.nr
    if mr == tr && nr == tc {
        fullTile(tile, kc, a, b, c, ldc, accumulate)
        return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 12 * 32) { t in
        let scratch = t.baseAddress!
        fullTile(tile, kc, a, b, scratch, tc, false)
        addOrCopyRows(from: scratch, tc, to: c, ldc, rows: mr, columns: nr, accumulate)
    }
}

/// c[r, j] (+)= src[r, j] for r < rows, j < columns: a scratch tile onto C, as the kernels' own
/// accumulating store does it (C + tile sum; vector or scalar, the same rounding).
@inline(__always)
func addOrCopyRows(from src: UnsafePointer<Float>, _ lds: Int, to c: UnsafeMutablePointer<Float>, _ ldc: Int,
                   rows: Int, columns nr: Int, _ accumulate: Bool) {
    for r in 0..<rows {
        let s = src + r * lds, dst = c + r * ldc
        if accumulate {
            var j = 0
            while j + 8 <= nr { storeVec(dst + j, loadVec(dst + j) + loadVec(s + j)); j += 8 }
            while j < nr { dst[j] += s[j]; j += 1 }
        } else {
            copyFloats(dst, s, nr)
        }
    }
}
