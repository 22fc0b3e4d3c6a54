import DiffuseCore

/// The built-in model's denoiser: a conditional UNet on the pixel-unshuffled image.
///   x [B, 3, S, S] → unshuffle → [B, 3p², S/p, S/p] → conv_in → down levels (ResBlock(s) [+ transformer],
///   stride-2 conv) → mid (ResBlock, transformer, ResBlock) → up levels (concat skip, ResBlock(s)
///   [+ transformer], nearest 2× + conv); `layersPerBlock` adds same-width ResBlocks after each level's first → GroupNorm, SiLU, conv_out → shuffle → [B, 3, S, S].
/// Time: sinusoidal(t) → Linear → SiLU → Linear (+ Linear(mean of the text tokens) with `pooledText`, + an
/// attention pooling of them with `textPoolQueries`), fed to every ResBlock through SiLU + a projection.
/// `textSpatialMap` (position queries reading the tokens) and `textCellMap` (per-cell readouts of the tokens'
/// mean) add a caption-dependent map after one level's first down ResBlock.
public final class TinyUNet: ParameterOwner {
    let config: ModelConfig
    let time1: LinearLayer, timeAct = SiLULayer(), time2: LinearLayer, embAct = SiLULayer()
    let convIn: Conv2dLayer
    let downRes: [ResBlock], downExtra: [[ResBlock]], downAttn: [SpatialTransformer?], downSample: [Conv2dLayer?]
    let mid1: ResBlock, midAttn: SpatialTransformer, mid2: ResBlock
    let upRes: [ResBlock], upExtra: [[ResBlock]], upAttn: [SpatialTransformer?], upSample: [Conv2dLayer?]
    let normOut: GroupNormLayer, actOut = SiLULayer(), convOut: Conv2dLayer
    let textPool: LinearLayer?
    let textAttnPool: TextAttentionPool?
    let textMap: TextSpatialMap?
    /// `textCellMap`: mean of the text tokens [B, D] → [B, C·s²] (zero-initialised), added as [B, C, s, s].
    let textCells: LinearLayer?

