import Foundation

// Reading UNet, VAE and text-encoder configs from a single file's tensor shapes.

/// Shape look-ups with errors that name the missing tensor.
struct ShapeReader {
    let file: SafeTensorsFile

    func has(_ key: String) -> Bool { file.info(named: key) != nil }

    func shape(_ key: String, rank: Int) throws -> [Int] {
        guard let info = file.info(named: key) else {
            throw ModelFileError("\(file.url.path): missing tensor \"\(key)\"; the checkpoint is incomplete or not a "
                + "standard SD 1.x/2.x model")
        }
        guard info.shape.count == rank else {
            throw ModelFileError("\(file.url.path): tensor \"\(key)\" has shape \(info.shape), expected rank \(rank); "
                + "the checkpoint is not a standard SD 1.x/2.x model")
        }
        return info.shape
    }

    /// The distinct integers N in keys "<prefix>N.…", i.e. the child indices of a module list.
    func indices(under prefix: String) -> Set<Int> {
        var out = Set<Int>()
        for name in file.names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            if let i = Int(rest.prefix { $0 != "." }) { out.insert(i) }
        }
        return out
    }

    /// Number of entries of a module list, requiring them to be numbered 0..<count.
    func count(under prefix: String) throws -> Int {
        let found = indices(under: prefix)
        guard found == Set(0..<found.count) else {
            throw ModelFileError("\(file.url.path): the blocks under \"\(prefix)\" are not numbered 0...\(found.count - 1); "
                + "the checkpoint is incomplete")
        }
        return found.count
    }

    func fail(_ problem: String) -> ModelFileError {
        ModelFileError("\(file.url.path): \(problem); the checkpoint is not a standard SD 1.x/2.x model")
    }
}

func inferUNetConfig(_ s: ShapeReader, defaults: FamilyDefaults, hints: SingleFileHints) throws -> UNetConfig {
    let p = "model.diffusion_model."
    if s.file.names.contains(where: { $0.hasPrefix(p + "label_emb.") }) {
        throw ModelFileError("\(s.file.url.path): unsupported architecture: the UNet has class embeddings (label_emb.*), "
            + "as SD 2.x unCLIP / upscaler models do")
    }
    let convIn = try s.shape(p + "input_blocks.0.0.weight", rank: 4)
    let inputCount = try s.count(under: p + "input_blocks.")
    let downsamplers = s.indices(under: p + "input_blocks.").filter { s.has(p + "input_blocks.\($0).0.op.weight") }.count
    let n = downsamplers + 1
    let resnetSlots = inputCount - 1 - downsamplers
    guard resnetSlots >= n, resnetSlots % n == 0 else {
        throw s.fail("\(inputCount) UNet input blocks do not split into \(n) equal down blocks")
    }
    let layers = resnetSlots / n
    let midDepth = try s.count(under: p + "middle_block.1.transformer_blocks.")
    guard midDepth > 0 else {
        throw s.fail("the UNet mid block has no attention (middle_block.1.transformer_blocks.*)")
    }

    var c = UNetConfig()
    c.inChannels = convIn[1]
    c.outChannels = try s.shape(p + "out.2.weight", rank: 4)[0]
    c.layersPerBlock = .one(layers)
    var channels: [Int] = [], downAttention: [Bool] = [], depths: [Int] = []
    for b in 0..<n {
        let index = 1 + b * (layers + 1)
        channels.append(try s.shape(p + "input_blocks.\(index).0.out_layers.3.weight", rank: 4)[0])
        let attention = s.has(p + "input_blocks.\(index).1.proj_in.weight")
        downAttention.append(attention)
        // Blocks without attention take the mid block's depth, as diffusers' own conversion leaves them.
        depths.append(attention ? try s.count(under: p + "input_blocks.\(index).1.transformer_blocks.") : midDepth)
    }
    c.blockOutChannels = channels
    c.downBlockTypes = downAttention.map { $0 ? "CrossAttnDownBlock2D" : "DownBlock2D" }
    c.upBlockTypes = (0..<n).map { i in
        s.has(p + "output_blocks.\(i * (layers + 1)).1.proj_in.weight") ? "CrossAttnUpBlock2D" : "UpBlock2D"
    }
    c.transformerLayersPerBlock = depths.allSatisfy { $0 == depths[0] } ? .one(depths[0]) : .list(depths)
    // proj_in is a linear layer [C, C] in SD2-style UNets and a 1×1 conv [C, C, 1, 1] in SD1-style ones.
    c.useLinearProjection = s.file.info(named: p + "middle_block.1.proj_in.weight")?.shape.count == 2
    c.crossAttentionDim = .one(try s.shape(p + "middle_block.1.transformer_blocks.0.attn2.to_k.weight", rank: 2)[1])
    c.attentionHeadDim = hints.unetAttentionHeadDim ?? defaults.unetHeads(channels)
    c.upcastAttention = hints.upcastAttention ?? defaults.upcastAttention
    let prediction = hints.predictionType ?? defaults.predictionType
    c.sampleSize = .one(defaults.family == .sd2 && prediction == "v_prediction" ? 96 : 64)
    return c
}

