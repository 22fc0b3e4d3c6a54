import Foundation

/// Architecture of the built-in text-to-image model; stored (as JSON) in every checkpoint.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// Side of the square RGB images (pixels).
    public var imageSize = 64
    /// Space-to-depth factor: the UNet sees [3·p², S/p, S/p] (lossless pixel unshuffle, no VAE to train).
    public var patch = 2
    /// UNet channels per resolution level (each level halves the resolution).
    public var channels = [32, 64, 128]
    /// Which levels carry a text-conditioned transformer (the lowest resolution level always does in the middle).
    public var attention = [false, true, true]
    /// ResBlocks per level in each direction (diffusers' layers_per_block, one entry per level); empty: one
    /// everywhere. Blocks past the first keep the level's channel count.
    public var layersPerBlock: [Int] = []
    public var groups = 8
    public var heads = 4
    public var textDim = 64
    public var textLayers = 2
    public var textHeads = 4
    public var maxTokens = 16
    /// Also condition every ResBlock on the caption: the mean of the text encoder's output, through a linear
    /// layer, is added to the time embedding (as Imagen and SDXL add a pooled text embedding). Cross-attention
    /// alone learned too slowly here: after 2,600 steps a model without this path gave the same prediction
    /// for every caption. Off by default so that configs written before it keep their meaning.
    public var pooledText = false
    /// Feed two extra input planes holding each grid cell's x and y in [−1, 1] (CoordConv, Liu et al. 2018):
    /// prompts name positions ("in the top left corner"), and a convolution otherwise sees absolute position
    /// only through the zero padding at the border, many layers away from most pixels. Off by default so
    /// that configs written before it keep their meaning.
    public var coordinates = false
    /// Learned queries of an attention pooling of the text tokens, added to the time embedding beside the
    /// mean (`TextAttentionPool`: the mean is a bag of words, and the layout is decided at noise levels where
    /// the model read the caption only through it); 0: none.
    public var textPoolQueries = 0
    /// Side of a grid of learned position queries that read the text and add the result to the UNet level of
    /// that resolution (`TextSpatialMap`: the model ignored words about place); 0: none.
    public var textSpatialMap = 0
    /// Side of a grid whose every cell reads the mean of the text tokens through its own linear layer, the
    /// result added to the UNet level of that resolution (a spatial map from the caption with no attention to
    /// bootstrap: `TinyUNet.textCells`); 0: none.
    public var textCellMap = 0
    /// Caption words known to the tokenizer (built from the dataset's captions when a run starts).
    public var vocabulary: [String] = []

    public init() {}

    /// Any subset of the keys; missing ones keep the defaults above.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.imageSize, &imageSize); try read(.patch, &patch); try read(.channels, &channels)
        try read(.attention, &attention); try read(.groups, &groups); try read(.heads, &heads)
        try read(.textDim, &textDim); try read(.textLayers, &textLayers); try read(.textHeads, &textHeads)
        try read(.maxTokens, &maxTokens); try read(.vocabulary, &vocabulary)
        try read(.pooledText, &pooledText); try read(.coordinates, &coordinates)
        try read(.layersPerBlock, &layersPerBlock); try read(.textPoolQueries, &textPoolQueries)
        try read(.textSpatialMap, &textSpatialMap); try read(.textCellMap, &textCellMap)
    }

    /// The level whose grid side is `textSpatialMap`, or nil.
    public var textSpatialMapLevel: Int? { level(ofSide: textSpatialMap) }
    /// The level whose grid side is `textCellMap`, or nil.
    public var textCellMapLevel: Int? { level(ofSide: textCellMap) }

    private func level(ofSide side: Int) -> Int? {
        side > 0 ? channels.indices.first { (imageSize / patch) >> $0 == side } : nil
    }

    /// ResBlocks at `level` in each direction.
    public func resnets(level: Int) -> Int { layersPerBlock.isEmpty ? 1 : layersPerBlock[level] }

    /// What `diffuse info` prints as the architecture.
    public var architectureName: String {
        "Diffuse built-in text-to-image: pixel-space UNet \(channels) on \(imageSize)×\(imageSize) (unshuffle \(patch)), "
            + "\(textLayers)-layer word-level text transformer (dim \(textDim), \(vocabulary.count) words)"
            + (pooledText ? ", pooled text added to the time embedding" : "")
            + (textPoolQueries > 0 ? ", attention pooling of the text (\(textPoolQueries) queries)" : "")
            + (textSpatialMap > 0 ? ", text read by a \(textSpatialMap)×\(textSpatialMap) grid of position queries" : "")
            + (textCellMap > 0 ? ", pooled text mapped to a \(textCellMap)×\(textCellMap) grid" : "")
            + (coordinates ? ", coordinate input planes" : "")
            + (layersPerBlock.isEmpty ? "" : ", ResBlocks per level \(layersPerBlock)")
    }

    /// One line naming the first impossible value, or nil.
    public func problem() -> String? {
        if channels.isEmpty { return "model.channels is empty; give at least one level, e.g. [32, 64, 128]" }
        if attention.count != channels.count {
            return "model.attention has \(attention.count) entries but model.channels has \(channels.count); give one per level"
        }
        if !layersPerBlock.isEmpty && (layersPerBlock.count != channels.count || layersPerBlock.contains { $0 < 1 || $0 > 8 }) {
            return "model.layersPerBlock \(layersPerBlock) needs one entry per level (\(channels.count)), each 1…8"
        }
        if patch < 1 || imageSize < 8 { return "model.patch must be ≥ 1 and model.imageSize ≥ 8" }
        let levels = channels.count - 1
        if imageSize % (patch << levels) != 0 {
            return "model.imageSize \(imageSize) must be divisible by patch·2^(levels−1) = \(patch << levels)"
        }
        if groups < 1 || channels.contains(where: { $0 < 1 || $0 % groups != 0 }) {
            return "model.channels \(channels) must all be positive multiples of model.groups \(groups)"
        }
        if heads < 1 || channels.contains(where: { $0 % heads != 0 }) {
            return "model.channels \(channels) must all be multiples of model.heads \(heads)"
        }
        if textHeads < 1 || textDim < 1 || textDim % textHeads != 0 {
            return "model.textDim \(textDim) must be a positive multiple of model.textHeads \(textHeads)"
        }
        if !(0...16).contains(textPoolQueries) { return "model.textPoolQueries must be 0…16 (got \(textPoolQueries))" }
        for (key, side, level) in [("textSpatialMap", textSpatialMap, textSpatialMapLevel), ("textCellMap", textCellMap, textCellMapLevel)]
        where side != 0 && level == nil {
            let sides = channels.indices.map { String((imageSize / patch) >> $0) }.joined(separator: ", ")
            return "model.\(key) must be 0 or the side of a level's grid (\(sides)); got \(side)"
        }
        if textLayers < 0 || maxTokens < 1 { return "model.textLayers must be ≥ 0 and model.maxTokens ≥ 1" }
        return nil
    }
}
