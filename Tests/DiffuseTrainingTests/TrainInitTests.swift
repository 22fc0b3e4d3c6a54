import DiffuseModels
import Foundation
import XCTest
@testable import DiffuseTraining

/// `diffuse train --init`: a new run whose weights and EMA start as the given model's, with the earlier
/// training time carried over and the source named in the metadata.
final class TrainInitTests: XCTestCase {
    func testNewRunStartsFromTheModelsWeights() throws {
        let folder = try scratchFolder("init")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (data, first, url) = try exportedModel(in: folder)
        let second = try Trainer(config: tinyTrainConfig(steps: 5), dataset: data)
        XCTAssertNotEqual(second.model.parameters.first!.value, first.model.parameters.first!.value, "a fresh init differs")
        try TrainingCheckpoint.initialise(second, from: url)
        for p in second.model.parameters {
            XCTAssertEqual(p.value.data, first.ema.shadow[p.name]!, "\(p.name): the exported EMA weights")
            XCTAssertEqual(second.ema.shadow[p.name]!, p.value.data, "\(p.name): the EMA starts from them")
        }
        XCTAssertEqual(second.step, 0)
        XCTAssertEqual(second.optimizer.step, 0, "fresh optimiser")
        XCTAssertEqual(second.trainingSeconds, Double(String(format: "%.0f", first.trainingSeconds))!, accuracy: 1e-9)
        let record = try XCTUnwrap(second.extraMetadata[TrainingCheckpoint.initialisedFromKey])
        XCTAssertTrue(record.contains(try sha256Hex(ofFileAt: url)), record)
        XCTAssertTrue(record.contains("\"steps\":3"), record)
        try second.run(data)
        XCTAssertEqual(second.step, 5)
        XCTAssertGreaterThanOrEqual(second.trainingSeconds, first.trainingSeconds.rounded() - 1e-9)
        // The record travels into checkpoints and exports.
        let ckpt = folder.appendingPathComponent("ckpt.safetensors")
        try TrainingCheckpoint.save(second, to: ckpt)
        XCTAssertEqual(try TrainingCheckpoint.load(ckpt).extraMetadata[TrainingCheckpoint.initialisedFromKey], record)
    }

    /// A run that adds a transformer level, a ResBlock, the text's attention pooling and the position queries starts as the identity there: the same prediction
    /// as the source.
    func testAddedBlocksStartAsTheIdentity() throws {
        let folder = try scratchFolder("init-grow")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (data, first, url) = try exportedModel(in: folder)
        var grown = tinyTrainConfig(steps: 5)
        grown.model.attention = [true, true]
        grown.model.layersPerBlock = [2, 1]
        grown.model.textPoolQueries = 2
        grown.model.textSpatialMap = (grown.model.imageSize / grown.model.patch) >> 1
        grown.model.textCellMap = grown.model.textSpatialMap
        grown.model.vocabulary = first.config.model.vocabulary
        let second = try Trainer(config: grown, dataset: data)
        let added = try TrainingCheckpoint.initialise(second, from: url)
        XCTAssertEqual(added, ["text_attn_pool", "text_spatial_map", "text_cell_map", "down_blocks.0.attentions.0", "up_blocks.1.attentions.0",
                               "down_blocks.0.resnets.1", "up_blocks.1.resnets.1"])
        let source = try BuiltinModel(contentsOf: url)
        let names = Set(source.model.parameters.map(\.name))
        XCTAssertGreaterThan(second.model.parameters.count, names.count)
        var rng = TrainingRNG(seed: 11)
        let x = rng.normals([2, 3, 16, 16])
        let captions = ["a red circle", "two small blue squares"]
        XCTAssertEqual(second.model.forward(x, timesteps: [999, 400], captions: captions),
                       source.model.forward(x, timesteps: [999, 400], captions: captions), "identity at the new level")
        XCTAssertTrue(second.extraMetadata[TrainingCheckpoint.initialisedFromKey]!.contains("down_blocks.0.attentions.0"))
        try second.run(data)
        for name in ["down_blocks.0.attentions.0.proj_out.weight", "up_blocks.1.resnets.1.conv2.weight",
                     "text_attn_pool.proj_out.weight", "text_spatial_map.proj_out.weight", "text_cell_map.weight"] {
            let p = try XCTUnwrap(second.model.parameters.first { $0.name == name })
            XCTAssertFalse(p.value.data.allSatisfy { $0 == 0 }, "training moves \(name)")
        }
        // Dropping a block is not a widening.
        var narrow = tinyTrainConfig(steps: 1)
        narrow.model.attention = [false, false]
        narrow.model.vocabulary = first.config.model.vocabulary
        assertError(try TrainingCheckpoint.initialise(Trainer(config: narrow, dataset: data), from: url),
                    contains: "its model section (architecture, vocabulary) differs")
        let grownURL = folder.appendingPathComponent("grown.safetensors")
        try BuiltinModel.export(second, to: grownURL, dtype: .f32)
        var fewer = grown
        fewer.model.layersPerBlock = [1, 1]
        assertError(try TrainingCheckpoint.initialise(Trainer(config: fewer, dataset: data), from: grownURL),
                    contains: "its model section (architecture, vocabulary) differs")
        var otherMap = grown
        otherMap.model.textSpatialMap = grown.model.imageSize / grown.model.patch
        assertError(try TrainingCheckpoint.initialise(Trainer(config: otherMap, dataset: data), from: grownURL),
                    contains: "its model section (architecture, vocabulary) differs")
        var otherPool = grown
        otherPool.model.textPoolQueries = 3
        assertError(try TrainingCheckpoint.initialise(Trainer(config: otherPool, dataset: data), from: grownURL),
                    contains: "its model section (architecture, vocabulary) differs")
    }

    func testRefusesAnotherModelOrAnotherDataset() throws {
        let folder = try scratchFolder("init-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try shapesDataset(folder.appendingPathComponent("data"), count: 6, size: 16)
        let first = try Trainer(config: tinyTrainConfig(steps: 1), dataset: data)
        let url = folder.appendingPathComponent("model.safetensors")
        try BuiltinModel.export(first, to: url)
        var wide = tinyTrainConfig(steps: 1)
        wide.model.channels = wide.model.channels.map { $0 * 2 }
        assertError(try TrainingCheckpoint.initialise(Trainer(config: wide, dataset: data), from: url),
                    contains: "its model section (architecture, vocabulary) differs")
        // Another dataset (same vocabulary, so only the data differs).
        let other = try shapesDataset(folder.appendingPathComponent("other"), count: 6, size: 16, seed: 99)
        var same = tinyTrainConfig(steps: 1)
        same.model.vocabulary = first.config.model.vocabulary
        assertError(try TrainingCheckpoint.initialise(Trainer(config: same, dataset: other), from: url),
                    contains: "continues on the same dataset only")
    }
}
