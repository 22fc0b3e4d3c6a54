// A cheap preview of a latent: one affine map from a latent cell's channels to its 8×8 pixels' mean colour,
// instead of a full VAE decode (12 s at 512 px on a 2-core CPU, more than a UNet step). The same idea as
// A1111's "Approx cheap" previews, but the coefficients are fitted here, per model, against the model's own
// VAE encoder on pictures we draw ourselves: nothing is copied, and it works for any VAE, not only SD 1.5's.
// Lossy by design (a 1/8-size picture, blurred colours); used for previews only, never for the output.

import DiffuseCore
import Foundation

public struct LatentPreview: Sendable, Equatable {
    /// Latent channels C.
    public let channels: Int
    /// [3, C] row-major: RGB in [0, 1] per unit of each scaled latent channel.
    public let weights: [Float]
    /// [3]
    public let bias: [Float]

    public init(channels: Int, weights: [Float], bias: [Float]) {
        self.channels = channels
        self.weights = weights
        self.bias = bias
    }

    /// Latents [1, C, h, w] (scaled, as the pipeline holds them) → image [h, w, 3] in [0, 1], one pixel per cell.
    public func image(_ latents: Tensor) -> Tensor {
        let (c, h, w) = (latents.shape[1], latents.shape[2], latents.shape[3])
        let plane = h * w
        return Tensor(shape: [h, w, 3]) { out in
            latents.data.withUnsafeBufferPointer { z in
                for p in 0..<plane {
                    for k in 0..<3 {
                        var v = bias[k]
                        for j in 0..<min(c, channels) { v += weights[k * channels + j] * z[j * plane + p] }
                        out[p * 3 + k] = min(max(v, 0), 1)
                    }
                }
            }
        }
    }

    /// Least squares over all cells: rgb ≈ W·z + b. `latents` [N, C] and `colours` [N, 3] row-major. Solved by
    /// the normal equations in Double with a tiny ridge (1e-9 of the trace), so that a channel the data never
    /// varies (a degenerate fit) gives a zero weight instead of a singular system.
    public static func fit(latents: [Float], colours: [Float], channels c: Int) -> LatentPreview {
        let n = latents.count / c, d = c + 1   // features: C channels and a constant 1
        var ata = [Double](repeating: 0, count: d * d), atb = [Double](repeating: 0, count: d * 3)
        var row = [Double](repeating: 1, count: d)
        for i in 0..<n {
            for j in 0..<c { row[j] = Double(latents[i * c + j]) }
            for a in 0..<d {
                for b in 0..<d { ata[a * d + b] += row[a] * row[b] }
                for k in 0..<3 { atb[a * 3 + k] += row[a] * Double(colours[i * 3 + k]) }
            }
        }
        let ridge = 1e-9 * max((0..<d).reduce(0) { $0 + ata[$1 * d + $1] }, 1)
        for a in 0..<c { ata[a * d + a] += ridge }
        let x = solve(ata, atb, n: d, columns: 3)   // [d, 3]
        var weights = [Float](repeating: 0, count: 3 * c)
        for k in 0..<3 { for j in 0..<c { weights[k * c + j] = Float(x[j * 3 + k]) } }
        return LatentPreview(channels: c, weights: weights, bias: (0..<3).map { Float(x[c * 3 + $0]) })
    }

    /// Gaussian elimination with partial pivoting of the symmetric positive (semi)definite system A·X = B.
    static func solve(_ a0: [Double], _ b0: [Double], n: Int, columns m: Int) -> [Double] {
        var a = a0, b = b0
        for col in 0..<n {
            let pivot = (col..<n).max { abs(a[$0 * n + col]) < abs(a[$1 * n + col]) }!
            if pivot != col {
                for j in 0..<n { a.swapAt(col * n + j, pivot * n + j) }
                for j in 0..<m { b.swapAt(col * m + j, pivot * m + j) }
            }
            let p = a[col * n + col]
            guard abs(p) > 1e-300 else { continue }   // a dead feature: its weight stays 0
            for r in (col + 1)..<n where a[r * n + col] != 0 {
                let f = a[r * n + col] / p
                for j in col..<n { a[r * n + j] -= f * a[col * n + j] }
                for j in 0..<m { b[r * m + j] -= f * b[col * m + j] }
            }
        }
        var x = [Double](repeating: 0, count: n * m)
        for r in stride(from: n - 1, through: 0, by: -1) {
            let p = a[r * n + r]
            guard abs(p) > 1e-300 else { continue }
            for j in 0..<m {
                var s = b[r * m + j]
                for k in (r + 1)..<n { s -= a[r * n + k] * x[k * m + j] }
                x[r * m + j] = s / p
            }
        }
        return x
    }

