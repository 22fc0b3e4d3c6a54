// UNet2DConditionModel parameters ↔ the LDM `model.diffusion_model.*` layout. LDM numbers its blocks flat:
// input_blocks.0 is conv_in, then per down block `layers` entries of [resnet, attention?] and, except for
// the last block, one downsampler; output_blocks has `layers + 1` entries per up block, the upsampler
// riding in the last one. Attention internals share their names in both layouts.

func unetTable(_ c: UNetConfig) -> [ParameterEntry] {
    var t = TableBuilder(originalPrefix: "model.diffusion_model.")
    let ch = c.blockOutChannels, n = ch.count, layers = c.layers, temb = c.timeEmbeddingChannels
    let depth = c.transformerDepthPerBlock, cross = c.crossAttentionDimension
    let linear = c.useLinearProjection
    t.conv("conv_in", "input_blocks.0.0", out: ch[0], in: c.inChannels, kernel: 3)
    t.linear("time_embedding.linear_1", "time_embed.0", out: temb, in: ch[0])
    t.linear("time_embedding.linear_2", "time_embed.2", out: temb, in: temb)

    var index = 1
    var previous = ch[0]
    for b in 0..<n {
        for l in 0..<layers {
            t.unetResnet("down_blocks.\(b).resnets.\(l)", "input_blocks.\(index).0",
                         in: l == 0 ? previous : ch[b], out: ch[b], temb: temb)
            if c.downBlockHasAttention[b] {
                t.transformer("down_blocks.\(b).attentions.\(l)", "input_blocks.\(index).1",
                              channels: ch[b], depth: depth[b], cross: cross, linear: linear)
            }
            index += 1
        }
        if b < n - 1 {
            t.conv("down_blocks.\(b).downsamplers.0.conv", "input_blocks.\(index).0.op", out: ch[b], in: ch[b], kernel: 3)
            index += 1
        }
        previous = ch[b]
    }

    let last = ch[n - 1]
    t.unetResnet("mid_block.resnets.0", "middle_block.0", in: last, out: last, temb: temb)
    t.transformer("mid_block.attentions.0", "middle_block.1", channels: last, depth: depth[n - 1], cross: cross, linear: linear)
    t.unetResnet("mid_block.resnets.1", "middle_block.2", in: last, out: last, temb: temb)

    let reversed = Array(ch.reversed()), reversedDepth = Array(depth.reversed())
    index = 0
    var previousOut = reversed[0]
    for i in 0..<n {
        let out = reversed[i], skipIn = reversed[min(i + 1, n - 1)]
        for j in 0...layers {
            // Each up resnet concatenates its input with the matching down-path activation (the skip).
            let skip = j == layers ? skipIn : out
            t.unetResnet("up_blocks.\(i).resnets.\(j)", "output_blocks.\(index).0",
                         in: (j == 0 ? previousOut : out) + skip, out: out, temb: temb)
            var slot = 1
            if c.upBlockHasAttention[i] {
                t.transformer("up_blocks.\(i).attentions.\(j)", "output_blocks.\(index).1",
                              channels: out, depth: reversedDepth[i], cross: cross, linear: linear)
                slot = 2
            }
            if j == layers && i < n - 1 {
                t.conv("up_blocks.\(i).upsamplers.0.conv", "output_blocks.\(index).\(slot).conv", out: out, in: out, kernel: 3)
            }
            index += 1
        }
        previousOut = out
    }
    t.norm("conv_norm_out", "out.0", ch[0])
    t.conv("conv_out", "out.2", out: c.outChannels, in: ch[0], kernel: 3)
    return t.entries
}

extension TableBuilder {
    /// ResnetBlock2D with a timestep projection; LDM names its layers by Sequential index.
    mutating func unetResnet(_ d: String, _ o: String, in cin: Int, out: Int, temb: Int) {
        norm("\(d).norm1", "\(o).in_layers.0", cin)
        conv("\(d).conv1", "\(o).in_layers.2", out: out, in: cin, kernel: 3)
        linear("\(d).time_emb_proj", "\(o).emb_layers.1", out: out, in: temb)
        norm("\(d).norm2", "\(o).out_layers.0", out)
        conv("\(d).conv2", "\(o).out_layers.3", out: out, in: out, kernel: 3)
        if cin != out { conv("\(d).conv_shortcut", "\(o).skip_connection", out: out, in: cin, kernel: 1) }
    }

    /// Transformer2DModel (LDM SpatialTransformer): inner width = channels, GEGLU feed-forward of 4×.
    mutating func transformer(_ d: String, _ o: String, channels c: Int, depth: Int, cross: Int, linear: Bool) {
        norm("\(d).norm", "\(o).norm", c)
        if linear {
            self.linear("\(d).proj_in", "\(o).proj_in", out: c, in: c)
        } else {
            conv("\(d).proj_in", "\(o).proj_in", out: c, in: c, kernel: 1)
        }
        for k in 0..<depth {
            let bd = "\(d).transformer_blocks.\(k)", bo = "\(o).transformer_blocks.\(k)"
            for (attn, contextWidth) in [("attn1", c), ("attn2", cross)] {
                self.linear("\(bd).\(attn).to_q", "\(bo).\(attn).to_q", out: c, in: c, bias: false)
                self.linear("\(bd).\(attn).to_k", "\(bo).\(attn).to_k", out: c, in: contextWidth, bias: false)
                self.linear("\(bd).\(attn).to_v", "\(bo).\(attn).to_v", out: c, in: contextWidth, bias: false)
                self.linear("\(bd).\(attn).to_out.0", "\(bo).\(attn).to_out.0", out: c, in: c)
            }
            self.linear("\(bd).ff.net.0.proj", "\(bo).ff.net.0.proj", out: c * 8, in: c)
            self.linear("\(bd).ff.net.2", "\(bo).ff.net.2", out: c, in: c * 4)
            for k in 1...3 { norm("\(bd).norm\(k)", "\(bo).norm\(k)", c) }
        }
        if linear {
            self.linear("\(d).proj_out", "\(o).proj_out", out: c, in: c)
        } else {
            conv("\(d).proj_out", "\(o).proj_out", out: c, in: c, kernel: 1)
        }
    }
}
