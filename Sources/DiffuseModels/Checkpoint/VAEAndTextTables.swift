// AutoencoderKL ↔ LDM `first_stage_model.*`, and the CLIP text encoder ↔ `cond_stage_model.*` (OpenAI CLIP
// for SD1, OpenCLIP for SD2). Text-encoder names are those transformers 5 writes (no `text_model.` prefix).

func vaeTable(_ c: VAEConfig) -> [ParameterEntry] {
    var t = TableBuilder(originalPrefix: "first_stage_model.")
    let ch = c.blockOutChannels, n = ch.count, lat = c.latentChannels, last = ch[n - 1]

    t.conv("encoder.conv_in", "encoder.conv_in", out: ch[0], in: c.inChannels, kernel: 3)
    var previous = ch[0]
    for i in 0..<n {
        for j in 0..<c.layersPerBlock {
            t.vaeResnet("encoder.down_blocks.\(i).resnets.\(j)", "encoder.down.\(i).block.\(j)",
                        in: j == 0 ? previous : ch[i], out: ch[i])
        }
        if i < n - 1 {
            t.conv("encoder.down_blocks.\(i).downsamplers.0.conv", "encoder.down.\(i).downsample.conv",
                   out: ch[i], in: ch[i], kernel: 3)
        }
        previous = ch[i]
    }
    t.vaeMid("encoder", channels: last, attention: c.midBlockAddAttention)
    t.norm("encoder.conv_norm_out", "encoder.norm_out", last)
    t.conv("encoder.conv_out", "encoder.conv_out", out: 2 * lat, in: last, kernel: 3)
    t.conv("quant_conv", "quant_conv", out: 2 * lat, in: 2 * lat, kernel: 1)
    t.conv("post_quant_conv", "post_quant_conv", out: lat, in: lat, kernel: 1)

    t.conv("decoder.conv_in", "decoder.conv_in", out: last, in: lat, kernel: 3)
    t.vaeMid("decoder", channels: last, attention: c.midBlockAddAttention)
    let reversed = Array(ch.reversed())
    previous = reversed[0]
    for i in 0..<n {
        // LDM numbers decoder levels from the highest resolution; diffusers from the lowest.
        let level = n - 1 - i, out = reversed[i]
        for j in 0...c.layersPerBlock {
            t.vaeResnet("decoder.up_blocks.\(i).resnets.\(j)", "decoder.up.\(level).block.\(j)",
                        in: j == 0 ? previous : out, out: out)
        }
        if i < n - 1 {
            t.conv("decoder.up_blocks.\(i).upsamplers.0.conv", "decoder.up.\(level).upsample.conv", out: out, in: out, kernel: 3)
        }
        previous = out
    }
    t.norm("decoder.conv_norm_out", "decoder.norm_out", ch[0])
    t.conv("decoder.conv_out", "decoder.conv_out", out: c.outChannels, in: ch[0], kernel: 3)
    return t.entries
}

extension TableBuilder {
    mutating func vaeResnet(_ d: String, _ o: String, in cin: Int, out: Int) {
        norm("\(d).norm1", "\(o).norm1", cin)
        conv("\(d).conv1", "\(o).conv1", out: out, in: cin, kernel: 3)
        norm("\(d).norm2", "\(o).norm2", out)
        conv("\(d).conv2", "\(o).conv2", out: out, in: out, kernel: 3)
        if cin != out { conv("\(d).conv_shortcut", "\(o).nin_shortcut", out: out, in: cin, kernel: 1) }
    }

    /// Mid block: resnet, single-head self-attention whose LDM projections are 1×1 convs, resnet.
    mutating func vaeMid(_ side: String, channels c: Int, attention: Bool) {
        vaeResnet("\(side).mid_block.resnets.0", "\(side).mid.block_1", in: c, out: c)
        if attention {
            let d = "\(side).mid_block.attentions.0", o = "\(side).mid.attn_1"
            norm("\(d).group_norm", "\(o).norm", c)
            for (dn, on) in [("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")] {
                weightAndBias("\(d).\(dn)", "\(o).\(on)", [c, c], .squeeze)
            }
        }
        vaeResnet("\(side).mid_block.resnets.1", "\(side).mid.block_2", in: c, out: c)
    }
}

