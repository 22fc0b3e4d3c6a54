// Bias fills, residual copies and plain copies split over the threads. These passes used to run on the
// calling thread while the other one waited (a 2048 × 2560 bias fill of the feed-forward is 21 MB of
// writes); each element gets exactly the float operation the serial loop gave it (a copy, or one
// addition in the same operand order), so results are bit-identical.

/// Floats below which a pass stays on the calling thread: waking the other one costs more than half of it.
let parallelPassMinFloats = 1 << 15

extension Tensor {
    /// A tensor whose storage `body` must write completely (no zero-fill pass first).
    static func overwritten(shape: [Int], _ body: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, data: [Float](unsafeUninitializedCapacity: n) { buf, count in
            if n > 0 { body(buf.baseAddress!) }
            count = n
        })
    }
}

/// Splits `rows` rows of `cols` floats over the threads (whole rows per thread).
@inline(__always)
func forRows(_ rows: Int, cols: Int, _ body: (Range<Int>) -> Void) {
    Parallel.forRange(rows, minChunk: max(1, parallelPassMinFloats / max(cols, 1)), body)
}

/// y[r, c] = v[c] for a row-major [rows, cols] buffer.
func fillRowsParallel(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, with v: Weight) {
    forRows(rows, cols: cols) { r in fillRows(y + r.lowerBound * cols, rows: r.count, cols: cols, with: v) }
}

/// y[r, c] = src[r, c] + v[c] (src may be y), or a plain copy when v is nil.
func addRowsParallel(_ src: UnsafePointer<Float>, _ v: Weight?, to y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    let bv = v.map { $0.toTensor().data }
    forRows(rows, cols: cols) { r in
        guard let bv else {
            (y + r.lowerBound * cols).update(from: src + r.lowerBound * cols, count: r.count * cols)
            return
        }
        bv.withUnsafeBufferPointer { b in
            for row in r {
                let s = src + row * cols, d = y + row * cols
                for c in 0..<cols { d[c] = s[c] + b[c] }
            }
        }
    }
}

/// y[n, c, :] = v[c] for every image n.
func fillChannelsParallel(_ y: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int, with v: Weight) {
    let bv = v.toTensor().data
    forRows(n * c, cols: plane) { r in
        for nc in r { (y + nc * plane).update(repeating: bv[nc % c], count: plane) }
    }
}

/// y[n, c, :] = src[n, c, :] + v[c] (src may be y), or a plain copy when v is nil.
func addChannelsParallel(_ src: UnsafePointer<Float>, _ v: Weight?, to y: UnsafeMutablePointer<Float>,
                         n: Int, c: Int, plane: Int) {
    let bv = v.map { $0.toTensor().data }
    forRows(n * c, cols: plane) { r in
        guard let bv else {
            (y + r.lowerBound * plane).update(from: src + r.lowerBound * plane, count: r.count * plane)
            return
        }
        for nc in r {
            let s = src + nc * plane, d = y + nc * plane, add = bv[nc % c]
            for i in 0..<plane { d[i] = s[i] + add }
        }
    }
}

/// `count` floats set to zero.
public func zeroParallel(_ y: UnsafeMutablePointer<Float>, count: Int) {
    forRows(count, cols: 1) { r in (y + r.lowerBound).update(repeating: 0, count: r.count) }
}
