// GEMM with either operand read transposed, BLAS-style, for the backward passes of training: the
// products there (dyᵀ·x, dy·W, Pᵀ·dO, …) read their operands along the "wrong" axis, and packing them
// straight from their stored layout saves a transposed copy of each (the packing copies anyway).
// Same engine, blocking and summation order as `gemmNT`.

/// C[M, N] (+)= op(A) · op(B), op(A) [M, K] and op(B) [K, N], row-major storage with leading dimensions:
/// A is stored [M, K] (`transA` false) or [K, M] (`transA` true); B is stored [K, N] (`transB` false) or
/// [N, K] (`transB` true). `serial`: one thread (for callers that parallelise an outer loop).
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool = false, serial: Bool = false
) {
    // The engine computes A' · B'ᵀ with A' element (i, p) and B' element (j, p): a row-major operand read
    // along K is RowMajorSource, one stored K-major is KMajorSource.
    switch (transA, transB) {
    case (false, true):
        run(m, n, k, RowMajorSource(base: a, ld: lda), RowMajorSource(base: b, ld: ldb), c, ldc, accumulate, serial)
    case (false, false):
        run(m, n, k, RowMajorSource(base: a, ld: lda), KMajorSource(base: b, ld: ldb), c, ldc, accumulate, serial)
    case (true, false):
        run(m, n, k, KMajorSource(base: a, ld: lda), KMajorSource(base: b, ld: ldb), c, ldc,
            accumulate, serial)
    case (true, true):
        run(m, n, k, KMajorSource(base: a, ld: lda), RowMajorSource(base: b, ld: ldb), c, ldc, accumulate, serial)
    }
}

@inline(__always)
private func run<A: PanelSource, B: PanelSource>(_ m: Int, _ n: Int, _ k: Int, _ a: A, _ b: B,
                                                 _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool,
                                                 _ serial: Bool) {
    if serial {
        gemmBlocked(rows: 0..<m, cols: 0..<n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
    } else {
        gemmParallel(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
    }
}

/// The naive reference for `gemm(transA:transB:…)` (Double accumulation, dense storage): tests compare to it.
public func gemmReference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], b: [Float]) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * m + i] : a[i * k + p], bv = transB ? b[j * k + p] : b[p * n + j]
                s += Double(av) * Double(bv)
            }
            c[i * n + j] = Float(s)
        }
    }
    return c
}

