import Foundation

/// The hyperparameters of diffusers' AutoencoderKL (SD 1.x/2.x VAEs).
public struct VAEArchitecture: Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var latentChannels: Int
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var normNumGroups: Int
    public var useQuantConv: Bool
    public var usePostQuantConv: Bool
    public var midBlockAttention: Bool

    public init(inChannels: Int = 3, outChannels: Int = 3, latentChannels: Int = 4, blockOutChannels: [Int],
                layersPerBlock: Int, normNumGroups: Int = 32, useQuantConv: Bool = true,
                usePostQuantConv: Bool = true, midBlockAttention: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.latentChannels = latentChannels
        self.blockOutChannels = blockOutChannels
        self.layersPerBlock = layersPerBlock
        self.normNumGroups = normNumGroups
        self.useQuantConv = useQuantConv
        self.usePostQuantConv = usePostQuantConv
        self.midBlockAttention = midBlockAttention
    }
}

/// diffusers' AutoencoderKL: `encode` gives the latent distribution's mean and clamped log-variance,
/// `decode` maps latents (already divided by scaling_factor) back to images in [-1, 1]-ish.
public struct AutoencoderKL {
    public let architecture: VAEArchitecture
    let encoder: VAEEncoder
    let decoder: VAEDecoder
    let quantConv: Conv2dLayer?
    let postQuantConv: Conv2dLayer?
    let allWeights: [Weight]

    public init(architecture a: VAEArchitecture, weights: [String: Weight]) throws {
        guard !a.blockOutChannels.isEmpty else { throw NetworkError("VAE configuration: block_out_channels is empty") }
        let store = WeightStore(weights, owner: "VAE")
        let root = store.scope("")
        let lc = a.latentChannels
        architecture = a
        encoder = try VAEEncoder(root.scope("encoder"), a)
        decoder = try VAEDecoder(root.scope("decoder"), a)
        quantConv = a.useQuantConv ? try Conv2dLayer(root.scope("quant_conv"), in: 2 * lc, out: 2 * lc, kernel: 1) : nil
        postQuantConv = a.usePostQuantConv ? try Conv2dLayer(root.scope("post_quant_conv"), in: lc, out: lc, kernel: 1) : nil
        try store.finish()
        allWeights = store.taken
    }

    /// Drops the memory-mapped weights from the resident set (they stay in the page cache).
    public func releaseWeightPages() { Weight.releaseResidentPages(allWeights) }

    /// x [B, 3, H, W] in [-1, 1] → mean, logvar [B, latent, H/f, W/f]; logvar clamped to [-30, 20] like
    /// DiagonalGaussianDistribution. A sample is mean + exp(logvar / 2) · noise.
    public func encode(_ x: Tensor) -> (mean: Tensor, logvar: Tensor) {
        var moments = encoder(x)   // [B, 2·latent, h, w]
        if let quantConv { moments = quantConv(moments) }
        let parts = split(moments, parts: 2, axis: 1)
        var logvar = parts[1]
        logvar.withUnsafeMutable { p in for i in p.indices { p[i] = min(max(p[i], -30), 20) } }
        return (parts[0], logvar)
    }

    /// mean + std · noise with std = exp(logvar / 2) (diffusers' latent_dist.sample).
    public static func sample(mean: Tensor, logvar: Tensor, noise: Tensor) -> Tensor {
        var y = mean
        for i in 0..<y.count { y.data[i] += Float(Foundation.exp(0.5 * Double(logvar.data[i]))) * noise.data[i] }
        return y
    }

    /// z [B, latent, h, w] (already divided by scaling_factor) → image [B, 3, h·f, w·f]
    public func decode(_ z: Tensor) -> Tensor {
        return decoder(postQuantConv.map { $0(z) } ?? z)
    }
}

/// GroupNorm → single-head attention over all pixels (to_q/to_k/to_v/to_out.0 as linears over channels)
/// → + input.
struct VAEAttention {
    let norm: GroupNormLayer
    let toQ: LinearLayer, toK: LinearLayer, toV: LinearLayer, toOut: LinearLayer

    init(_ w: WeightScope, channels c: Int, groups: Int) throws {
        norm = try GroupNormLayer(w.scope("group_norm"), channels: c, groups: groups, eps: 1e-6)
        toQ = try LinearLayer(w.scope("to_q"), in: c, out: c)
        toK = try LinearLayer(w.scope("to_k"), in: c, out: c)
        toV = try LinearLayer(w.scope("to_v"), in: c, out: c)
        toOut = try LinearLayer(w.scope("to_out.0"), in: c, out: c)
    }

