// Matrix multiply. Every layer of the models ends up here: linear layers directly, convolutions
// through im2col, attention scores through batched products.
//
// Layout: C[M, N] = A[M, K] · B[N, K]ᵀ ("NT"): both operands are read along K contiguously, which is
// how torch stores Linear weights ([out, in]) and how im2col rows come out, so no transposes are needed.

/// C[M, N] (+)= A[M, K] · B[N, K]ᵀ with row strides lda, ldb, ldc. Multi-threaded over rows of C.
public func gemmNT(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    accumulate: Bool = false
) {
    // Split over whichever dimension gives the threads more to do.
    if m >= n {
        Parallel.forRange(m, minChunk: max(1, 4096 / max(n * k / 64, 1))) { rows in
            gemmNTBlock(rows: rows, cols: 0..<n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        }
    } else {
        Parallel.forRange(n, minChunk: 4) { cols in
            gemmNTBlock(rows: 0..<m, cols: cols, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
        }
    }
}

@inline(__always)
private func gemmNTBlock(
    rows: Range<Int>, cols: Range<Int>, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    // Cache blocking over columns of C so a panel of B stays in L2 while rows of A stream past.
    let colBlock = max(4, min(cols.count, (96 * 1024) / max(k * 4, 1)))
    var j0 = cols.lowerBound
    while j0 < cols.upperBound {
        let j1 = min(cols.upperBound, j0 + colBlock)
        var i = rows.lowerBound
        while i + 2 <= rows.upperBound {
            dotRows2(i: i, cols: j0..<j1, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
            i += 2
        }
        if i < rows.upperBound {
            let ar = a + i * lda
            for j in j0..<j1 {
                let d = dot(ar, b + j * ldb, k)
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + d : d
            }
        }
        j0 = j1
    }
}

/// Two rows of A against the columns `cols` of B, four columns at a time: 8 accumulators in flight.
@inline(__always)
private func dotRows2(
    i: Int, cols: Range<Int>, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    let a0 = a + i * lda, a1 = a0 + lda
    var j = cols.lowerBound
    let k8 = k & ~7
    while j + 4 <= cols.upperBound {
        let b0 = b + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb
        var s00 = SIMD8<Float>(), s01 = SIMD8<Float>(), s02 = SIMD8<Float>(), s03 = SIMD8<Float>()
        var s10 = SIMD8<Float>(), s11 = SIMD8<Float>(), s12 = SIMD8<Float>(), s13 = SIMD8<Float>()
        var p = 0
        while p < k8 {
            let x0 = load8(a0 + p), x1 = load8(a1 + p)
            let y0 = load8(b0 + p), y1 = load8(b1 + p), y2 = load8(b2 + p), y3 = load8(b3 + p)
            s00.addProduct(x0, y0); s01.addProduct(x0, y1); s02.addProduct(x0, y2); s03.addProduct(x0, y3)
            s10.addProduct(x1, y0); s11.addProduct(x1, y1); s12.addProduct(x1, y2); s13.addProduct(x1, y3)
            p += 8
        }
        var r0 = SIMD4<Float>(s00.sum(), s01.sum(), s02.sum(), s03.sum())
        var r1 = SIMD4<Float>(s10.sum(), s11.sum(), s12.sum(), s13.sum())
        while p < k {
            let y = SIMD4<Float>(b0[p], b1[p], b2[p], b3[p])
            r0.addProduct(SIMD4(repeating: a0[p]), y)
            r1.addProduct(SIMD4(repeating: a1[p]), y)
            p += 1
        }
        for q in 0..<4 {
            let o0 = i * ldc + j + q, o1 = o0 + ldc
            c[o0] = accumulate ? c[o0] + r0[q] : r0[q]
            c[o1] = accumulate ? c[o1] + r1[q] : r1[q]
        }
        j += 4
    }
    while j < cols.upperBound {
        let d0 = dot(a0, b + j * ldb, k), d1 = dot(a1, b + j * ldb, k)
        let o0 = i * ldc + j, o1 = o0 + ldc
        c[o0] = accumulate ? c[o0] + d0 : d0
        c[o1] = accumulate ? c[o1] + d1 : d1
        j += 1
    }
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
    gemmNTBlock(rows: 0..<m, cols: 0..<n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate)
}