func inferVAEConfig(_ s: ShapeReader, defaults: FamilyDefaults) throws -> VAEConfig {
    let q = "first_stage_model."
    let n = try s.count(under: q + "encoder.down.")
    guard n > 0 else { throw s.fail("the VAE encoder has no down blocks (first_stage_model.encoder.down.*)") }
    var c = VAEConfig()
    c.inChannels = try s.shape(q + "encoder.conv_in.weight", rank: 4)[1]
    c.outChannels = try s.shape(q + "decoder.conv_out.weight", rank: 4)[0]
    c.layersPerBlock = try s.count(under: q + "encoder.down.0.block.")
    c.blockOutChannels = try (0..<n).map { try s.shape(q + "encoder.down.\($0).block.0.conv1.weight", rank: 4)[0] }
    c.downBlockTypes = Array(repeating: "DownEncoderBlock2D", count: n)
    c.upBlockTypes = Array(repeating: "UpDecoderBlock2D", count: n)
    c.latentChannels = try s.shape(q + "post_quant_conv.weight", rank: 4)[0]
    c.midBlockAddAttention = s.has(q + "encoder.mid.attn_1.q.weight")
    c.sampleSize = .one(defaults.family == .sd2 ? 768 : 512)
    c.scalingFactor = 0.18215
    return c
}

func inferTextConfig(_ s: ShapeReader, defaults: FamilyDefaults, hints: SingleFileHints) throws -> CLIPTextConfig {
    var c = CLIPTextConfig()
    let token: [Int], positions: [Int]
    switch defaults.family {
    case .sd1:
        let r = sd1TextPrefix(in: s.file)
        token = try s.shape(r + "embeddings.token_embedding.weight", rank: 2)
        positions = try s.shape(r + "embeddings.position_embedding.weight", rank: 2)
        c.numHiddenLayers = try s.count(under: r + "encoder.layers.")
        c.intermediateSize = try s.shape(r + "encoder.layers.0.mlp.fc1.weight", rank: 2)[0]
        c.hiddenAct = "quick_gelu"
        c.projectionDim = token[1]
    case .sd2:
        let r = "cond_stage_model.model."
        token = try s.shape(r + "token_embedding.weight", rank: 2)
        positions = try s.shape(r + "positional_embedding", rank: 2)
        // The full OpenCLIP tower; SD2 reads its penultimate layer (defaultClipSkip 2).
        c.numHiddenLayers = try s.count(under: r + "transformer.resblocks.")
        c.intermediateSize = try s.shape(r + "transformer.resblocks.0.mlp.c_fc.weight", rank: 2)[0]
        c.hiddenAct = "gelu"
        c.projectionDim = s.has(r + "text_projection") ? try s.shape(r + "text_projection", rank: 2)[1] : token[1]
    }
    c.vocabSize = token[0]
    c.hiddenSize = token[1]
    c.maxPositionEmbeddings = positions[0]
    c.numAttentionHeads = hints.textNumAttentionHeads ?? defaults.textHeads(hidden: token[1])
    guard c.numHiddenLayers > 0 else { throw s.fail("the text encoder has no layers") }
    return c
}
