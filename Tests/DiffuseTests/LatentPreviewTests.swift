import XCTest
import DiffuseCore
@testable import Diffuse

final class LatentPreviewTests: XCTestCase {
    /// Exact data from a known affine map: the normal equations must give it back. 1e-4: the ridge (1e-9 of
    /// the trace) and Float storage of the inputs perturb the solution by far less.
    func testFitRecoversAnAffineMap() {
        let c = 4
        let w: [Float] = [0.3, -0.2, 0.1, 0.05, -0.4, 0.25, 0.0, 0.15, 0.12, 0.08, -0.3, 0.2]   // [3, 4]
        let b: [Float] = [0.5, 0.45, 0.4]
        var seed: UInt64 = 42
        func uniform() -> Float {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(seed >> 40) / Float(1 << 24) * 4 - 2
        }
        var z: [Float] = [], rgb: [Float] = []
        for _ in 0..<300 {
            let cell = (0..<c).map { _ in uniform() }
            z += cell
            for k in 0..<3 { rgb.append(b[k] + (0..<c).reduce(0) { $0 + w[k * c + $1] * cell[$1] }) }
        }
        let fit = LatentPreview.fit(latents: z, colours: rgb, channels: c)
        for i in 0..<12 { XCTAssertEqual(fit.weights[i], w[i], accuracy: 1e-4) }
        for k in 0..<3 { XCTAssertEqual(fit.bias[k], b[k], accuracy: 1e-4) }
    }

    /// Layout [h, w, 3] with one pixel per latent cell, values clamped to [0, 1].
    func testImageLayoutAndClamp() {
        let map = LatentPreview(channels: 2, weights: [1, 0, 0, 1, 0.5, 0.5], bias: [0, 0, 0])
        // [1, 2, 1, 2]: cell 0 = (0.25, 2), cell 1 = (-1, 0.5)
        let img = map.image(Tensor(shape: [1, 2, 1, 2], data: [0.25, -1, 2, 0.5]))
        XCTAssertEqual(img.shape, [1, 2, 3])
        XCTAssertEqual(img.data, [0.25, 1, 1, 0, 0.5, 0])
    }

    /// End to end with an encoder whose answer is known: each latent cell holds its pixels' mean (r, g, b) and
    /// r + g (a channel the others determine, so the system is singular but for the ridge). The fitted map must
    /// then give the held-out pictures' cell colours back: PSNR ≥ 50 dB (what is left is Float rounding and
    /// the ridge); a mix-up of cells, channels or the latent scale would fall far below.
    func testFitThroughAKnownEncoderGivesColoursBack() {
        let f = 4
        func encoder(_ image: Tensor) -> Tensor {   // [1, 3, H, W] → [1, 4, H/f, W/f]
            let cells = LatentPreview.cellColours(image, factor: f)   // [cells, 3] in [0, 1]
            let (h, w) = (image.shape[2] / f, image.shape[3] / f)
            return Tensor(shape: [1, 4, h, w]) { out in
                for p in 0..<h * w {
                    for k in 0..<3 { out[k * h * w + p] = cells[p * 3 + k] * 2 - 1 }
                    out[3 * h * w + p] = cells[p * 3] + cells[p * 3 + 1]
                }
            }
        }
        let map = LatentPreview.fit(encoder: encoder, factor: f, latentScale: 0.18215, images: 8, seed: 1)
        var err: Float = 0, n: Float = 0
        for image in LatentPreview.fittingImages(count: 4, side: 32, seed: 2) {
            let z = encoder(image)
            let preview = map.image(Tensor(shape: z.shape, data: z.data.map { $0 * 0.18215 }))
            let target = LatentPreview.cellColours(image, factor: f)
            for i in 0..<target.count { err += (preview.data[i] - target[i]) * (preview.data[i] - target[i]); n += 1 }
        }
        XCTAssertGreaterThan(10 * log10(n / err), 50)
    }

    /// On sd1's random-weight VAE: the cached map is the default fit, and on its own fitting pictures the map
    /// is no worse than the best constant colour (least squares includes the constant). Held-out figures are
    /// printed; a random VAE's latents carry little colour (measured 11.7 dB for both), so only a trained VAE
    /// can show what the preview is worth.
    func testSd1FitAndCache() throws {
        let pipe = try PipelineParityTests.pipeline("sd1")
        let map = pipe.fitLatentPreview(images: 8, seed: 1)
        XCTAssertEqual(pipe.latentPreview, map, "the cached map is the default fit")
        let f = pipe.vaeScaleFactor
        func errors(seed: UInt64, mean: [Float]) -> (map: Float, constant: Float, n: Float) {
            var e = (map: Float(0), constant: Float(0), n: Float(0))
            for image in LatentPreview.fittingImages(count: 8, side: 8 * f, seed: seed) {
                let target = LatentPreview.cellColours(image, factor: f)
                let z = pipe.vae.encode(image).mean
                let preview = map.image(Tensor(shape: z.shape, data: z.data.map { $0 * pipe.latentScale }))
                for i in 0..<target.count {
                    e.map += (preview.data[i] - target[i]) * (preview.data[i] - target[i])
                    e.constant += (mean[i % 3] - target[i]) * (mean[i % 3] - target[i])
                    e.n += 1
                }
            }
            return e
        }
        var mean = [Float](repeating: 0, count: 3), cells: Float = 0
        for image in LatentPreview.fittingImages(count: 8, side: 8 * f, seed: 1) {
            let c = LatentPreview.cellColours(image, factor: f)
            for i in 0..<c.count { mean[i % 3] += c[i] }
            cells += Float(c.count / 3)
        }
        mean = mean.map { $0 / cells }
        let inSample = errors(seed: 1, mean: mean), heldOut = errors(seed: 2, mean: mean)
        func psnr(_ e: Float, _ n: Float) -> Float { 10 * log10(n / e) }
        print("sd1 preview PSNR vs cell colours: fitting set \(psnr(inSample.map, inSample.n)) dB (constant \(psnr(inSample.constant, inSample.n))), held out \(psnr(heldOut.map, heldOut.n)) dB (constant \(psnr(heldOut.constant, heldOut.n)))")
        // 1e-4 relative: clamping to [0, 1] can only lower the error, Float sums differ in the last bits.
        XCTAssertLessThanOrEqual(inSample.map, inSample.constant * (1 + 1e-4))
    }
}
