import Foundation

// The UNet's down, mid and up blocks (diffusers' CrossAttnDownBlock2D / DownBlock2D,
// UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D / UpBlock2D).

/// Hyperparameters shared by all blocks of one UNet.
struct UNetBlockContext {
    let tembChannels: Int
    let groups: Int
    let eps: Float
    let contextDim: Int
    let linearProjection: Bool
}

/// Resnets, each optionally followed by a transformer; then an optional stride-2 downsampler.
struct UNetDownBlock {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let downsampler: Downsample2D?

    init(_ w: WeightScope, in inC: Int, out outC: Int, layers: Int, attention: (heads: Int, depth: Int)?,
         downsample: Bool, _ ctx: UNetBlockContext) throws {
        resnets = try (0..<layers).map {
            try ResnetBlock2D(w.scope("resnets", $0), in: $0 == 0 ? inC : outC, out: outC,
                              tembChannels: ctx.tembChannels, groups: ctx.groups, eps: ctx.eps)
        }
        attentions = try attention.map { a in
            try (0..<layers).map {
                try Transformer2DModel(w.scope("attentions", $0), channels: outC, heads: a.heads, layers: a.depth,
                                       contextDim: ctx.contextDim, groups: ctx.groups,
                                       linearProjection: ctx.linearProjection)
            }
        } ?? []
        downsampler = downsample ? try Downsample2D(w.scope("downsamplers.0"), channels: outC, asymmetricPadding: false) : nil
    }

    /// Appends every intermediate output to `skips` (the up path consumes them in reverse).
    func callAsFunction(_ x: Tensor, tembSilu: Tensor, context: Tensor, skips: inout [Tensor]) -> Tensor {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            h = resnet(h, tembSilu: tembSilu)
            if !attentions.isEmpty { h = attentions[i](h, context: context) }
            skips.append(h)
        }
        if let downsampler {
            h = downsampler(h)   // [B, C, ⌈H/2⌉, ⌈W/2⌉]
            skips.append(h)
        }
        return h
    }
}

/// resnet → transformer → resnet at the lowest resolution.
struct UNetMidBlock {
    let resnet0: ResnetBlock2D
    let attention: Transformer2DModel
    let resnet1: ResnetBlock2D

    init(_ w: WeightScope, channels: Int, heads: Int, depth: Int, _ ctx: UNetBlockContext) throws {
        resnet0 = try ResnetBlock2D(w.scope("resnets.0"), in: channels, out: channels,
                                    tembChannels: ctx.tembChannels, groups: ctx.groups, eps: ctx.eps)
        attention = try Transformer2DModel(w.scope("attentions.0"), channels: channels, heads: heads, layers: depth,
                                           contextDim: ctx.contextDim, groups: ctx.groups,
                                           linearProjection: ctx.linearProjection)
        resnet1 = try ResnetBlock2D(w.scope("resnets.1"), in: channels, out: channels,
                                    tembChannels: ctx.tembChannels, groups: ctx.groups, eps: ctx.eps)
    }

    func callAsFunction(_ x: Tensor, tembSilu: Tensor, context: Tensor) -> Tensor {
        resnet1(attention(resnet0(x, tembSilu: tembSilu), context: context), tembSilu: tembSilu)
    }
}

/// Each resnet takes the running tensor concatenated with one skip along channels; then an optional
/// nearest-upsample + conv.
struct UNetUpBlock {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let upsampler: Upsample2D?

    /// `prevOut`: channels arriving from below; `skipChannels[j]`: channels of the skip resnet j consumes.
    init(_ w: WeightScope, prevOut: Int, out outC: Int, skipChannels: [Int], attention: (heads: Int, depth: Int)?,
         upsample: Bool, _ ctx: UNetBlockContext) throws {
        resnets = try skipChannels.enumerated().map { j, skip in
            try ResnetBlock2D(w.scope("resnets", j), in: (j == 0 ? prevOut : outC) + skip, out: outC,
                              tembChannels: ctx.tembChannels, groups: ctx.groups, eps: ctx.eps)
        }
        attentions = try attention.map { a in
            try skipChannels.indices.map {
                try Transformer2DModel(w.scope("attentions", $0), channels: outC, heads: a.heads, layers: a.depth,
                                       contextDim: ctx.contextDim, groups: ctx.groups,
                                       linearProjection: ctx.linearProjection)
            }
        } ?? []
        upsampler = upsample ? try Upsample2D(w.scope("upsamplers.0"), channels: outC) : nil
    }

    /// Pops one skip per resnet from the end of `skips`; `upsampleTo` is the spatial size of the next
    /// skip (diffusers' `upsample_size`), which differs from 2× for latent sizes not divisible by 2ⁿ.
    func callAsFunction(_ x: Tensor, tembSilu: Tensor, context: Tensor, skips: inout [Tensor]) -> Tensor {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            h = resnet(concat([h, skips.removeLast()], axis: 1), tembSilu: tembSilu)   // [B, C + skip, H, W] → [B, out, H, W]
            if !attentions.isEmpty { h = attentions[i](h, context: context) }
        }
        if let upsampler {
            let next = skips.last.map { (h: $0.shape[2], w: $0.shape[3]) }
            h = upsampler(h, size: next)
        }
        return h
    }
}