    init(_ c: ModelConfig, rng: inout TrainingRNG) {
        config = c
        let ch = c.channels, t = 4 * ch[0], pixels = 3 * c.patch * c.patch, last = ch.count - 1
        time1 = LinearLayer("time_embedding.linear_1", in: ch[0], out: t, rng: &rng)
        time2 = LinearLayer("time_embedding.linear_2", in: t, out: t, rng: &rng)
        convIn = Conv2dLayer("conv_in", in: pixels + (c.coordinates ? 2 : 0), out: ch[0], kernel: 3, rng: &rng)
        func attn(_ name: String, _ i: Int) -> SpatialTransformer {
            SpatialTransformer(name, channels: ch[i], contextDim: c.textDim, heads: c.heads, groups: c.groups,
                               selfAttention: i == last, rng: &rng)
        }
        // Blocks past the first at a level; none (and no random numbers drawn) with the default of one.
        func extra(_ prefix: String, _ i: Int) -> [ResBlock] {
            (1..<c.resnets(level: i)).map { j in
                ResBlock("\(prefix).resnets.\(j)", in: ch[i], out: ch[i], timeDim: t, groups: c.groups, rng: &rng)
            }
        }
        var dr: [ResBlock] = [], dx: [[ResBlock]] = [], da: [SpatialTransformer?] = [], ds: [Conv2dLayer?] = []
        for i in 0...last {
            dr.append(ResBlock("down_blocks.\(i).resnets.0", in: i == 0 ? ch[0] : ch[i - 1], out: ch[i], timeDim: t,
                               groups: c.groups, rng: &rng))
            dx.append(extra("down_blocks.\(i)", i))
            da.append(c.attention[i] ? attn("down_blocks.\(i).attentions.0", i) : nil)
            ds.append(i < last ? Conv2dLayer("down_blocks.\(i).downsamplers.0.conv", in: ch[i], out: ch[i], kernel: 3,
                                             stride: 2, rng: &rng) : nil)
        }
        downRes = dr; downExtra = dx; downAttn = da; downSample = ds
        mid1 = ResBlock("mid_block.resnets.0", in: ch[last], out: ch[last], timeDim: t, groups: c.groups, rng: &rng)
        midAttn = attn("mid_block.attentions.0", last)
        mid2 = ResBlock("mid_block.resnets.1", in: ch[last], out: ch[last], timeDim: t, groups: c.groups, rng: &rng)
        var ur: [ResBlock] = [], ux: [[ResBlock]] = [], ua: [SpatialTransformer?] = [], us: [Conv2dLayer?] = []
        for i in (0...last).reversed() {
            let u = last - i
            ur.append(ResBlock("up_blocks.\(u).resnets.0", in: 2 * ch[i], out: ch[i], timeDim: t, groups: c.groups, rng: &rng))
            ux.append(extra("up_blocks.\(u)", i))
            ua.append(c.attention[i] ? attn("up_blocks.\(u).attentions.0", i) : nil)
            us.append(i > 0 ? Conv2dLayer("up_blocks.\(u).upsamplers.0.conv", in: ch[i], out: ch[i - 1], kernel: 3,
                                          rng: &rng) : nil)
        }
        upRes = ur; upExtra = ux; upAttn = ua; upSample = us
        normOut = GroupNormLayer("conv_norm_out", channels: ch[0], groups: c.groups)
        convOut = Conv2dLayer("conv_out", in: ch[0], out: pixels, kernel: 3, rng: &rng)
        // Zero output layer: the untrained model predicts 0, and early steps do not fight random outputs.
        convOut.weight.value = Tensor(zeros: convOut.weight.value.shape)
        convOut.bias.value = Tensor(zeros: convOut.bias.value.shape)
        // Made last so that every other weight is the same with and without the pooled path.
        textPool = c.pooledText ? LinearLayer("text_pool_proj", in: c.textDim, out: t, rng: &rng) : nil
        textAttnPool = c.textPoolQueries > 0
            ? TextAttentionPool("text_attn_pool", queries: c.textPoolQueries, dim: c.textDim, heads: c.textHeads, out: t, rng: &rng)
            : nil
        textMap = c.textSpatialMapLevel.map { i in
            TextSpatialMap("text_spatial_map", side: c.textSpatialMap, dim: c.textDim, heads: c.textHeads, channels: ch[i],
                           rng: &rng)
        }
        textCells = c.textCellMapLevel.map { i in
            let cells = LinearLayer("text_cell_map", in: c.textDim, out: ch[i] * c.textCellMap * c.textCellMap, rng: &rng)
            cells.weight.value = Tensor(zeros: cells.weight.value.shape)
            cells.bias!.value = Tensor(zeros: cells.bias!.value.shape)
            return cells
        }
    }

    public var parameters: [Parameter] {
        var p = time1.parameters + time2.parameters + convIn.parameters
        for i in downRes.indices {
            p += downRes[i].parameters + downExtra[i].flatMap(\.parameters) + (downAttn[i]?.parameters ?? [])
                + (downSample[i]?.parameters ?? [])
        }
        p += mid1.parameters + midAttn.parameters + mid2.parameters
        for i in upRes.indices {
            p += upRes[i].parameters + upExtra[i].flatMap(\.parameters) + (upAttn[i]?.parameters ?? [])
                + (upSample[i]?.parameters ?? [])
        }
        return p + normOut.parameters + convOut.parameters + (textPool?.parameters ?? []) + (textAttnPool?.parameters ?? [])
            + (textMap?.parameters ?? []) + (textCells?.parameters ?? [])
    }

    private var skipChannels: [Int] = []

