// The transformer feed-forward with a GEGLU gate, run over blocks of token rows so its widest
// intermediate ([tokens, 8·C] at 512 px is 84 MB) never exists whole: the step's peak memory is set by
// the weights, not by this temporary.

/// Token rows per block: large enough that re-packing the weights per block costs ~1% of the GEMMs.
let feedForwardRows = 2048

/// residual + GEGLU(x · w1ᵀ + b1) · w2ᵀ + b2, with x [..., K], w1 [2N, K] (value half, then gate half, as
/// diffusers' GEGLU splits), w2 [M, N], residual [..., M]. The same sums as linear → geglu → linear.
public func gegluFeedForward(_ x: Tensor, w1: Weight, b1: Weight?, w2: Weight, b2: Weight?, residual: Tensor) -> Tensor {
    let k = w1.shape[1], n2 = w1.shape[0], n = n2 / 2, m = w2.shape[0]
    let rows = x.count / k
    precondition(x.shape.last == k && w2.shape[1] == n && residual.count == rows * m,
                 "gegluFeedForward: x \(x.shape), w1 \(w1.shape), w2 \(w2.shape), residual \(residual.shape)")
    // [rows, M]: residual + b2, in one threaded pass.
    var y = Tensor.overwritten(shape: residual.shape) { yp in
        residual.withUnsafe { addRowsParallel($0.baseAddress!, b2, to: yp, rows: rows, cols: m) }
    }
    let chunk = min(rows, feedForwardRows)
    let hidden = UnsafeMutablePointer<Float>.allocate(capacity: chunk * n2)   // [chunk, 2N]
    let gated = UnsafeMutablePointer<Float>.allocate(capacity: chunk * n)     // [chunk, N]
    defer { hidden.deallocate(); gated.deallocate() }
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            let yb = yp.baseAddress!
            var r0 = 0
            while r0 < rows {
                let rc = min(chunk, rows - r0)
                if let b1 { fillRowsParallel(hidden, rows: rc, cols: n2, with: b1) }
                gemmParallel(m: rc, n: n2, k: k, a: RowMajorSource(base: xp.baseAddress! + r0 * k, ld: k),
                             b: WeightSource(w: w1, ld: k), c: hidden, ldc: n2, accumulate: b1 != nil)
                Parallel.forRange(rc, minChunk: 16) { r in
                    for row in r {
                        let s = hidden + row * n2, o = gated + row * n
                        gegluRow(value: s, gate: s + n, out: o, count: n)
                    }
                }
                gemmParallel(m: rc, n: m, k: n, a: RowMajorSource(base: gated, ld: n), b: WeightSource(w: w2, ld: n),
                             c: yb + r0 * m, ldc: m, accumulate: true)
                r0 += rc
            }
        }
    }
    return y
}
