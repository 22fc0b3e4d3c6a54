import Foundation

/// The hyperparameters of an SD 1.x/2.x UNet after resolving diffusers' configuration conventions
/// (per-block lists expanded, `attention_head_dim` read as the number of heads).
public struct UNetArchitecture: Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var blockOutChannels: [Int]
    /// Per down block: true for CrossAttnDownBlock2D, false for DownBlock2D.
    public var downBlockAttention: [Bool]
    /// Per up block (deepest first): true for CrossAttnUpBlock2D, false for UpBlock2D.
    public var upBlockAttention: [Bool]
    public var layersPerBlock: [Int]
    public var transformerLayersPerBlock: [Int]
    /// Attention heads per down block (diffusers' `attention_head_dim`, which it uses as a head count).
    public var headsPerBlock: [Int]
    public var crossAttentionDim: Int
    public var useLinearProjection: Bool
    public var normNumGroups: Int
    public var normEps: Float
    public var flipSinToCos: Bool
    public var freqShift: Int

    public init(inChannels: Int = 4, outChannels: Int = 4, blockOutChannels: [Int], downBlockAttention: [Bool],
                upBlockAttention: [Bool], layersPerBlock: [Int], transformerLayersPerBlock: [Int],
                headsPerBlock: [Int], crossAttentionDim: Int, useLinearProjection: Bool,
                normNumGroups: Int = 32, normEps: Float = 1e-5, flipSinToCos: Bool = true, freqShift: Int = 0) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.blockOutChannels = blockOutChannels
        self.downBlockAttention = downBlockAttention
        self.upBlockAttention = upBlockAttention
        self.layersPerBlock = layersPerBlock
        self.transformerLayersPerBlock = transformerLayersPerBlock
        self.headsPerBlock = headsPerBlock
        self.crossAttentionDim = crossAttentionDim
        self.useLinearProjection = useLinearProjection
        self.normNumGroups = normNumGroups
        self.normEps = normEps
        self.flipSinToCos = flipSinToCos
        self.freqShift = freqShift
    }

    func validate() throws {
        let n = blockOutChannels.count
        let lists: [(String, Int)] = [("down_block_types", downBlockAttention.count),
                                      ("up_block_types", upBlockAttention.count),
                                      ("layers_per_block", layersPerBlock.count),
                                      ("transformer_layers_per_block", transformerLayersPerBlock.count),
                                      ("attention_head_dim", headsPerBlock.count)]
        guard n > 0 else { throw NetworkError("UNet configuration: block_out_channels is empty") }
        for (name, count) in lists where count != n {
            throw NetworkError("UNet configuration: \(name) has \(count) entries but block_out_channels has \(n)")
        }
    }
}

/// diffusers' UNet2DConditionModel for SD 1.x/2.x (no class, addition or GLIGEN embeddings).
public struct UNet2DConditionModel {
    public let architecture: UNetArchitecture
    let timeLinear1: LinearLayer, timeLinear2: LinearLayer
    let convIn: Conv2dLayer
    let downBlocks: [UNetDownBlock]
    let midBlock: UNetMidBlock
    let upBlocks: [UNetUpBlock]
    let normOut: GroupNormLayer
    let convOut: Conv2dLayer
    let allWeights: [Weight]

    public init(architecture a: UNetArchitecture, weights: [String: Weight]) throws {
        try a.validate()
        let store = WeightStore(weights, owner: "UNet")
        let root = store.scope("")
        let ch = a.blockOutChannels, n = ch.count
        let temb = ch[0] * 4
        architecture = a
        timeLinear1 = try LinearLayer(root.scope("time_embedding.linear_1"), in: ch[0], out: temb)
        timeLinear2 = try LinearLayer(root.scope("time_embedding.linear_2"), in: temb, out: temb)
        convIn = try Conv2dLayer(root.scope("conv_in"), in: a.inChannels, out: ch[0], kernel: 3)
        let ctx = UNetBlockContext(tembChannels: temb, groups: a.normNumGroups, eps: a.normEps,
                                   contextDim: a.crossAttentionDim, linearProjection: a.useLinearProjection)
        var skipChannels = [ch[0]]   // conv_in's output is the first skip
        downBlocks = try (0..<n).map { i in
            let last = i == n - 1
            skipChannels += Array(repeating: ch[i], count: a.layersPerBlock[i] + (last ? 0 : 1))
            return try UNetDownBlock(root.scope("down_blocks", i), in: i == 0 ? ch[0] : ch[i - 1], out: ch[i],
                                     layers: a.layersPerBlock[i],
                                     attention: a.downBlockAttention[i]
                                         ? (a.headsPerBlock[i], a.transformerLayersPerBlock[i]) : nil,
                                     downsample: !last, ctx)
        }
        midBlock = try UNetMidBlock(root.scope("mid_block"), channels: ch[n - 1], heads: a.headsPerBlock[n - 1],
                                    depth: a.transformerLayersPerBlock[n - 1], ctx)
        upBlocks = try (0..<n).map { i in
            let r = n - 1 - i   // the down block this up block mirrors
            let count = a.layersPerBlock[r] + 1
            let skips = Array(skipChannels.suffix(count).reversed())
            skipChannels.removeLast(count)
            return try UNetUpBlock(root.scope("up_blocks", i), prevOut: ch[min(r + 1, n - 1)], out: ch[r],
                                   skipChannels: skips,
                                   attention: a.upBlockAttention[i]
                                       ? (a.headsPerBlock[r], a.transformerLayersPerBlock[r]) : nil,
                                   upsample: i != n - 1, ctx)
        }
        normOut = try GroupNormLayer(root.scope("conv_norm_out"), channels: ch[0], groups: a.normNumGroups, eps: a.normEps)
        convOut = try Conv2dLayer(root.scope("conv_out"), in: ch[0], out: a.outChannels, kernel: 3)
        try store.finish()
        allWeights = store.taken
    }

    /// x [B, C, h, w] (the scaled model input), context [B, 77, D] → noise/v prediction [B, C, h, w].
    public func callAsFunction(_ x: Tensor, timestep: Float, context: Tensor) -> Tensor {
        let a = architecture
        let tProj = timestepEmbedding(timestep, dim: a.blockOutChannels[0], batch: x.shape[0],
                                      flipSinToCos: a.flipSinToCos, freqShift: Float(a.freqShift))
        let tembSilu = silu(timeLinear2(silu(timeLinear1(tProj))))   // [B, 4·C0]; every resnet applies SiLU first
        var h = convIn(x)
        var skips = [h]
        for block in downBlocks { h = block(h, tembSilu: tembSilu, context: context, skips: &skips) }
        h = midBlock(h, tembSilu: tembSilu, context: context)
        for block in upBlocks { h = block(h, tembSilu: tembSilu, context: context, skips: &skips) }
        return convOut(normOut(h, silu: true))
    }

    /// Drops the memory-mapped weights from the resident set (they stay in the page cache).
    public func releaseWeightPages() { Weight.releaseResidentPages(allWeights) }
}
