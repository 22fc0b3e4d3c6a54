import Foundation
import XCTest
@testable import DiffuseTraining

/// A scratch folder removed by the caller.
func scratchFolder(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-train-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The generated shapes dataset (the real one, at a small size) in `url`, opened for training.
func shapesDataset(_ url: URL, count: Int, size: Int, seed: UInt64 = 3) throws -> LoadedDataset {
    try ShapesDataset.write(to: url, options: ShapesDatasetOptions(count: count, size: size, seed: seed))
    return try LoadedDataset(DatasetFolder(url: url))
}

/// A model small enough for CI: 16×16 images, two levels.
func tinyTrainConfig(steps: Int) -> TrainConfig {
    var c = TrainConfig()
    c.model.imageSize = 16; c.model.patch = 2; c.model.channels = [16, 32]; c.model.attention = [false, true]
    c.model.groups = 4; c.model.heads = 2; c.model.textDim = 16; c.model.textLayers = 1; c.model.textHeads = 2
    c.model.maxTokens = 8
    c.steps = steps; c.batchSize = 8; c.learningRate = 3e-3; c.warmupSteps = 3; c.emaDecay = 0.99
    c.logEvery = 0; c.checkpointEvery = 0; c.seed = 5
    return c
}

/// A shapes dataset of `count` 16×16 pictures in `folder`/data, a tiny model trained `steps` steps on it, and
/// that model exported in float32 to `folder`/model.safetensors.
func exportedModel(in folder: URL, count: Int = 6, steps: Int = 3) throws -> (LoadedDataset, Trainer, URL) {
    let data = try shapesDataset(folder.appendingPathComponent("data"), count: count, size: 16)
    let trainer = try Trainer(config: tinyTrainConfig(steps: steps), dataset: data)
    try trainer.run(data)
    let url = folder.appendingPathComponent("model.safetensors")
    try BuiltinModel.export(trainer, to: url, dtype: .f32)
    return (data, trainer, url)
}

/// Asserts that `body` throws an error whose description contains `text`.
func assertError<T>(_ body: @autoclosure () throws -> T, contains text: String, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("no error", line: line)
    } catch {
        XCTAssertTrue("\(error)".contains(text), "\(error)", line: line)
    }
}
