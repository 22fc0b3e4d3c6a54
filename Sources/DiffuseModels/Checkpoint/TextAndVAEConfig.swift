import Foundation

/// diffusers' `AutoencoderKL` config.json (defaults as diffusers has them; unknown keys ignored).
public struct VAEConfig: Codable, Equatable, Sendable {
    public var inChannels = 3
    public var outChannels = 3
    public var downBlockTypes = ["DownEncoderBlock2D"]
    public var upBlockTypes = ["UpDecoderBlock2D"]
    public var blockOutChannels = [64]
    public var layersPerBlock = 1
    public var actFn = "silu"
    public var latentChannels = 4
    public var normNumGroups = 32
    public var sampleSize: OneOrList<Int> = .one(32)
    public var scalingFactor = 0.18215
    public var shiftFactor: Double? = nil
    public var latentsMean: [Double]? = nil
    public var latentsStd: [Double]? = nil
    public var forceUpcast = true
    public var useQuantConv = true
    public var usePostQuantConv = true
    public var midBlockAddAttention = true

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels", outChannels = "out_channels", downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types", blockOutChannels = "block_out_channels", layersPerBlock = "layers_per_block"
        case actFn = "act_fn", latentChannels = "latent_channels", normNumGroups = "norm_num_groups"
        case sampleSize = "sample_size", scalingFactor = "scaling_factor", shiftFactor = "shift_factor"
        case latentsMean = "latents_mean", latentsStd = "latents_std", forceUpcast = "force_upcast"
        case useQuantConv = "use_quant_conv", usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inChannels = try c.value(.inChannels, inChannels)
        outChannels = try c.value(.outChannels, outChannels)
        downBlockTypes = try c.value(.downBlockTypes, downBlockTypes)
        upBlockTypes = try c.value(.upBlockTypes, upBlockTypes)
        blockOutChannels = try c.value(.blockOutChannels, blockOutChannels)
        layersPerBlock = try c.value(.layersPerBlock, layersPerBlock)
        actFn = try c.value(.actFn, actFn)
        latentChannels = try c.value(.latentChannels, latentChannels)
        normNumGroups = try c.value(.normNumGroups, normNumGroups)
        sampleSize = try c.value(.sampleSize, sampleSize)
        scalingFactor = try c.value(.scalingFactor, scalingFactor)
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor)
        latentsMean = try c.decodeIfPresent([Double].self, forKey: .latentsMean)
        latentsStd = try c.decodeIfPresent([Double].self, forKey: .latentsStd)
        forceUpcast = try c.value(.forceUpcast, forceUpcast)
        useQuantConv = try c.value(.useQuantConv, useQuantConv)
        usePostQuantConv = try c.value(.usePostQuantConv, usePostQuantConv)
        midBlockAddAttention = try c.value(.midBlockAddAttention, midBlockAddAttention)
    }

    /// Throws a one-line error for values outside the SD 1.x / 2.x VAE. `source` names the file.
    public func validate(source: String) throws {
        let n = blockOutChannels.count
        let standard = "Diffuse implements the SD 1.x / 2.x AutoencoderKL only"
        try require(n > 0 && blockOutChannels.allSatisfy { $0 > 0 && $0 % max(normNumGroups, 1) == 0 } && normNumGroups > 0,
                    source, "block_out_channels/norm_num_groups", "\(blockOutChannels)/\(normNumGroups)",
                    "expected channel counts divisible by the group count")
        try require(downBlockTypes.count == n && downBlockTypes.allSatisfy { $0 == "DownEncoderBlock2D" }, source,
                    "down_block_types", downBlockTypes, "one DownEncoderBlock2D per block")
        try require(upBlockTypes.count == n && upBlockTypes.allSatisfy { $0 == "UpDecoderBlock2D" }, source,
                    "up_block_types", upBlockTypes, "one UpDecoderBlock2D per block")
        try require(layersPerBlock >= 1 && latentChannels >= 1, source, "layers_per_block/latent_channels",
                    "\(layersPerBlock)/\(latentChannels)", "expected positive counts")
        try require(actFn == "silu", source, "act_fn", actFn, standard)
        try require(shiftFactor == nil || shiftFactor == 0, source, "shift_factor", shiftFactor, standard + " (no latent shift)")
        try require(latentsMean == nil && latentsStd == nil, source, "latents_mean/latents_std", latentsMean, standard)
        try require(useQuantConv && usePostQuantConv, source, "use_quant_conv/use_post_quant_conv",
                    "\(useQuantConv)/\(usePostQuantConv)", standard)
        try require(scalingFactor > 0, source, "scaling_factor", scalingFactor, "expected a positive factor")
    }
}

/// transformers' `CLIPTextConfig` (config.json of a `text_encoder/`; defaults as transformers has them).
public struct CLIPTextConfig: Codable, Equatable, Sendable {
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var projectionDim = 512
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    /// "quick_gelu" (OpenAI CLIP, SD1) or "gelu" (OpenCLIP, SD2).
    public var hiddenAct = "quick_gelu"
    public var layerNormEps = 1e-5
    public var padTokenId = 1
    public var bosTokenId = 49406
    public var eosTokenId = 49407

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case projectionDim = "projection_dim", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps", padTokenId = "pad_token_id"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.value(.vocabSize, vocabSize)
        hiddenSize = try c.value(.hiddenSize, hiddenSize)
        intermediateSize = try c.value(.intermediateSize, intermediateSize)
        projectionDim = try c.value(.projectionDim, projectionDim)
        numHiddenLayers = try c.value(.numHiddenLayers, numHiddenLayers)
        numAttentionHeads = try c.value(.numAttentionHeads, numAttentionHeads)
        maxPositionEmbeddings = try c.value(.maxPositionEmbeddings, maxPositionEmbeddings)
        hiddenAct = try c.value(.hiddenAct, hiddenAct)
        layerNormEps = try c.value(.layerNormEps, layerNormEps)
        padTokenId = try c.value(.padTokenId, padTokenId)
        bosTokenId = try c.value(.bosTokenId, bosTokenId)
        eosTokenId = try c.value(.eosTokenId, eosTokenId)
    }

    /// Throws a one-line error for values the CLIP text encoder does not support. `source` names the file.
    public func validate(source: String) throws {
        try require(["quick_gelu", "gelu"].contains(hiddenAct), source, "hidden_act", hiddenAct, "supported: quick_gelu, gelu")
        try require(numAttentionHeads > 0 && hiddenSize > 0 && hiddenSize % numAttentionHeads == 0, source,
                    "num_attention_heads", numAttentionHeads, "expected a head count dividing hidden_size \(hiddenSize)")
        try require(numHiddenLayers >= 1 && intermediateSize >= 1 && vocabSize >= 1 && maxPositionEmbeddings >= 1,
                    source, "num_hidden_layers/intermediate_size/vocab_size/max_position_embeddings",
                    "\(numHiddenLayers)/\(intermediateSize)/\(vocabSize)/\(maxPositionEmbeddings)", "expected positive sizes")
    }
}
