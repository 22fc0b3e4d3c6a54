import DiffuseCore

/// diffusers' `Attention` (to_q/to_k/to_v without bias, to_out.0 with bias) with backward; self-attention
/// when no context is given, cross-attention over `context` otherwise.
public final class AttentionLayer: ParameterOwner {
    public let toQ: LinearLayer, toK: LinearLayer, toV: LinearLayer, toOut: LinearLayer
    public let heads: Int
    private var q = Tensor(zeros: [0]), k = Tensor(zeros: [0]), v = Tensor(zeros: [0])
    private var isSelf = true

    public init(_ name: String, dim: Int, contextDim: Int? = nil, heads: Int, rng: inout TrainingRNG) {
        let ctx = contextDim ?? dim
        toQ = LinearLayer(name + ".to_q", in: dim, out: dim, bias: false, rng: &rng)
        toK = LinearLayer(name + ".to_k", in: ctx, out: dim, bias: false, rng: &rng)
        toV = LinearLayer(name + ".to_v", in: ctx, out: dim, bias: false, rng: &rng)
        toOut = LinearLayer(name + ".to_out.0", in: dim, out: dim, rng: &rng)
        self.heads = heads
    }

    public var parameters: [Parameter] { toQ.parameters + toK.parameters + toV.parameters + toOut.parameters }

    /// x [B, L, dim], context [B, Lc, ctxDim] (nil: x itself) → [B, L, dim]
    public func forward(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        isSelf = context == nil
        let ctx = context ?? x
        q = toQ.forward(x); k = toK.forward(ctx); v = toV.forward(ctx)
        let o = TrainProfile.time(.attentionForward) { DiffuseCore.attention(q: q, k: k, v: v, heads: heads) }
        return toOut.forward(o)
    }

    /// Returns dx and, for cross-attention, the context gradient.
    public func backward(_ dy: Tensor) -> (dx: Tensor, dContext: Tensor?) {
        let dAttn = toOut.backward(dy)
        let (dq, dk, dv) = TrainProfile.time(.attentionBackward) {
            attentionBackward(q: q, k: k, v: v, dOut: dAttn, heads: heads)
        }
        var dx = toQ.backward(dq)
        var dCtx = toK.backward(dk)
        accumulate(&dCtx, toV.backward(dv))
        if isSelf { accumulate(&dx, dCtx); return (dx, nil) }
        return (dx, dCtx)
    }
}
