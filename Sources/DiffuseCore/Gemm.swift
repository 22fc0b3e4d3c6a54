// Matrix multiply entry points. Every layer of the models ends up here: linear layers directly,
// convolutions through an implicit im2col, attention through packed blocks (GemmKernel.swift).
//
// Layout: C[M, N] = A[M, K] · B[N, K]ᵀ ("NT"): both operands are read along K contiguously, which is
// how torch stores Linear weights ([out, in]) and how im2col rows come out, so no transposes are needed.

/// C[M, N] (+)= A[M, K] · B[N, K]ᵀ with row strides lda, ldb, ldc. Multi-threaded (see `gemmParallel`).
public func gemmNT(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool = false
) {
    gemmParallel(m: m, n: n, k: k, a: RowMajorSource(base: a, ld: lda), b: RowMajorSource(base: b, ld: ldb),
                 c: c, ldc: ldc, accumulate: accumulate)
}

/// `gemmNT` with a chosen register tile instead of `GemmTile.active`: lets tests and the kernel benchmark
/// run both kernels in one process. `.avx512` requires `GemmTile.avx512Available`.
public func _gemmNT(
    tile: GemmTile, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool = false
) {
    precondition(tile == .avx2 || GemmTile.avx512Available, "_gemmNT: this CPU has no AVX-512")
    gemmParallel(m: m, n: n, k: k, a: RowMajorSource(base: a, ld: lda), b: RowMajorSource(base: b, ld: ldb),
                 c: c, ldc: ldc, tile: tile, accumulate: accumulate)
}

/// C[M, N] (+)= A[M, K] · B[K, N] ("NN": B stored K-major, e.g. V in P·V or an NCHW image as [C, H·W]).
public func gemmNN(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool = false
) {
    gemmParallel(m: m, n: n, k: k, a: RowMajorSource(base: a, ld: lda), b: KMajorSource(base: b, ld: ldb),
                 c: c, ldc: ldc, accumulate: accumulate)
}

/// C[M, N] (+)= A[M, K] · W[N, K]ᵀ with W a weight in any dtype, widened while packing.
public func gemmNT(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    weight: Weight,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool = false
) {
    gemmParallel(m: m, n: n, k: k, a: RowMajorSource(base: a, ld: lda), b: WeightSource(w: weight, ld: k),
                 c: c, ldc: ldc, accumulate: accumulate)
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
public func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ k: Int) -> Float {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
    var p = 0
    while p + 16 <= k {
        s0.addProduct(load8(x + p), load8(y + p))
        s1.addProduct(load8(x + p + 8), load8(y + p + 8))
        p += 16
    }
    if p + 8 <= k { s0.addProduct(load8(x + p), load8(y + p)); p += 8 }
    var s = (s0 + s1).sum()
    while p < k { s += x[p] * y[p]; p += 1 }
    return s
}

/// The naive reference for `gemmNT` (one scalar loop, Double accumulation): tests compare against it.
public func gemmNTReference(m: Int, n: Int, k: Int, a: [Float], b: [Float]) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(a[i * k + p]) * Double(b[j * k + p]) }
            c[i * n + j] = Float(s)
        }
    }
    return c
}

/// Single-threaded gemmNT, for callers that already parallelise over an outer loop (attention heads).
public func gemmNTSerial(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool = false
) {
    gemmBlocked(rows: 0..<m, cols: 0..<n, k: k, a: RowMajorSource(base: a, ld: lda),
                b: RowMajorSource(base: b, ld: ldb), c: c, ldc: ldc, accumulate: accumulate)
}