    /// Deterministic pictures to fit on: a two-colour gradient with a few flat rectangles and discs of random
    /// colours — saturated and dark/light colours, edges and smooth areas, like the things a preview shows.
    /// Each [1, 3, side, side] in [-1, 1] (the VAE's input range).
    public static func fittingImages(count: Int, side: Int, seed: UInt64) -> [Tensor] {
        var state = seed
        func next() -> Double {   // SplitMix64 → [0, 1)
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        func colour() -> [Double] { (0..<3).map { _ in next() } }
        return (0..<count).map { _ in
            var px = [Double](repeating: 0, count: 3 * side * side)   // [3, side, side] in [0, 1]
            let (c0, c1, vertical) = (colour(), colour(), next() < 0.5)
            for y in 0..<side { for x in 0..<side {
                let t = Double(vertical ? y : x) / Double(max(side - 1, 1))
                for k in 0..<3 { px[(k * side + y) * side + x] = c0[k] * (1 - t) + c1[k] * t }
            } }
            for _ in 0..<(3 + Int(next() * 4)) {
                let col = colour(), disc = next() < 0.5
                let (cx, cy) = (next() * Double(side), next() * Double(side))
                let r = (0.08 + 0.25 * next()) * Double(side)
                for y in 0..<side { for x in 0..<side {
                    let (dx, dy) = (Double(x) + 0.5 - cx, Double(y) + 0.5 - cy)
                    let inside = disc ? dx * dx + dy * dy <= r * r : abs(dx) <= r && abs(dy) <= r
                    if inside { for k in 0..<3 { px[(k * side + y) * side + x] = col[k] } }
                } }
            }
            return Tensor(shape: [1, 3, side, side], data: px.map { Float($0 * 2 - 1) })
        }
    }

    /// Mean colour in [0, 1] of each factor×factor cell of images [1, 3, H, W] in [-1, 1] → [cells, 3].
    static func cellColours(_ image: Tensor, factor f: Int) -> [Float] {
        let (h, w) = (image.shape[2], image.shape[3])
        let (ch, cw) = (h / f, w / f)
        var out = [Float](repeating: 0, count: ch * cw * 3)
        for k in 0..<3 { for y in 0..<h { for x in 0..<w {
            out[((y / f) * cw + x / f) * 3 + k] += image.data[(k * h + y) * w + x]
        } } }
        let n = Float(f * f)
        return out.map { ($0 / n) / 2 + 0.5 }
    }
}

extension StableDiffusionPipeline {
    /// The model's preview map, fitted on first use (≈ 8 VAE encodes of 64×64 pictures for SD) and kept.
    public var latentPreview: LatentPreview {
        previewCache.value { fitLatentPreview() }
    }

    /// Fits the preview map against this model's VAE (the latent mean, scaled as the pipeline holds latents).
    public func fitLatentPreview(images count: Int = 8, seed: UInt64 = 1) -> LatentPreview {
        makeResident(.vae)
        return LatentPreview.fit(encoder: { vae.encode($0).mean }, factor: vaeScaleFactor,
                                 latentScale: latentScale, images: count, seed: seed)
    }
}

extension LatentPreview {
    /// Encodes our pictures (8×8 cells each) with `encoder` ([1, 3, H, W] in [-1, 1] → [1, C, H/f, W/f]
    /// unscaled latents) and regresses each cell's mean colour on its scaled latent channels.
    public static func fit(encoder: (Tensor) -> Tensor, factor: Int, latentScale: Float, images count: Int,
                           seed: UInt64) -> LatentPreview {
        var latents: [Float] = [], colours: [Float] = []
        var channels = 0
        for image in fittingImages(count: count, side: 8 * factor, seed: seed) {
            let mean = encoder(image)   // [1, C, 8, 8]
            let (c, plane) = (mean.shape[1], mean.shape[2] * mean.shape[3])
            channels = c
            for p in 0..<plane { for j in 0..<c { latents.append(mean.data[j * plane + p] * latentScale) } }
            colours += cellColours(image, factor: factor)
        }
        return fit(latents: latents, colours: colours, channels: channels)
    }
}

/// Computes a value once, under a lock (studio jobs may ask for previews from several threads).
final class OnceCache<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?

    func value(_ make: () -> Value) -> Value {
        lock.lock()
        defer { lock.unlock() }
        if let stored { return stored }
        let v = make()
        stored = v
        return v
    }
}
