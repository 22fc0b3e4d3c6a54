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
        grad.withUnsafeMutable { g in zeroParallel(g.baseAddress!, count: g.count) }
    }
}

/// Anything that owns parameters; names are unique within a model and become the checkpoint keys.
public protocol ParameterOwner: AnyObject {
    var parameters: [Parameter] { get }
}

extension ParameterOwner {
    public func zeroGrads() { zeroGradients(parameters) }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// Every gradient of `params` set to zero in one parallel region (see `adamWStep` for why one).
public func zeroGradients(_ params: [Parameter]) {
    let bases = params.map { p in p.grad.withUnsafeMutable { $0.baseAddress } }   // unique storage, kept by p
    forEachSlotRange(params.map(\.grad.count)) { i, r in (bases[i]! + r.lowerBound).update(repeating: 0, count: r.count) }
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

/// A tensor whose storage `body` writes completely: skips the zero fill of `Tensor(zeros:)` /
/// `Tensor(shape:_:)` (a full extra pass over every activation-sized gradient otherwise).
func uninitializedTensor(_ shape: [Int], _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> Tensor {
    let n = shape.reduce(1, *)
    return Tensor(shape: shape, data: [Float](unsafeUninitializedCapacity: n) { buf, count in
        body(buf)
        count = n
    })
}