    /// [B, C, H, W] → [B, C, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = channelsLast(norm(x))   // [B, H·W, C]
        let o = toOut(attention(q: toQ(h), k: toK(h), v: toV(h), heads: 1))
        return add(channelsFirst(o, height: x.shape[2], width: x.shape[3]), x)
    }
}

/// UNetMidBlock2D without time embedding: resnet → (attention) → resnet.
struct VAEMidBlock {
    let resnet0: ResnetBlock2D
    let attention: VAEAttention?
    let resnet1: ResnetBlock2D

    init(_ w: WeightScope, channels c: Int, groups: Int, withAttention: Bool) throws {
        resnet0 = try ResnetBlock2D(w.scope("resnets.0"), in: c, out: c, tembChannels: nil, groups: groups, eps: 1e-6)
        attention = withAttention ? try VAEAttention(w.scope("attentions.0"), channels: c, groups: groups) : nil
        resnet1 = try ResnetBlock2D(w.scope("resnets.1"), in: c, out: c, tembChannels: nil, groups: groups, eps: 1e-6)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = resnet0(x)
        return resnet1(attention.map { $0(h) } ?? h)
    }
}

struct VAEEncoder {
    let convIn: Conv2dLayer
    let blocks: [(resnets: [ResnetBlock2D], down: Downsample2D?)]
    let mid: VAEMidBlock
    let normOut: GroupNormLayer
    let convOut: Conv2dLayer

    init(_ w: WeightScope, _ a: VAEArchitecture) throws {
        let ch = a.blockOutChannels, g = a.normNumGroups
        convIn = try Conv2dLayer(w.scope("conv_in"), in: a.inChannels, out: ch[0], kernel: 3)
        blocks = try ch.indices.map { i in
            let b = w.scope("down_blocks", i)
            let resnets = try (0..<a.layersPerBlock).map {
                try ResnetBlock2D(b.scope("resnets", $0), in: $0 == 0 ? ch[max(i - 1, 0)] : ch[i], out: ch[i],
                                  tembChannels: nil, groups: g, eps: 1e-6)
            }
            let down = i == ch.count - 1 ? nil
                : try Downsample2D(b.scope("downsamplers.0"), channels: ch[i], asymmetricPadding: true)
            return (resnets, down)
        }
        mid = try VAEMidBlock(w.scope("mid_block"), channels: ch.last!, groups: g, withAttention: a.midBlockAttention)
        normOut = try GroupNormLayer(w.scope("conv_norm_out"), channels: ch.last!, groups: g, eps: 1e-6)
        convOut = try Conv2dLayer(w.scope("conv_out"), in: ch.last!, out: 2 * a.latentChannels, kernel: 3)
    }

    /// [B, 3, H, W] → moments [B, 2·latent, H/f, W/f]
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = convIn(x)
        for block in blocks {
            for resnet in block.resnets { h = resnet(h) }
            if let down = block.down { h = down(h) }
        }
        return convOut(normOut(mid(h), silu: true))
    }
}

struct VAEDecoder {
    let convIn: Conv2dLayer
    let mid: VAEMidBlock
    let blocks: [(resnets: [ResnetBlock2D], up: Upsample2D?)]
    let normOut: GroupNormLayer
    let convOut: Conv2dLayer

    init(_ w: WeightScope, _ a: VAEArchitecture) throws {
        let rev = Array(a.blockOutChannels.reversed()), g = a.normNumGroups
        convIn = try Conv2dLayer(w.scope("conv_in"), in: a.latentChannels, out: rev[0], kernel: 3)
        mid = try VAEMidBlock(w.scope("mid_block"), channels: rev[0], groups: g, withAttention: a.midBlockAttention)
        blocks = try rev.indices.map { i in
            let b = w.scope("up_blocks", i)
            let resnets = try (0...a.layersPerBlock).map {
                try ResnetBlock2D(b.scope("resnets", $0), in: $0 == 0 ? rev[max(i - 1, 0)] : rev[i], out: rev[i],
                                  tembChannels: nil, groups: g, eps: 1e-6)
            }
            let up = i == rev.count - 1 ? nil : try Upsample2D(b.scope("upsamplers.0"), channels: rev[i])
            return (resnets, up)
        }
        normOut = try GroupNormLayer(w.scope("conv_norm_out"), channels: rev.last!, groups: g, eps: 1e-6)
        convOut = try Conv2dLayer(w.scope("conv_out"), in: rev.last!, out: a.outChannels, kernel: 3)
    }

    /// z [B, latent, h, w] → [B, 3, h·f, w·f]
    func callAsFunction(_ z: Tensor) -> Tensor {
        var h = mid(convIn(z))
        for block in blocks {
            for resnet in block.resnets { h = resnet(h) }
            if let up = block.up { h = up(h) }
        }
        return convOut(normOut(h, silu: true))
    }
}
