import Foundation

// diffusers' ResnetBlock2D (resnet_time_scale_shift "default", output_scale_factor 1), Downsample2D and
// Upsample2D (both with their convolution), shared by the UNet and the VAE.

/// norm1 → SiLU → conv1 (+ time_emb_proj(SiLU(temb)) per channel) → norm2 → SiLU → conv2, plus the
/// input (through a 1×1 conv_shortcut when the channel count changes).
struct ResnetBlock2D {
    let norm1: GroupNormLayer
    let conv1: Conv2dLayer
    let timeEmbProj: LinearLayer?
    let norm2: GroupNormLayer
    let conv2: Conv2dLayer
    let shortcut: Conv2dLayer?

    /// `tembChannels` nil: no time embedding (the VAE).
    init(_ w: WeightScope, in inC: Int, out outC: Int, tembChannels: Int?, groups: Int, eps: Float) throws {
        norm1 = try GroupNormLayer(w.scope("norm1"), channels: inC, groups: groups, eps: eps)
        conv1 = try Conv2dLayer(w.scope("conv1"), in: inC, out: outC, kernel: 3)
        timeEmbProj = try tembChannels.map { try LinearLayer(w.scope("time_emb_proj"), in: $0, out: outC) }
        norm2 = try GroupNormLayer(w.scope("norm2"), channels: outC, groups: groups, eps: eps)
        conv2 = try Conv2dLayer(w.scope("conv2"), in: outC, out: outC, kernel: 3)
        shortcut = inC == outC ? nil : try Conv2dLayer(w.scope("conv_shortcut"), in: inC, out: outC, kernel: 1)
    }

    /// x [N, in, H, W], tembSilu [N, temb] (SiLU already applied, shared by all blocks) → [N, out, H, W]
    func callAsFunction(_ x: Tensor, tembSilu: Tensor? = nil) -> Tensor {
        var h = conv1(norm1(x, silu: true))
        if let proj = timeEmbProj, let t = tembSilu {
            h = addPerChannel(h, proj(t))   // [N, out] broadcast over H, W
        }
        return conv2(norm2(h, silu: true), residual: shortcut.map { $0(x) } ?? x)
    }
}

/// Stride-2 3×3 convolution. `asymmetricPadding`: the VAE's variant (padding 0 in diffusers) pads one
/// row and column at the bottom/right instead of one on every side.
struct Downsample2D {
    let conv: Conv2dLayer
    let asymmetricPadding: Bool

    init(_ w: WeightScope, channels: Int, asymmetricPadding: Bool) throws {
        conv = try Conv2dLayer(w.scope("conv"), in: channels, out: channels, kernel: 3, stride: 2,
                               padding: asymmetricPadding ? 0 : 1)
        self.asymmetricPadding = asymmetricPadding
    }

    /// [N, C, H, W] → [N, C, ⌈H/2⌉, ⌈W/2⌉]
    func callAsFunction(_ x: Tensor) -> Tensor { conv(asymmetricPadding ? padBottomRight(x) : x) }
}

/// Nearest 2× upsampling (or to an explicit size) followed by a 3×3 convolution.
struct Upsample2D {
    let conv: Conv2dLayer

    init(_ w: WeightScope, channels: Int) throws {
        conv = try Conv2dLayer(w.scope("conv"), in: channels, out: channels, kernel: 3)
    }

    /// [N, C, H, W] → [N, C, 2H, 2W], or [N, C, size.h, size.w] when `size` is given.
    func callAsFunction(_ x: Tensor, size: (h: Int, w: Int)? = nil) -> Tensor {
        let up = size.map { resizeNearest(x, height: $0.h, width: $0.w) } ?? upsampleNearest2x(x)
        return conv(up)
    }
}
