import DiffuseModels
import Foundation
import XCTest
@testable import DiffuseTraining

final class TrainSamplingTests: XCTestCase {
    func testExportLoadAndGenerate() throws {
        let folder = try scratchFolder("export")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try shapesDataset(folder.appendingPathComponent("data"), count: 6, size: 16)
        let trainer = try Trainer(config: tinyTrainConfig(steps: 3), dataset: data)
        try trainer.run(data)
        let url = folder.appendingPathComponent("model.safetensors")
        try BuiltinModel.export(trainer, to: url, dtype: .f16)
        let loaded = try BuiltinModel(contentsOf: url)
        XCTAssertEqual(loaded.config, trainer.config)
        XCTAssertEqual(loaded.metadata["diffuse.training_steps"], "3")
        for p in loaded.model.parameters {
            let ema = Tensor(shape: p.value.shape, data: trainer.ema.shadow[p.name]!)
            // float16 storage: relative rounding 2^-11 of values ≲ 2 in size.
            assertClose(p.value, ema, atol: 1e-3, "\(p.name) exported as EMA in f16")
        }
        var calls = 0
        let image = loaded.generate(prompt: "a red circle", seed: 1, steps: 4, guidance: 3) { _ in calls += 1 }
        XCTAssertEqual(image.shape, [1, 3, 16, 16])
        XCTAssertEqual(calls, 4)
        XCTAssertTrue(image.data.allSatisfy { $0.isFinite })
        XCTAssertEqual(loaded.generate(prompt: "a red circle", seed: 1, steps: 4, guidance: 3), image, "same seed, same image")
        // A training checkpoint loads too (its EMA weights).
        let ckpt = folder.appendingPathComponent("ckpt.safetensors")
        try TrainingCheckpoint.save(trainer, to: ckpt)
        XCTAssertEqual(try BuiltinModel(contentsOf: ckpt).model.parameters.first?.value.data,
                       trainer.ema.shadow[trainer.model.parameters.first!.name])
        XCTAssertThrowsError(try BuiltinModel(contentsOf: fixturesRoot.appendingPathComponent("sd1.safetensors")))
    }

    /// Image-to-image (StableDiffusionImg2ImgPipeline with DDIM, in pixel space): the last int(steps × strength)
    /// timesteps; strength 1 on a zero-terminal-SNR schedule starts from pure noise (√ᾱ_999 = 0), so it draws
    /// exactly the text-to-image picture; a small strength keeps the image close to the init image.
    func testImageToImage() throws {
        let model = try BuiltinModel(contentsOf: XCTUnwrap(BuiltinModel.bundledURL))
        XCTAssertTrue(model.config.rescaleBetasZeroSnr)
        let all = model.schedule.ddimTimesteps(steps: 30, spacing: model.config.timestepSpacing)
        XCTAssertEqual(model.img2imgTimesteps(steps: 30, strength: 0.5), Array(all[15...]))
        XCTAssertEqual(model.img2imgTimesteps(steps: 30, strength: 1), all)
        XCTAssertEqual(model.img2imgTimesteps(steps: 10, strength: 0.05), [])
        let prompt = "a red circle on a blue background"
        let drawn = model.generate(prompt: prompt, seed: 3, steps: 6, eta: 1)
        XCTAssertEqual(model.generate(prompt: prompt, seed: 3, steps: 6, eta: 1, initImage: drawn, strength: 1), drawn)
        var calls = 0
        func meanDelta(_ strength: Float) -> Float {
            let redrawn = model.generate(prompt: "a green star", seed: 4, steps: 20, eta: 1, initImage: drawn,
                                         strength: strength) { _ in calls += 1 }
            return zip(redrawn.data, drawn.data).map { abs($0 - $1) }.reduce(0, +) / Float(redrawn.count)
        }
        // Two DDIM steps from t = 99 (noise std √(1 − ᾱ) ≈ 0.26 there) move the picture less than twelve steps
        // from t = 599 (pixels in [−1, 1]; measured mean |Δ| 0.058 against 0.116).
        let (low, high) = (meanDelta(0.1), meanDelta(0.6))
        print("img2img mean |Δ|: strength 0.1 \(low), 0.6 \(high)")
        XCTAssertEqual(calls, 2 + 12)
        XCTAssertGreaterThan(low, 0)
        XCTAssertLessThan(low, 0.1)
        XCTAssertLessThan(low, 0.75 * high)
    }
}
