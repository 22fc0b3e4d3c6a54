import Foundation

/// The hyperparameters of transformers' CLIPTextModel.
public struct CLIPTextArchitecture: Sendable, Equatable {
    public enum Activation: String, Sendable { case quickGelu = "quick_gelu", gelu = "gelu", geluTanh = "gelu_new" }

    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct: Activation
    public var layerNormEps: Float

    public init(vocabSize: Int = 49408, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, maxPositionEmbeddings: Int = 77, hiddenAct: Activation,
                layerNormEps: Float = 1e-5) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    /// transformers' `hidden_act` names; "gelu_pytorch_tanh" is the same tanh approximation as "gelu_new".
    public static func activation(named name: String) throws -> Activation {
        if name == "gelu_pytorch_tanh" { return .geluTanh }
        guard let act = Activation(rawValue: name) else {
            throw NetworkError("text encoder configuration: hidden_act '\(name)' is not supported "
                + "(expected quick_gelu, gelu or gelu_new)")
        }
        return act
    }
}

/// Pre-LN transformer layer: x + attn(LN1(x)), then + MLP(LN2(·)); causal self-attention.
struct CLIPEncoderLayer {
    let ln1: LayerNormLayer, ln2: LayerNormLayer
    let q: LinearLayer, k: LinearLayer, v: LinearLayer, out: LinearLayer
    let fc1: LinearLayer, fc2: LinearLayer
    let heads: Int
    let act: CLIPTextArchitecture.Activation

    init(_ w: WeightScope, _ a: CLIPTextArchitecture) throws {
        let d = a.hiddenSize
        ln1 = try LayerNormLayer(w.scope("layer_norm1"), dim: d, eps: a.layerNormEps)
        q = try LinearLayer(w.scope("self_attn.q_proj"), in: d, out: d)
        k = try LinearLayer(w.scope("self_attn.k_proj"), in: d, out: d)
        v = try LinearLayer(w.scope("self_attn.v_proj"), in: d, out: d)
        out = try LinearLayer(w.scope("self_attn.out_proj"), in: d, out: d)
        ln2 = try LayerNormLayer(w.scope("layer_norm2"), dim: d, eps: a.layerNormEps)
        fc1 = try LinearLayer(w.scope("mlp.fc1"), in: d, out: a.intermediateSize)
        fc2 = try LinearLayer(w.scope("mlp.fc2"), in: a.intermediateSize, out: d)
        heads = a.numAttentionHeads
        act = a.hiddenAct
    }

    /// [B, L, D] → [B, L, D]. The projections run through `linearGroup` (`linear`'s sums in smaller K blocks):
    /// for SD's 2 × 77 token rows it packs the input once per group and fuses bias, residual and quick_gelu.
    func callAsFunction(_ x: Tensor) -> Tensor {
        let qkv = linearGroup(ln1(x), [LinearTerm(q.weight, q.bias), LinearTerm(k.weight, k.bias),
                                       LinearTerm(v.weight, v.bias)])
        let o = attention(q: qkv[0], k: qkv[1], v: qkv[2], heads: heads, causal: true)
        let h = linearGroup(o, [LinearTerm(out.weight, out.bias, residual: x)])[0]
        let fused = act == .quickGelu
        let m = linearGroup(ln2(h), [LinearTerm(fc1.weight, fc1.bias, epilogue: fused ? .quickGelu : .none)])[0]
        let a: Tensor   // [B, L, intermediate]
        switch act {
        case .quickGelu: a = m
        case .gelu: a = gelu(m)
        case .geluTanh: a = geluTanh(m)
        }
        return linearGroup(a, [LinearTerm(fc2.weight, fc2.bias, residual: h)])[0]
    }
}

