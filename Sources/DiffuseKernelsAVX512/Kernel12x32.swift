// AVX-512 GEMM micro-kernel, compiled with `-target-cpu skylake-avx512` on x86_64 (Package.swift). Only
// DiffuseCore calls it, and only after CPUID says AVX-512 is there (`GemmTile.active`): nothing in this
// module may run on an AVX2-only CPU. On other architectures the module is empty.
//
// Same arithmetic as DiffuseCore's 6×16 AVX2 kernel, wider: each element of C is one float32 FMA chain
// in k order over the block, stored (or added onto C), so both kernels give bit-identical results.
#if arch(x86_64)
private typealias V = SIMD16<Float>

/// Micro-tile rows (A values broadcast per k) and columns (two 16-lane vectors of B).
public let avx512TileRows = 12, avx512TileColumns = 32

/// c[12 rows at stride ldc][32] (+)= a[kc][12] · b[kc][32]: 24 zmm accumulators, per k two loads of B,
/// twelve broadcasts of A and 24 vfmadd231ps. Never inlined: the caller is compiled for haswell.
@inline(never)
public func avx512Kernel12x32(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                              _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c00 = V(), c01 = V(), c10 = V(), c11 = V()
    var c20 = V(), c21 = V(), c30 = V(), c31 = V()
    var c40 = V(), c41 = V(), c50 = V(), c51 = V()
    var c60 = V(), c61 = V(), c70 = V(), c71 = V()
    var c80 = V(), c81 = V(), c90 = V(), c91 = V()
    var c100 = V(), c101 = V(), c110 = V(), c111 = V()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = load(pb), b1 = load(pb + 16)
        var x: V
        x = V(repeating: pa[0]); c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = V(repeating: pa[1]); c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = V(repeating: pa[2]); c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = V(repeating: pa[3]); c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = V(repeating: pa[4]); c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = V(repeating: pa[5]); c50.addProduct(x, b0); c51.addProduct(x, b1)
        x = V(repeating: pa[6]); c60.addProduct(x, b0); c61.addProduct(x, b1)
        x = V(repeating: pa[7]); c70.addProduct(x, b0); c71.addProduct(x, b1)
        x = V(repeating: pa[8]); c80.addProduct(x, b0); c81.addProduct(x, b1)
        x = V(repeating: pa[9]); c90.addProduct(x, b0); c91.addProduct(x, b1)
        x = V(repeating: pa[10]); c100.addProduct(x, b0); c101.addProduct(x, b1)
        x = V(repeating: pa[11]); c110.addProduct(x, b0); c111.addProduct(x, b1)
        pa += 12; pb += 32
    }
    storeRow(c + 0 * ldc, c00, c01, accumulate)
    storeRow(c + 1 * ldc, c10, c11, accumulate)
    storeRow(c + 2 * ldc, c20, c21, accumulate)
    storeRow(c + 3 * ldc, c30, c31, accumulate)
    storeRow(c + 4 * ldc, c40, c41, accumulate)
    storeRow(c + 5 * ldc, c50, c51, accumulate)
    storeRow(c + 6 * ldc, c60, c61, accumulate)
    storeRow(c + 7 * ldc, c70, c71, accumulate)
    storeRow(c + 8 * ldc, c80, c81, accumulate)
    storeRow(c + 9 * ldc, c90, c91, accumulate)
    storeRow(c + 10 * ldc, c100, c101, accumulate)
    storeRow(c + 11 * ldc, c110, c111, accumulate)
}

/// The same tile with B read in place instead of from a packed panel: B's row p is the 32 floats at
/// b + offsets[p] (for a stride-1 convolution, a run of one input row: see DiffuseCore's ConvDirect.swift).
/// Same loads into the same registers and the same FMA chain per element, so results are bit-identical
/// to packing those rows first.
@inline(never)
public func avx512Kernel12x32Gather(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                    _ offsets: UnsafePointer<Int32>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                                    _ accumulate: Bool) {
    var c00 = V(), c01 = V(), c10 = V(), c11 = V()
    var c20 = V(), c21 = V(), c30 = V(), c31 = V()
    var c40 = V(), c41 = V(), c50 = V(), c51 = V()
    var c60 = V(), c61 = V(), c70 = V(), c71 = V()
    var c80 = V(), c81 = V(), c90 = V(), c91 = V()
    var c100 = V(), c101 = V(), c110 = V(), c111 = V()
    var pa = a
    for p in 0..<kc {
        let pb = b + Int(offsets[p])
        let b0 = load(pb), b1 = load(pb + 16)
        var x: V
        x = V(repeating: pa[0]); c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = V(repeating: pa[1]); c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = V(repeating: pa[2]); c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = V(repeating: pa[3]); c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = V(repeating: pa[4]); c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = V(repeating: pa[5]); c50.addProduct(x, b0); c51.addProduct(x, b1)
        x = V(repeating: pa[6]); c60.addProduct(x, b0); c61.addProduct(x, b1)
        x = V(repeating: pa[7]); c70.addProduct(x, b0); c71.addProduct(x, b1)
        x = V(repeating: pa[8]); c80.addProduct(x, b0); c81.addProduct(x, b1)
        x = V(repeating: pa[9]); c90.addProduct(x, b0); c91.addProduct(x, b1)
        x = V(repeating: pa[10]); c100.addProduct(x, b0); c101.addProduct(x, b1)
        x = V(repeating: pa[11]); c110.addProduct(x, b0); c111.addProduct(x, b1)
        pa += 12
    }
    storeRow(c + 0 * ldc, c00, c01, accumulate)
    storeRow(c + 1 * ldc, c10, c11, accumulate)
    storeRow(c + 2 * ldc, c20, c21, accumulate)
    storeRow(c + 3 * ldc, c30, c31, accumulate)
    storeRow(c + 4 * ldc, c40, c41, accumulate)
    storeRow(c + 5 * ldc, c50, c51, accumulate)
    storeRow(c + 6 * ldc, c60, c61, accumulate)
    storeRow(c + 7 * ldc, c70, c71, accumulate)
    storeRow(c + 8 * ldc, c80, c81, accumulate)
    storeRow(c + 9 * ldc, c90, c91, accumulate)
    storeRow(c + 10 * ldc, c100, c101, accumulate)
    storeRow(c + 11 * ldc, c110, c111, accumulate)
}

@inline(__always)
private func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

@inline(__always)
private func storeRow(_ c: UnsafeMutablePointer<Float>, _ v0: V, _ v1: V, _ accumulate: Bool) {
    let raw = UnsafeMutableRawPointer(c)
    if accumulate {
        raw.storeBytes(of: raw.loadUnaligned(as: V.self) + v0, as: V.self)
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 64, as: V.self) + v1, toByteOffset: 64, as: V.self)
    } else {
        raw.storeBytes(of: v0, as: V.self)
        raw.storeBytes(of: v1, toByteOffset: 64, as: V.self)
    }
}
#endif
