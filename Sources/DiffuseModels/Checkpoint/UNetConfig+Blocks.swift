import Foundation

// Per-block views of a UNet config (resolving diffusers' "one value or a list" keys) and the check that the
// config describes a UNet Diffuse implements: the SD 1.x / 2.x UNet2DConditionModel.
extension UNetConfig {
    public var blockCount: Int { blockOutChannels.count }

    /// Resnets per down block (up blocks have one more). Valid after `validate`.
    public var layers: Int { layersPerBlock.uniform ?? 2 }

    /// Attention heads of each down block (up blocks use the list reversed, the mid block the last entry).
    /// diffusers reads `num_attention_heads` when set, else `attention_head_dim` (which really holds heads).
    public var headsPerBlock: [Int] { (numAttentionHeads ?? attentionHeadDim).perBlock(blockCount) ?? [] }

    /// Transformer blocks inside each down block's attentions (up blocks: reversed; mid block: the last).
    public var transformerDepthPerBlock: [Int] { transformerLayersPerBlock.perBlock(blockCount) ?? [] }

    public var crossAttentionDimension: Int { crossAttentionDim.uniform ?? 0 }

    public var downBlockHasAttention: [Bool] { downBlockTypes.map { $0 == "CrossAttnDownBlock2D" } }
    public var upBlockHasAttention: [Bool] { upBlockTypes.map { $0 == "CrossAttnUpBlock2D" } }

    /// Width of the timestep embedding (4 × the first block's channels).
    public var timeEmbeddingChannels: Int { timeEmbeddingDim ?? blockOutChannels[0] * 4 }

    /// Throws a one-line error for any value outside the SD 1.x / 2.x UNet. `source` names the file.
    public func validate(source: String) throws {
        let n = blockCount
        try require(n > 0 && blockOutChannels.allSatisfy { $0 > 0 }, source, "block_out_channels", blockOutChannels,
                    "expected a non-empty list of positive channel counts")
        try require(downBlockTypes.count == n && downBlockTypes.allSatisfy { ["CrossAttnDownBlock2D", "DownBlock2D"].contains($0) },
                    source, "down_block_types", downBlockTypes, "one CrossAttnDownBlock2D or DownBlock2D per block")
        try require(upBlockTypes.count == n && upBlockTypes.allSatisfy { ["CrossAttnUpBlock2D", "UpBlock2D"].contains($0) },
                    source, "up_block_types", upBlockTypes, "one CrossAttnUpBlock2D or UpBlock2D per block")
        try require(midBlockType == "UNetMidBlock2DCrossAttn", source, "mid_block_type", midBlockType,
                    "only UNetMidBlock2DCrossAttn is supported")
        try require((layersPerBlock.uniform ?? 0) >= 1, source, "layers_per_block", layersPerBlock,
                    "expected one positive count for all blocks")
        let heads = headsPerBlock
        try require(heads.count == n && zip(heads, blockOutChannels).allSatisfy { $0 > 0 && $1 % $0 == 0 },
                    source, numAttentionHeads == nil ? "attention_head_dim" : "num_attention_heads",
                    numAttentionHeads ?? attentionHeadDim, "expected head counts dividing each block's channels")
        try require(transformerDepthPerBlock.count == n && transformerDepthPerBlock.allSatisfy { $0 >= 1 },
                    source, "transformer_layers_per_block", transformerLayersPerBlock, "expected positive counts, one per block")
        try require(crossAttentionDimension > 0, source, "cross_attention_dim", crossAttentionDim, "expected one positive width")
        try require(normNumGroups.map { g in g > 0 && blockOutChannels.allSatisfy { $0 % g == 0 } } ?? false,
                    source, "norm_num_groups", normNumGroups, "expected a group count dividing every block's channels")
        try requireStandardOptions(source: source)
    }

    private func requireStandardOptions(source: String) throws {
        let standard = "Diffuse implements the SD 1.x / 2.x UNet only"
        try require(actFn == "silu", source, "act_fn", actFn, standard)
        try require(timeEmbeddingType == "positional", source, "time_embedding_type", timeEmbeddingType, standard)
        try require(classEmbedType == nil, source, "class_embed_type", classEmbedType, standard)
        try require(numClassEmbeds == nil, source, "num_class_embeds", numClassEmbeds, standard)
        try require(additionEmbedType == nil, source, "addition_embed_type", additionEmbedType, standard + " (not SDXL)")
        try require(encoderHidDim == nil, source, "encoder_hid_dim", encoderHidDim, standard)
        try require(timeCondProjDim == nil, source, "time_cond_proj_dim", timeCondProjDim,
                    standard + " (a distilled LCM UNet is not; use an LCM-LoRA with a normal model)")
        try require(onlyCrossAttention.perBlock(blockCount)?.allSatisfy { !$0 } ?? false, source,
                    "only_cross_attention", onlyCrossAttention, standard)
        try require(midBlockOnlyCrossAttention != true, source, "mid_block_only_cross_attention", midBlockOnlyCrossAttention, standard)
        try require(!dualCrossAttention, source, "dual_cross_attention", dualCrossAttention, standard)
        try require(resnetTimeScaleShift == "default", source, "resnet_time_scale_shift", resnetTimeScaleShift, standard)
        try require(!resnetSkipTimeAct && resnetOutScaleFactor == 1, source, "resnet_skip_time_act/resnet_out_scale_factor",
                    "\(resnetSkipTimeAct)/\(resnetOutScaleFactor)", standard)
        try require(convInKernel == 3 && convOutKernel == 3, source, "conv_in_kernel/conv_out_kernel",
                    "\(convInKernel)/\(convOutKernel)", standard)
        try require(attentionType == "default", source, "attention_type", attentionType, standard)
        try require(reverseTransformerLayersPerBlock == nil, source, "reverse_transformer_layers_per_block",
                    reverseTransformerLayersPerBlock, standard)
        try require(timeEmbeddingDim == nil || timeEmbeddingDim == blockOutChannels[0] * 4, source,
                    "time_embedding_dim", timeEmbeddingDim, standard)
        try require(timeEmbeddingActFn == nil && timestepPostAct == nil, source, "time_embedding_act_fn/timestep_post_act",
                    "\(timeEmbeddingActFn ?? "null")/\(timestepPostAct ?? "null")", standard)
        try require(crossAttentionNorm == nil, source, "cross_attention_norm", crossAttentionNorm, standard)
        try require(!classEmbeddingsConcat, source, "class_embeddings_concat", classEmbeddingsConcat, standard)
        try require(!centerInputSample, source, "center_input_sample", centerInputSample, standard)
        try require(downsamplePadding == 1 && midBlockScaleFactor == 1, source, "downsample_padding/mid_block_scale_factor",
                    "\(downsamplePadding)/\(midBlockScaleFactor)", standard)
    }
}
