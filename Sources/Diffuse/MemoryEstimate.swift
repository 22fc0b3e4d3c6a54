// Peak memory of one generation, estimated from the model's configs before anything is allocated, so that a
// size that cannot fit is refused with one line instead of the kernel's OOM killer ending the process.
//
// The model: only one network's weights are resident at a time (the pipeline drops a network's memory-mapped
// pages before the next network runs unless DIFFUSE_KEEP_WEIGHTS is set), plus the activations that network
// holds at its widest point. Activations follow what the UNet and VAE allocate (Sources/DiffuseModels/Networks):
// - a resnet block holds at most `liveTensors` feature maps of its widest channel count at once; an up
//   block's input is the concatenation of the previous output and a skip connection;
// - the UNet keeps every down-block output (the skip connections) until the up blocks consume them;
// - attention is flash-style (no score matrix) and GEGLU runs over 2048-token blocks, so neither grows
//   with the square of the image.
// Checked against peak RSS of `diffuse bench` on the SD 1.5-architecture model (BENCHMARKS.md).

import DiffuseModels
import DiffuseCore
import Foundation

public struct MemoryEstimate: Sendable, Equatable {
    /// Weights resident at the peak (the largest network, or all of them with DIFFUSE_KEEP_WEIGHTS).
    public var weightBytes: Int
    /// Activations of the widest network at the peak.
    public var activationBytes: Int
    /// Runtime, code, tokenizer and small buffers: what `diffuse` holds before the first network runs.
    public static let baselineBytes = 100 << 20

    public var peakBytes: Int { weightBytes + activationBytes + Self.baselineBytes }

    /// Feature maps (of the block's widest channel count) a resnet block keeps alive at once: an up block's
    /// resnet holds previous output + concatenation + norm1 (3 × the concatenated width) and conv1, norm2,
    /// shortcut, conv2 at the output width (1 more). The VAE decoder's measured peak at 512 px is 2.8 of
    /// its widest maps, so 4 errs on the safe side there.
    static let liveTensors = 4
    /// Tokens per GEGLU block (DiffuseCore.gegluFeedForward's chunk).
    static let gegluRows = 2048

    /// Peak bytes of generating one `width`×`height` image. `batch` is the UNet batch (2 with classifier-free
    /// guidance); `img2img` adds the VAE encoder's pass over the full-size image.
    public static func estimate(_ ckpt: LoadedCheckpoint, width: Int, height: Int, batch: Int,
                                img2img: Bool = false) -> MemoryEstimate {
        let unetW = bytes(ckpt.unet), vaeW = bytes(ckpt.vae), textW = bytes(ckpt.textEncoder)
        let factor = 1 << max(ckpt.vaeConfig.blockOutChannels.count - 1, 0)
        let (lh, lw) = (height / factor, width / factor)
        let unetA = unetActivations(ckpt.unetConfig, h: lh, w: lw, batch: batch)
        var vaeA = vaeDecoderActivations(ckpt.vaeConfig, h: lh, w: lw)
        if img2img { vaeA = max(vaeA, vaeEncoderActivations(ckpt.vaeConfig, h: height, w: width)) }
        let textA = batch * ckpt.textConfig.maxPositionEmbeddings * ckpt.textConfig.intermediateSize * 4 * liveTensors
        if !Weight.releaseAfterUse {
            return MemoryEstimate(weightBytes: unetW + vaeW + textW, activationBytes: max(unetA, vaeA, textA))
        }
        let stages = [(unetW, unetA), (vaeW, vaeA), (textW, textA)]
        let peak = stages.max { $0.0 + $0.1 < $1.0 + $1.1 }!
        return MemoryEstimate(weightBytes: peak.0, activationBytes: peak.1)
    }

    /// Bytes of float32 activations the UNet holds at its widest point, latent h×w.
    static func unetActivations(_ c: UNetConfig, h: Int, w: Int, batch: Int) -> Int {
        let ch = c.blockOutChannels, n = ch.count, layers = c.layers
        func pixels(_ level: Int) -> Int { ceilHalf(h, level) * ceilHalf(w, level) }
        // Skip connections: conv_in's output, every down resnet's output and every downsampler's output.
        var skips = ch[0] * pixels(0)
        for i in 0..<n {
            skips += layers * ch[i] * pixels(i)
            if i < n - 1 { skips += ch[i] * pixels(i + 1) }
        }
        var widest = 0
        for i in 0..<n {
            let concat = ch[i] + ch[min(i + 1, n - 1)]   // up block input: previous output ++ skip
            widest = max(widest, liveTensors * concat * pixels(i))
        }
        let inner = 4 * (ch.max() ?? 0)   // GEGLU: [rows, 2·inner] projection, [rows, inner] product
        let geglu = min(gegluRows, batch * pixels(0)) * 3 * inner
        return 4 * batch * (skips + widest) + 4 * geglu
    }

    /// The decoder from latents h×w: block i runs at h·2^i with its channels, then upsamples.
    static func vaeDecoderActivations(_ c: VAEConfig, h: Int, w: Int) -> Int {
        let rev = Array(c.blockOutChannels.reversed())
        var widest = 0
        for i in rev.indices {
            let channels = max(rev[i], rev[max(i - 1, 0)])   // the first resnet maps rev[i-1] → rev[i]
            widest = max(widest, liveTensors * channels * (h << i) * (w << i))
        }
        return 4 * widest
    }

    /// The encoder over the full image: block i runs at H/2^i.
    static func vaeEncoderActivations(_ c: VAEConfig, h: Int, w: Int) -> Int {
        let ch = c.blockOutChannels
        var widest = 0
        for i in ch.indices {
            widest = max(widest, liveTensors * ch[i] * ceilHalf(h, i) * ceilHalf(w, i))
        }
        return 4 * widest
    }

    static func ceilHalf(_ v: Int, _ times: Int) -> Int {
        var r = v
        for _ in 0..<times { r = (r + 1) / 2 }
        return r
    }

    static func bytes(_ weights: [String: Weight]) -> Int {
        weights.values.reduce(0) { $0 + $1.count * $1.dtype.byteSize }
    }

    /// MemAvailable from /proc/meminfo (what Linux can hand out without swapping), or nil elsewhere.
    public static func availableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let kib = Int(parts[1]) else { return nil }
            return kib * 1024
        }
        return nil
    }

    /// Throws a one-line error when the estimate exceeds `available` (default: MemAvailable now).
    public static func check(_ ckpt: LoadedCheckpoint, width: Int, height: Int, batch: Int, img2img: Bool = false,
                             available: Int? = availableBytes()) throws {
        guard let available else { return }   // no /proc/meminfo: nothing to compare with
        let e = estimate(ckpt, width: width, height: height, batch: batch, img2img: img2img)
        guard e.peakBytes > available else { return }
        throw GenerationError("\(width)x\(height) at batch \(batch) needs about \(gb(e.peakBytes)) "
            + "(weights \(gb(e.weightBytes)) + activations \(gb(e.activationBytes))) but only \(gb(available)) "
            + "of memory is available; choose a smaller size or free memory")
    }

    static func gb(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }
}