    /// x [B, 3, S, S], timesteps [B], context [B, L, D] → [B, 3, S, S]. `pooled` replaces the context the pooled
    /// text path reads (diagnostics only).
    func forward(_ x: Tensor, timesteps: [Float], context: Tensor, pooled: Tensor? = nil) -> Tensor {
        var temb = time2.forward(timeAct.forward(time1.forward(timestepEmbedding(timesteps, dim: config.channels[0]))))
        let mean = textPool != nil || textCells != nil ? meanOverTokens(pooled ?? context) : nil   // [B, D]
        if let textPool, let mean { temb = add(temb, textPool.forward(mean)) }   // [B, 4·C0]
        if let textAttnPool { temb = add(temb, textAttnPool.forward(pooled ?? context)) }
        let e = embAct.forward(temb)                                               // [B, 4·C0]
        let grid = pixelUnshuffle(x, config.patch)                                 // [B, 3·p², S/p, S/p]
        var h = convIn.forward(config.coordinates ? appendingCoordinates(grid) : grid)
        var skips: [Tensor] = []
        for i in downRes.indices {
            h = downRes[i].forward(h, embAct: e)
            if let textMap, i == config.textSpatialMapLevel { h = add(h, textMap.forward(context)) }   // [B, C_i, s, s]
            if let textCells, let mean, i == config.textCellMapLevel { h = add(h, textCells.forward(mean).reshaped(h.shape)) }
            for r in downExtra[i] { h = r.forward(h, embAct: e) }
            if let a = downAttn[i] { h = a.forward(h, context: context) }
            skips.append(h)
            if let d = downSample[i] { h = d.forward(h) }
        }
        h = mid2.forward(midAttn.forward(mid1.forward(h, embAct: e), context: context), embAct: e)
        skipChannels = []
        for i in upRes.indices {
            let s = skips.removeLast()
            skipChannels.append(s.shape[1])
            h = upRes[i].forward(concat([h, s], axis: 1), embAct: e)              // [B, 2C, h, w] → [B, C, h, w]
            for r in upExtra[i] { h = r.forward(h, embAct: e) }
            if let a = upAttn[i] { h = a.forward(h, context: context) }
            if let u = upSample[i] { h = u.forward(upsampleNearest2x(h)) }
        }
        return pixelShuffle(convOut.forward(actOut.forward(normOut.forward(h))), config.patch)
    }

    /// Adds every parameter gradient; returns the context gradient [B, L, D].
    func backward(_ dy: Tensor) -> Tensor {
        var dh = normOut.backward(actOut.backward(convOut.backward(pixelUnshuffle(dy, config.patch))))
        var dSkips: [Tensor] = []
        var dE: Tensor? = nil, dCtx: Tensor? = nil, dMean: Tensor? = nil
        func addE(_ t: Tensor) { if dE == nil { dE = t } else { accumulate(&dE!, t) } }
        func addC(_ t: Tensor) { if dCtx == nil { dCtx = t } else { accumulate(&dCtx!, t) } }
        for i in upRes.indices.reversed() {
            if let u = upSample[i] { dh = upsampleNearest2xBackward(dy: u.backward(dh)) }
            if let a = upAttn[i] { let (d, c) = a.backward(dh); dh = d; addC(c) }
            for r in upExtra[i].reversed() { let (d, de) = r.backward(dh); addE(de); dh = d }
            let (d, de) = upRes[i].backward(dh); addE(de)
            let c = d.shape[1] - skipChannels[i]
            let parts = splitSizes(d, sizes: [c, skipChannels[i]], axis: 1)
            dh = parts[0]
            dSkips.append(parts[1])                                                 // level 0 first
        }
        var (d2, e2) = mid2.backward(dh); addE(e2)
        let (dm, cm) = midAttn.backward(d2); addC(cm)
        (d2, e2) = mid1.backward(dm); addE(e2)
        dh = d2
        for i in downRes.indices.reversed() {
            if let d = downSample[i] { dh = d.backward(dh) }
            accumulate(&dh, dSkips[i])
            if let a = downAttn[i] { let (d, c) = a.backward(dh); dh = d; addC(c) }
            for r in downExtra[i].reversed() { let (d, de) = r.backward(dh); addE(de); dh = d }
            if let textMap, i == config.textSpatialMapLevel { addC(textMap.backward(dh)) }
            if let textCells, i == config.textCellMapLevel { dMean = textCells.backward(dh.reshaped([dh.shape[0], dh.count / dh.shape[0]])) }
            let (d, de) = downRes[i].backward(dh); addE(de); dh = d
        }
        convIn.backwardParameters(dh)                                            // its input is data
        let dTemb = embAct.backward(dE!)
        _ = time1.backward(timeAct.backward(time2.backward(dTemb)))
        if let textPool {
            let d = textPool.backward(dTemb)
            if dMean == nil { dMean = d } else { accumulate(&dMean!, d) }
        }
        if let dMean { accumulate(&dCtx!, meanOverTokensBackward(dMean, tokens: dCtx!.shape[1])) }
        if let textAttnPool { accumulate(&dCtx!, textAttnPool.backward(dTemb)) }
        return dCtx!
    }
}

