import DiffuseCore

/// A trainable tensor and its gradient. Backward functions add into `grad` (never overwrite), so several
/// micro-batches accumulate until the optimiser step clears them.
public final class Parameter {
    public let name: String
    public var value: Tensor
    public var grad: Tensor

    public init(_ name: String, _ value: Tensor) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: value.shape)
    }

    /// The value as a DiffuseCore `Weight` for the forward kernels. Shares the array storage (no copy):
    /// a later update of `value` copies on write, so the weight stays valid for the current pass.
    public var weight: Weight { Weight(value) }

    public func zeroGrad() {
        grad.withUnsafeMutable { g in g.update(repeating: 0) }
    }
}

/// Anything that owns parameters; names are unique within a model and become the checkpoint keys.
public protocol ParameterOwner: AnyObject {
    var parameters: [Parameter] { get }
}

extension ParameterOwner {
    public func zeroGrads() { for p in parameters { p.zeroGrad() } }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// dst += src elementwise (same element count).
@inline(__always)
func accumulate(_ dst: inout Tensor, _ src: Tensor) {
    precondition(dst.count == src.count, "accumulate: \(dst.shape) vs \(src.shape)")
    dst.withUnsafeMutable { d in
        src.withUnsafe { s in
            let db = d.baseAddress!, sb = s.baseAddress!
            Parallel.forRange(d.count, minChunk: 32768) { r in for i in r { db[i] += sb[i] } }
        }
    }
}

/// A row-major [rows, cols] matrix transposed to [cols, rows].
func transposed(_ src: UnsafePointer<Float>, rows: Int, cols: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: rows * cols) { buf, n in
        let out = buf.baseAddress!
        // Tiles keep both the reads and the writes in cache.
        let tile = 32
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + tile)
            var c0 = 0
            while c0 < cols {
                let c1 = min(cols, c0 + tile)
                for r in r0..<r1 { for c in c0..<c1 { out[c * rows + r] = src[r * cols + c] } }
                c0 = c1
            }
            r0 = r1
        }
        n = rows * cols
    }
}
