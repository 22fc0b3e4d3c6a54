import Foundation

// The networks built from the checkpoint configs (UNetConfig, VAEConfig, CLIPTextConfig). Each config is
// validated first, so a model Diffuse does not implement fails with the config's own one-line error.

extension UNetArchitecture {
    public init(config c: UNetConfig) throws {
        try c.validate(source: "unet/config.json")
        let n = c.blockCount
        self.init(inChannels: c.inChannels, outChannels: c.outChannels, blockOutChannels: c.blockOutChannels,
                  downBlockAttention: c.downBlockHasAttention, upBlockAttention: c.upBlockHasAttention,
                  layersPerBlock: Array(repeating: c.layers, count: n),
                  transformerLayersPerBlock: c.transformerDepthPerBlock, headsPerBlock: c.headsPerBlock,
                  crossAttentionDim: c.crossAttentionDimension, useLinearProjection: c.useLinearProjection,
                  normNumGroups: c.normNumGroups ?? 32, normEps: Float(c.normEps),
                  flipSinToCos: c.flipSinToCos, freqShift: c.freqShift)
    }
}

extension VAEArchitecture {
    public init(config c: VAEConfig) throws {
        try c.validate(source: "vae/config.json")
        self.init(inChannels: c.inChannels, outChannels: c.outChannels, latentChannels: c.latentChannels,
                  blockOutChannels: c.blockOutChannels, layersPerBlock: c.layersPerBlock,
                  normNumGroups: c.normNumGroups, useQuantConv: c.useQuantConv,
                  usePostQuantConv: c.usePostQuantConv, midBlockAttention: c.midBlockAddAttention)
    }
}

extension CLIPTextArchitecture {
    public init(config c: CLIPTextConfig) throws {
        try c.validate(source: "text_encoder/config.json")
        self.init(vocabSize: c.vocabSize, hiddenSize: c.hiddenSize, intermediateSize: c.intermediateSize,
                  numHiddenLayers: c.numHiddenLayers, numAttentionHeads: c.numAttentionHeads,
                  maxPositionEmbeddings: c.maxPositionEmbeddings,
                  hiddenAct: try CLIPTextArchitecture.activation(named: c.hiddenAct),
                  layerNormEps: Float(c.layerNormEps))
    }
}

extension UNet2DConditionModel {
    /// upcast_attention needs nothing here: it only matters for half-precision scores, and Diffuse
    /// computes in float32.
    public init(config: UNetConfig, weights: [String: Weight]) throws {
        try self.init(architecture: UNetArchitecture(config: config), weights: weights)
    }
}

extension AutoencoderKL {
    public init(config: VAEConfig, weights: [String: Weight]) throws {
        try self.init(architecture: VAEArchitecture(config: config), weights: weights)
    }
}

extension CLIPTextEncoder {
    public init(config: CLIPTextConfig, weights: [String: Weight]) throws {
        try self.init(architecture: CLIPTextArchitecture(config: config), weights: weights)
    }
}