/// OpenAI CLIP text model as stored by SD1 checkpoints (`cond_stage_model.transformer.text_model.*`):
/// the same names as transformers' CLIPTextModel under a prefix. Checkpoints saved from transformers 3
/// lack the `text_model.` level (A1111 renames those keys too); `sd1TextPrefix` picks the one a file uses.
func clipTable(_ c: CLIPTextConfig, originalPrefix: String = sd1TextPrefix) -> [ParameterEntry] {
    var t = TableBuilder(originalPrefix: originalPrefix)
    let h = c.hiddenSize, i = c.intermediateSize
    t.add("embeddings.token_embedding.weight", [c.vocabSize, h], "embeddings.token_embedding.weight")
    t.add("embeddings.position_embedding.weight", [c.maxPositionEmbeddings, h], "embeddings.position_embedding.weight")
    for l in 0..<c.numHiddenLayers {
        let p = "encoder.layers.\(l)"
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            t.linear("\(p).self_attn.\(proj)", "\(p).self_attn.\(proj)", out: h, in: h)
        }
        t.norm("\(p).layer_norm1", "\(p).layer_norm1", h)
        t.linear("\(p).mlp.fc1", "\(p).mlp.fc1", out: i, in: h)
        t.linear("\(p).mlp.fc2", "\(p).mlp.fc2", out: h, in: i)
        t.norm("\(p).layer_norm2", "\(p).layer_norm2", h)
    }
    t.norm("final_layer_norm", "final_layer_norm", h)
    return t.entries
}

let sd1TextPrefix = "cond_stage_model.transformer.text_model."
let sd1LegacyTextPrefix = "cond_stage_model.transformer."

/// The SD1 text-encoder prefix `file` uses.
func sd1TextPrefix(in file: SafeTensorsFile) -> String {
    file.info(named: sd1TextPrefix + "embeddings.token_embedding.weight") == nil
        && file.info(named: sd1LegacyTextPrefix + "embeddings.token_embedding.weight") != nil
        ? sd1LegacyTextPrefix : sd1TextPrefix
}

/// OpenCLIP text tower as stored by SD2 checkpoints (`cond_stage_model.model.*`): fused q/k/v
/// `in_proj_*`, `ln_*`, `mlp.c_fc/c_proj`, and a [hidden, projection] `text_projection`.
func openCLIPTable(_ c: CLIPTextConfig) -> [ParameterEntry] {
    var t = TableBuilder(originalPrefix: "cond_stage_model.model.")
    let h = c.hiddenSize, i = c.intermediateSize
    t.add("embeddings.token_embedding.weight", [c.vocabSize, h], "token_embedding.weight")
    t.add("embeddings.position_embedding.weight", [c.maxPositionEmbeddings, h], "positional_embedding")
    for l in 0..<c.numHiddenLayers {
        let p = "encoder.layers.\(l)", o = "transformer.resblocks.\(l)"
        for (part, proj) in ["q_proj", "k_proj", "v_proj"].enumerated() {
            t.add("\(p).self_attn.\(proj).weight", [h, h], "\(o).attn.in_proj_weight", .qkv(part: part))
            t.add("\(p).self_attn.\(proj).bias", [h], "\(o).attn.in_proj_bias", .qkv(part: part))
        }
        t.linear("\(p).self_attn.out_proj", "\(o).attn.out_proj", out: h, in: h)
        t.norm("\(p).layer_norm1", "\(o).ln_1", h)
        t.linear("\(p).mlp.fc1", "\(o).mlp.c_fc", out: i, in: h)
        t.linear("\(p).mlp.fc2", "\(o).mlp.c_proj", out: h, in: i)
        t.norm("\(p).layer_norm2", "\(o).ln_2", h)
    }
    t.norm("final_layer_norm", "ln_final", h)
    t.add("text_projection.weight", [c.projectionDim, h], "text_projection", .transpose, optional: true)
    return t.entries
}
