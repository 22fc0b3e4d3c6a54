import Foundation

// diffusers' Transformer2DModel with continuous input, as used by SD 1.x/2.x UNets:
// GroupNorm → proj_in (1×1 conv, or linear with use_linear_projection) → BasicTransformerBlocks →
// proj_out → + input. upcast_attention only changes the dtype of the scores in half precision, so it
// has no effect here: everything runs in float32.

/// diffusers' `Attention` as the UNet uses it: to_q/to_k/to_v without bias, to_out.0 with bias.
struct CrossAttention {
    let toQ: LinearLayer, toK: LinearLayer, toV: LinearLayer, toOut: LinearLayer
    let heads: Int

    init(_ w: WeightScope, queryDim: Int, contextDim: Int, heads: Int, headDim: Int) throws {
        let inner = heads * headDim
        toQ = try LinearLayer(w.scope("to_q"), in: queryDim, out: inner, bias: false)
        toK = try LinearLayer(w.scope("to_k"), in: contextDim, out: inner, bias: false)
        toV = try LinearLayer(w.scope("to_v"), in: contextDim, out: inner, bias: false)
        toOut = try LinearLayer(w.scope("to_out.0"), in: inner, out: queryDim)
        self.heads = heads
    }

    /// x [B, L, queryDim], context [B, Lc, contextDim] (x itself for self-attention) → [B, L, queryDim]
    /// `residual` [B, L, queryDim] is added by to_out's GEMM.
    func callAsFunction(_ x: Tensor, context: Tensor? = nil, residual: Tensor? = nil) -> Tensor {
        let c = context ?? x
        return toOut(attention(q: toQ(x), k: toK(c), v: toV(c), heads: heads), residual: residual)
    }
}

/// LN → self-attention, LN → cross-attention, LN → GEGLU feed-forward, each added to its input.
struct BasicTransformerBlock {
    let norm1: LayerNormLayer, attn1: CrossAttention
    let norm2: LayerNormLayer, attn2: CrossAttention
    let norm3: LayerNormLayer, ffIn: LinearLayer, ffOut: LinearLayer

    init(_ w: WeightScope, dim: Int, contextDim: Int, heads: Int, headDim: Int) throws {
        let eps: Float = 1e-5   // nn.LayerNorm default; diffusers' norm_eps for these blocks
        norm1 = try LayerNormLayer(w.scope("norm1"), dim: dim, eps: eps)
        attn1 = try CrossAttention(w.scope("attn1"), queryDim: dim, contextDim: dim, heads: heads, headDim: headDim)
        norm2 = try LayerNormLayer(w.scope("norm2"), dim: dim, eps: eps)
        attn2 = try CrossAttention(w.scope("attn2"), queryDim: dim, contextDim: contextDim, heads: heads, headDim: headDim)
        norm3 = try LayerNormLayer(w.scope("norm3"), dim: dim, eps: eps)
        let inner = dim * 4   // FeedForward mult 4; GEGLU projects to twice that (value, gate)
        ffIn = try LinearLayer(w.scope("ff.net.0.proj"), in: dim, out: 2 * inner)
        ffOut = try LinearLayer(w.scope("ff.net.2"), in: inner, out: dim)
    }

    /// x [B, L, dim], context [B, Lc, contextDim] → [B, L, dim]
    func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        var h = attn1(norm1(x), residual: x)
        h = attn2(norm2(h), context: context, residual: h)
        return gegluFeedForward(norm3(h), w1: ffIn.weight, b1: ffIn.bias, w2: ffOut.weight, b2: ffOut.bias, residual: h)
    }
}

/// proj_in / proj_out: a 1×1 convolution on [B, C, H, W] (SD 1.x) or a linear layer on tokens (SD 2.x,
/// use_linear_projection). Both map channels to channels; they differ in weight shape and in which side of
/// the token reshape they run.
enum ChannelProjection {
    case conv(Conv2dLayer)
    case linear(LinearLayer)

    init(_ w: WeightScope, channels: Int, linear: Bool) throws {
        self = linear ? .linear(try LinearLayer(w, in: channels, out: channels))
            : .conv(try Conv2dLayer(w, in: channels, out: channels, kernel: 1))
    }

    /// [B, C, H, W] → tokens [B, H·W, C]
    func toTokens(_ x: Tensor) -> Tensor {
        switch self {
        case .conv(let conv): return conv1x1ToTokens(x, conv.weight, conv.bias)
        case .linear(let lin): return lin(channelsLast(x))
        }
    }

    /// tokens [B, H·W, C] → residual + projection, [B, C, H, W] (the residual's shape)
    func toImage(_ h: Tensor, residual: Tensor) -> Tensor {
        switch self {
        case .conv(let conv): return conv1x1FromTokens(h, conv.weight, conv.bias, residual: residual)
        case .linear(let lin):
            return add(channelsFirst(lin(h), height: residual.shape[2], width: residual.shape[3]), residual)
        }
    }
}

struct Transformer2DModel {
    let norm: GroupNormLayer
    let projIn: ChannelProjection
    let blocks: [BasicTransformerBlock]
    let projOut: ChannelProjection

    init(_ w: WeightScope, channels: Int, heads: Int, layers: Int, contextDim: Int,
         groups: Int, linearProjection: Bool) throws {
        guard heads > 0, channels % heads == 0 else {
            throw NetworkError("UNet attention '\(w.prefix)': \(channels) channels cannot be split into \(heads) heads; "
                + "check attention_head_dim in the UNet configuration")
        }
        norm = try GroupNormLayer(w.scope("norm"), channels: channels, groups: groups, eps: 1e-6)
        projIn = try ChannelProjection(w.scope("proj_in"), channels: channels, linear: linearProjection)
        blocks = try (0..<layers).map {
            try BasicTransformerBlock(w.scope("transformer_blocks", $0), dim: channels, contextDim: contextDim,
                                      heads: heads, headDim: channels / heads)
        }
        projOut = try ChannelProjection(w.scope("proj_out"), channels: channels, linear: linearProjection)
    }

    /// x [B, C, H, W], context [B, Lc, D] → [B, C, H, W]
    func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        var h = projIn.toTokens(norm(x))   // [B, H·W, C]
        for block in blocks { h = block(h, context: context) }
        return projOut.toImage(h, residual: x)
    }
}