/// transformers' CLIPTextModel (text_model.*), returning hidden states rather than the pooled output.
public struct CLIPTextEncoder {
    public let architecture: CLIPTextArchitecture
    let tokenEmbedding: Weight      // [vocab, D]
    let positionEmbedding: Tensor   // [maxPositions, D]
    let layers: [CLIPEncoderLayer]
    let finalLayerNorm: LayerNormLayer
    let allWeights: [Weight]

    public init(architecture a: CLIPTextArchitecture, weights: [String: Weight]) throws {
        guard a.numAttentionHeads > 0, a.hiddenSize % a.numAttentionHeads == 0 else {
            throw NetworkError("text encoder configuration: hidden_size \(a.hiddenSize) is not divisible by "
                + "num_attention_heads \(a.numAttentionHeads)")
        }
        let store = WeightStore(weights, owner: "text encoder")
        // transformers 4 state dicts (and real SD repos) name parameters "text_model.*"; transformers 5
        // saves CLIPTextModel without that prefix. Both mean the same module tree.
        let prefix = weights["embeddings.token_embedding.weight"] != nil ? "" : "text_model"
        let w = store.scope(prefix)
        architecture = a
        tokenEmbedding = try w.take("embeddings.token_embedding.weight", shape: [a.vocabSize, a.hiddenSize])
        positionEmbedding = try w.take("embeddings.position_embedding.weight",
                                       shape: [a.maxPositionEmbeddings, a.hiddenSize]).toTensor()
        // A non-persistent buffer that some exports include anyway, and the pooled-output projection of
        // CLIPTextModelWithProjection / OpenCLIP, which SD's hidden states never pass through.
        store.ignore(prefix.isEmpty ? "embeddings.position_ids" : "text_model.embeddings.position_ids")
        store.ignore("text_projection.weight")
        layers = try (0..<a.numHiddenLayers).map { try CLIPEncoderLayer(w.scope("encoder.layers", $0), a) }
        finalLayerNorm = try LayerNormLayer(w.scope("final_layer_norm"), dim: a.hiddenSize, eps: a.layerNormEps)
        try store.finish()
        allWeights = store.taken
    }

    /// Drops the memory-mapped weights from the resident set (they stay in the page cache).
    public func releaseWeightPages() { Weight.releaseResidentPages(allWeights) }

    /// ids: B rows of token ids (77 each for SD) → hidden states [B, L, D].
    /// `clipSkip` uses A1111's numbering: 1 = the last layer (last_hidden_state), 2 = the penultimate
    /// layer's output, and so on, each passed through final_layer_norm (diffusers' `clip_skip` = this − 1).
    public func callAsFunction(_ ids: [[Int]], clipSkip: Int = 1) throws -> Tensor {
        let a = architecture
        let len = ids.first?.count ?? 0
        guard !ids.isEmpty, len > 0, len <= a.maxPositionEmbeddings, ids.allSatisfy({ $0.count == len }) else {
            throw NetworkError("text encoder: expected one or more rows of 1…\(a.maxPositionEmbeddings) token ids "
                + "of equal length, got lengths \(ids.map(\.count))")
        }
        if let bad = ids.joined().first(where: { $0 < 0 || $0 >= a.vocabSize }) {
            throw NetworkError("text encoder: token id \(bad) is outside the vocabulary (0..<\(a.vocabSize))")
        }
        guard clipSkip >= 1, clipSkip <= a.numHiddenLayers else {
            throw NetworkError("clip skip \(clipSkip) is out of range: use 1 (last layer) to \(a.numHiddenLayers)")
        }
        let positions = Tensor(shape: [len, a.hiddenSize],
                               data: Array(positionEmbedding.data.prefix(len * a.hiddenSize)))
        let rows = ids.map { addRows(embedding($0, table: tokenEmbedding), positions) }   // [L, D] each
        var h = Tensor(shape: [ids.count, len, a.hiddenSize], data: Array(rows.map(\.data).joined()))
        for layer in layers.prefix(a.numHiddenLayers - (clipSkip - 1)) { h = layer(h) }
        return finalLayerNorm(h)   // [B, L, D]
    }
}