/// [B, C, H, W] → [B, C + 2, H, W]: channel C holds each cell's x centre, C + 1 its y centre, both in [−1, 1].
/// The planes are inputs, not parameters: `backward` never needs their gradient.
func appendingCoordinates(_ x: Tensor) -> Tensor {
    let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return Tensor(shape: [b, c + 2, h, w]) { out in
        for n in 0..<b {
            for i in 0..<(c * h * w) { out[n * (c + 2) * h * w + i] = x.data[n * c * h * w + i] }
            let planes = (n * (c + 2) + c) * h * w
            for y in 0..<h {
                for xx in 0..<w {
                    out[planes + y * w + xx] = 2 * (Float(xx) + 0.5) / Float(w) - 1
                    out[planes + h * w + y * w + xx] = 2 * (Float(y) + 0.5) / Float(h) - 1
                }
            }
        }
    }
}

/// [B, L, D] → [B, D]: the mean over the L tokens.
func meanOverTokens(_ x: Tensor) -> Tensor {
    let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
    return Tensor(shape: [b, d]) { out in
        for n in 0..<b { for j in 0..<l { for k in 0..<d { out[n * d + k] += x.data[(n * l + j) * d + k] / Float(l) } } }
    }
}

/// Backward of `meanOverTokens`: dy [B, D] → [B, L, D], each token gets dy / L.
func meanOverTokensBackward(_ dy: Tensor, tokens l: Int) -> Tensor {
    let (b, d) = (dy.shape[0], dy.shape[1])
    return Tensor(shape: [b, l, d]) { out in
        for n in 0..<b { for j in 0..<l { for k in 0..<d { out[(n * l + j) * d + k] = dy.data[n * d + k] / Float(l) } } }
    }
}

/// torch.nn.functional.pixel_unshuffle: [B, C, H, W] → [B, C·p², H/p, W/p], channel c·p² + dy·p + dx.
public func pixelUnshuffle(_ x: Tensor, _ p: Int) -> Tensor {
    if p == 1 { return x }
    let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ho = h / p, wo = w / p
    return Tensor(shape: [b, c * p * p, ho, wo]) { out in
        for n in 0..<b { for ch in 0..<c { for dy in 0..<p { for dx in 0..<p {
            let oc = (n * c + ch) * p * p + dy * p + dx
            for y in 0..<ho { for xx in 0..<wo {
                out[(oc * ho + y) * wo + xx] = x.data[((n * c + ch) * h + y * p + dy) * w + xx * p + dx]
            } }
        } } } }
    }
}

/// torch.nn.functional.pixel_shuffle, the inverse of `pixelUnshuffle`.
public func pixelShuffle(_ x: Tensor, _ p: Int) -> Tensor {
    if p == 1 { return x }
    let (b, cp, ho, wo) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let c = cp / (p * p), h = ho * p, w = wo * p
    return Tensor(shape: [b, c, h, w]) { out in
        for n in 0..<b { for ch in 0..<c { for dy in 0..<p { for dx in 0..<p {
            let ic = (n * c + ch) * p * p + dy * p + dx
            for y in 0..<ho { for xx in 0..<wo {
                out[((n * c + ch) * h + y * p + dy) * w + xx * p + dx] = x.data[(ic * ho + y) * wo + xx]
            } }
        } } } }
    }
}
