import Foundation

/// diffusers' `UNet2DConditionModel` config.json. Every key diffusers defines is decoded with diffusers'
/// default; unknown keys are ignored. `validate` refuses the values Diffuse's UNet does not implement.
public struct UNetConfig: Codable, Equatable, Sendable {
    public var sampleSize: OneOrList<Int>? = nil
    public var inChannels = 4
    public var outChannels = 4
    public var centerInputSample = false
    public var flipSinToCos = true
    public var freqShift = 0
    public var downBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
    public var midBlockType: String? = "UNetMidBlock2DCrossAttn"
    public var upBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
    public var onlyCrossAttention: OneOrList<Bool> = .one(false)
    public var blockOutChannels = [320, 640, 1280, 1280]
    public var layersPerBlock: OneOrList<Int> = .one(2)
    public var downsamplePadding = 1
    public var midBlockScaleFactor = 1.0
    public var dropout = 0.0
    public var actFn = "silu"
    public var normNumGroups: Int? = 32
    public var normEps = 1e-5
    public var crossAttentionDim: OneOrList<Int> = .one(1280)
    public var transformerLayersPerBlock: OneOrList<Int> = .one(1)
    public var reverseTransformerLayersPerBlock: [[Int]]? = nil
    public var encoderHidDim: Int? = nil
    public var encoderHidDimType: String? = nil
    /// SD1 files store the number of heads here (a long-standing diffusers naming quirk); SD2 files a list.
    public var attentionHeadDim: OneOrList<Int> = .one(8)
    public var numAttentionHeads: OneOrList<Int>? = nil
    public var dualCrossAttention = false
    public var useLinearProjection = false
    public var classEmbedType: String? = nil
    public var additionEmbedType: String? = nil
    public var additionTimeEmbedDim: Int? = nil
    public var numClassEmbeds: Int? = nil
    public var upcastAttention = false
    public var resnetTimeScaleShift = "default"
    public var resnetSkipTimeAct = false
    public var resnetOutScaleFactor = 1.0
    public var timeEmbeddingType = "positional"
    public var timeEmbeddingDim: Int? = nil
    public var timeEmbeddingActFn: String? = nil
    public var timestepPostAct: String? = nil
    public var timeCondProjDim: Int? = nil
    public var convInKernel = 3
    public var convOutKernel = 3
    public var projectionClassEmbeddingsInputDim: Int? = nil
    public var attentionType = "default"
    public var classEmbeddingsConcat = false
    public var midBlockOnlyCrossAttention: Bool? = nil
    public var crossAttentionNorm: String? = nil

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size", inChannels = "in_channels", outChannels = "out_channels"
        case centerInputSample = "center_input_sample", flipSinToCos = "flip_sin_to_cos", freqShift = "freq_shift"
        case downBlockTypes = "down_block_types", midBlockType = "mid_block_type", upBlockTypes = "up_block_types"
        case onlyCrossAttention = "only_cross_attention", blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block", downsamplePadding = "downsample_padding"
        case midBlockScaleFactor = "mid_block_scale_factor", dropout, actFn = "act_fn"
        case normNumGroups = "norm_num_groups", normEps = "norm_eps", crossAttentionDim = "cross_attention_dim"
        case transformerLayersPerBlock = "transformer_layers_per_block"
        case reverseTransformerLayersPerBlock = "reverse_transformer_layers_per_block"
        case encoderHidDim = "encoder_hid_dim", encoderHidDimType = "encoder_hid_dim_type"
        case attentionHeadDim = "attention_head_dim", numAttentionHeads = "num_attention_heads"
        case dualCrossAttention = "dual_cross_attention", useLinearProjection = "use_linear_projection"
        case classEmbedType = "class_embed_type", additionEmbedType = "addition_embed_type"
        case additionTimeEmbedDim = "addition_time_embed_dim", numClassEmbeds = "num_class_embeds"
        case upcastAttention = "upcast_attention", resnetTimeScaleShift = "resnet_time_scale_shift"
        case resnetSkipTimeAct = "resnet_skip_time_act", resnetOutScaleFactor = "resnet_out_scale_factor"
        case timeEmbeddingType = "time_embedding_type", timeEmbeddingDim = "time_embedding_dim"
        case timeEmbeddingActFn = "time_embedding_act_fn", timestepPostAct = "timestep_post_act"
        case timeCondProjDim = "time_cond_proj_dim", convInKernel = "conv_in_kernel", convOutKernel = "conv_out_kernel"
        case projectionClassEmbeddingsInputDim = "projection_class_embeddings_input_dim"
        case attentionType = "attention_type", classEmbeddingsConcat = "class_embeddings_concat"
        case midBlockOnlyCrossAttention = "mid_block_only_cross_attention", crossAttentionNorm = "cross_attention_norm"
    }

    /// diffusers' defaults (an SD1-sized UNet with cross-attention dim 1280).
    public init() {}

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sampleSize = try c.decodeIfPresent(OneOrList<Int>.self, forKey: .sampleSize)
        inChannels = try c.value(.inChannels, inChannels)
        outChannels = try c.value(.outChannels, outChannels)
        centerInputSample = try c.value(.centerInputSample, centerInputSample)
        flipSinToCos = try c.value(.flipSinToCos, flipSinToCos)
        freqShift = try c.value(.freqShift, freqShift)
        downBlockTypes = try c.value(.downBlockTypes, downBlockTypes)
        if c.contains(.midBlockType) { midBlockType = try c.decodeIfPresent(String.self, forKey: .midBlockType) }
        upBlockTypes = try c.value(.upBlockTypes, upBlockTypes)
        onlyCrossAttention = try c.value(.onlyCrossAttention, onlyCrossAttention)
        blockOutChannels = try c.value(.blockOutChannels, blockOutChannels)
        layersPerBlock = try c.value(.layersPerBlock, layersPerBlock)
        downsamplePadding = try c.value(.downsamplePadding, downsamplePadding)
        midBlockScaleFactor = try c.value(.midBlockScaleFactor, midBlockScaleFactor)
        dropout = try c.value(.dropout, dropout)
        actFn = try c.value(.actFn, actFn)
        if c.contains(.normNumGroups) { normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) }
        normEps = try c.value(.normEps, normEps)
        crossAttentionDim = try c.value(.crossAttentionDim, crossAttentionDim)
        transformerLayersPerBlock = try c.value(.transformerLayersPerBlock, transformerLayersPerBlock)
        reverseTransformerLayersPerBlock = try c.decodeIfPresent([[Int]].self, forKey: .reverseTransformerLayersPerBlock)
        encoderHidDim = try c.decodeIfPresent(Int.self, forKey: .encoderHidDim)
        encoderHidDimType = try c.decodeIfPresent(String.self, forKey: .encoderHidDimType)
        attentionHeadDim = try c.value(.attentionHeadDim, attentionHeadDim)
        numAttentionHeads = try c.decodeIfPresent(OneOrList<Int>.self, forKey: .numAttentionHeads)
        dualCrossAttention = try c.value(.dualCrossAttention, dualCrossAttention)
        useLinearProjection = try c.value(.useLinearProjection, useLinearProjection)
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        additionEmbedType = try c.decodeIfPresent(String.self, forKey: .additionEmbedType)
        additionTimeEmbedDim = try c.decodeIfPresent(Int.self, forKey: .additionTimeEmbedDim)
        numClassEmbeds = try c.decodeIfPresent(Int.self, forKey: .numClassEmbeds)
        upcastAttention = try c.value(.upcastAttention, upcastAttention)
        resnetTimeScaleShift = try c.value(.resnetTimeScaleShift, resnetTimeScaleShift)
        resnetSkipTimeAct = try c.value(.resnetSkipTimeAct, resnetSkipTimeAct)
        resnetOutScaleFactor = try c.value(.resnetOutScaleFactor, resnetOutScaleFactor)
        timeEmbeddingType = try c.value(.timeEmbeddingType, timeEmbeddingType)
        timeEmbeddingDim = try c.decodeIfPresent(Int.self, forKey: .timeEmbeddingDim)
        timeEmbeddingActFn = try c.decodeIfPresent(String.self, forKey: .timeEmbeddingActFn)
        timestepPostAct = try c.decodeIfPresent(String.self, forKey: .timestepPostAct)
        timeCondProjDim = try c.decodeIfPresent(Int.self, forKey: .timeCondProjDim)
        convInKernel = try c.value(.convInKernel, convInKernel)
        convOutKernel = try c.value(.convOutKernel, convOutKernel)
        projectionClassEmbeddingsInputDim = try c.decodeIfPresent(Int.self, forKey: .projectionClassEmbeddingsInputDim)
        attentionType = try c.value(.attentionType, attentionType)
        classEmbeddingsConcat = try c.value(.classEmbeddingsConcat, classEmbeddingsConcat)
        midBlockOnlyCrossAttention = try c.decodeIfPresent(Bool.self, forKey: .midBlockOnlyCrossAttention)
        crossAttentionNorm = try c.decodeIfPresent(String.self, forKey: .crossAttentionNorm)
    }
}
