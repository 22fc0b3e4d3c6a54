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
}
