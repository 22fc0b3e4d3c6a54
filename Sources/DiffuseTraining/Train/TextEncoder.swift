import DiffuseCore

/// A small pre-LayerNorm transformer over word ids: token + learned position embeddings, `layers` blocks
/// of self-attention and a GELU MLP (width 2×dim), final LayerNorm. Not causal: captions are read as a
/// whole, and padding is an ordinary learned token (an empty caption is the unconditional embedding).
public final class TextEncoder: ParameterOwner {
    let tokens: EmbeddingLayer
    let positions: Parameter
    let blocks: [TextBlock]
    let finalNorm: LayerNormLayer
    let length: Int, dim: Int

    init(vocabulary: Int, length: Int, dim: Int, layers: Int, heads: Int, rng: inout TrainingRNG) {
        tokens = EmbeddingLayer("text.token_embedding", count: vocabulary, dim: dim, rng: &rng)
        positions = Parameter("text.position_embedding", Tensor(shape: [length, dim],
                                                                 data: (0..<length * dim).map { _ in 0.01 * rng.nextNormal() }))
        blocks = (0..<layers).map { TextBlock("text.layers.\($0)", dim: dim, heads: heads, rng: &rng) }
        finalNorm = LayerNormLayer("text.final_layer_norm", dim: dim)
        self.length = length
        self.dim = dim
    }

    public var parameters: [Parameter] {
        tokens.parameters + [positions] + blocks.flatMap(\.parameters) + finalNorm.parameters
    }

    /// ids: B rows of `length` ids → [B, length, dim]
    func forward(_ ids: [[Int]]) -> Tensor {
        var h = tokens.forward(ids.flatMap { $0 }).reshaped([ids.count, length, dim])
        for i in 0..<h.count { h.data[i] += positions.value.data[i % (length * dim)] }
        for b in blocks { h = b.forward(h) }
        return finalNorm.forward(h)
    }

    func backward(_ dy: Tensor) {
        var d = finalNorm.backward(dy)
        for b in blocks.reversed() { d = b.backward(d) }
        for i in 0..<d.count { positions.grad.data[i % (length * dim)] += d.data[i] }
        tokens.backward(d.reshaped([-1, dim]))
    }
}

final class TextBlock: ParameterOwner {
    let norm1: LayerNormLayer, attn: AttentionLayer, norm2: LayerNormLayer, fc1: LinearLayer, fc2: LinearLayer
    private var hidden = Tensor(zeros: [0])

    init(_ name: String, dim: Int, heads: Int, rng: inout TrainingRNG) {
        norm1 = LayerNormLayer(name + ".layer_norm1", dim: dim)
        attn = AttentionLayer(name + ".self_attn", dim: dim, heads: heads, rng: &rng)
        norm2 = LayerNormLayer(name + ".layer_norm2", dim: dim)
        fc1 = LinearLayer(name + ".mlp.fc1", in: dim, out: 2 * dim, rng: &rng)
        fc2 = LinearLayer(name + ".mlp.fc2", in: 2 * dim, out: dim, rng: &rng)
    }

    var parameters: [Parameter] {
        norm1.parameters + attn.parameters + norm2.parameters + fc1.parameters + fc2.parameters
    }

    func forward(_ x: Tensor) -> Tensor {
        let h = add(x, attn.forward(norm1.forward(x)))
        hidden = fc1.forward(norm2.forward(h))
        return add(h, fc2.forward(gelu(hidden)))
    }

    func backward(_ dy: Tensor) -> Tensor {
        var dh = dy
        let dMLP = norm2.backward(fc1.backward(geluBackward(x: hidden, dy: fc2.backward(dy))))
        accumulate(&dh, dMLP)
        var dx = dh
        accumulate(&dx, norm1.backward(attn.backward(dh).dx))
        return dx
    }
}
