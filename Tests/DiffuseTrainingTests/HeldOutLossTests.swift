import DiffuseCore
import Foundation
import XCTest
@testable import DiffuseTraining

final class HeldOutLossTests: XCTestCase {
    /// An untrained model predicts exactly 0 (its output convolution starts zeroed), so its loss is the mean
    /// square of the target: checks the pictures, the seeded noise per picture and the target, at two timesteps.
    func testUntrainedModelLossIsTheTargetsMeanSquare() throws {
        let folder = try scratchFolder("heldout")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try shapesDataset(folder.appendingPathComponent("data"), count: 5, size: 16)
        var config = tinyTrainConfig(steps: 1)
        config.prediction = .vPrediction
        let trainer = try Trainer(config: config, dataset: data)
        let url = folder.appendingPathComponent("model.safetensors")
        try BuiltinModel.export(trainer, to: url, dtype: .f32)
        let m = try BuiltinModel(contentsOf: url)
        let ts = [10, 700]
        let losses = try HeldOutLoss.measure(m, dataset: data, count: 5, timesteps: ts, seed: 9, batch: 2)
        for (k, t) in ts.enumerated() {
            var sum = 0.0
            for i in 0..<5 {
                var rng = TrainingRNG(seed: 9 &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
                let x0 = data.batch([i]), noise = rng.normals(x0.shape)
                let ac = m.schedule.alphasCumprod[t]
                for j in 0..<x0.count {
                    let v = Double(ac.squareRoot() * noise.data[j] - (1 - ac).squareRoot() * x0.data[j])
                    sum += v * v / Double(x0.count)
                }
            }
            XCTAssertEqual(Double(losses[k]), sum / 5, accuracy: 1e-5 * sum, "timestep \(t)")
        }
        // The figure does not depend on the batch size (each picture's noise is its own).
        let whole = try HeldOutLoss.measure(m, dataset: data, count: 5, timesteps: ts, seed: 9, batch: 16)
        for (a, b) in zip(losses, whole) { XCTAssertEqual(a, b, accuracy: 1e-6 * a) }
        XCTAssertNotEqual(try HeldOutLoss.measure(m, dataset: data, count: 5, timesteps: ts, seed: 10), whole)
    }

    /// `.neither` is the prediction for empty captions; `.pooled` and `.crossAttention` give the caption to one
    /// path only, so they differ from both; a model without the pooled path refuses them.
    func testCaptionRoutes() throws {
        let folder = try scratchFolder("heldout-routes")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try shapesDataset(folder.appendingPathComponent("data"), count: 4, size: 16)
        var config = tinyTrainConfig(steps: 4)
        config.model.pooledText = true
        let trainer = try Trainer(config: config, dataset: data)
        try trainer.run(data)
        let url = folder.appendingPathComponent("model.safetensors")
        try BuiltinModel.export(trainer, to: url, dtype: .f32)
        let m = try BuiltinModel(contentsOf: url)
        func loss(_ d: TrainingDataset, _ route: CaptionRoute) throws -> [Float] {
            try HeldOutLoss.measure(m, dataset: d, count: 4, timesteps: [100, 900], caption: route)
        }
        let both = try loss(data, .both), neither = try loss(data, .neither)
        XCTAssertEqual(both, try HeldOutLoss.measure(m, dataset: data, count: 4, timesteps: [100, 900]))
        XCTAssertEqual(neither, try loss(BlankCaptions(base: data), .both))
        XCTAssertNotEqual(both, neither)
        for route in [CaptionRoute.pooled, .crossAttention] {
            let l = try loss(data, route)
            XCTAssertNotEqual(l, both, route.rawValue)
            XCTAssertNotEqual(l, neither, route.rawValue)
        }
        let plainTrainer = try Trainer(config: tinyTrainConfig(steps: 1), dataset: data)
        let plainURL = folder.appendingPathComponent("plain.safetensors")
        try BuiltinModel.export(plainTrainer, to: plainURL)
        assertError(try HeldOutLoss.measure(try BuiltinModel(contentsOf: plainURL), dataset: data, count: 1, caption: .pooled),
                    contains: "no pooled text path")
    }

    func testSwappingWords() {
        let swaps = HeldOutLoss.parseSwaps("left:right, Top:bottom")
        XCTAssertEqual(swaps, ["left": "right", "right": "left", "top": "bottom", "bottom": "top"])
        XCTAssertEqual(HeldOutLoss.swappingWords("A red circle at the top-left, left of a star", swaps!),
                       "a red circle at the bottom right right of a star")
        for bad in ["", "left", "left:left", "left:right,right:top", "left:", ":right", "a:b:c"] {
            XCTAssertNil(HeldOutLoss.parseSwaps(bad), bad)
        }
    }

    /// Measured over chosen pictures with their own captions, the figure is the one of those pictures alone;
    /// with other text it changes (the model reads its caption).
    func testPicturesAndText() throws {
        let folder = try scratchFolder("heldout-text")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (data, _, url) = try exportedModel(in: folder, count: 4, steps: 4)
        let m = try BuiltinModel(contentsOf: url)
        let one = try HeldOutLoss.measure(m, dataset: data, pictures: [2], timesteps: [100, 900])
        let own = try HeldOutLoss.measure(m, dataset: data, pictures: [2], timesteps: [100, 900]) { data.captions[$0] }
        XCTAssertEqual(one, own)
        let other = try HeldOutLoss.measure(m, dataset: data, pictures: [2], timesteps: [100, 900]) { _ in "two big stars" }
        XCTAssertNotEqual(one, other)
        assertError(try HeldOutLoss.measure(m, dataset: data, pictures: [], timesteps: [100]), contains: "no pictures")
    }

    func testRejectsBadRequests() throws {
        let folder = try scratchFolder("heldout-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try shapesDataset(folder.appendingPathComponent("data"), count: 3, size: 16)
        let trainer = try Trainer(config: tinyTrainConfig(steps: 1), dataset: data)
        let url = folder.appendingPathComponent("model.safetensors")
        try BuiltinModel.export(trainer, to: url)
        let m = try BuiltinModel(contentsOf: url)
        let other = try shapesDataset(folder.appendingPathComponent("other"), count: 2, size: 32)
        assertError(try HeldOutLoss.measure(m, dataset: other, count: 2), contains: "32×32")
        assertError(try HeldOutLoss.measure(m, dataset: data, count: 4), contains: "at most")
        assertError(try HeldOutLoss.measure(m, dataset: data, count: 2, timesteps: [1000]), contains: "outside")
    }
}

/// A dataset's pictures with every caption empty.
private struct BlankCaptions: TrainingDataset {
    let base: LoadedDataset
    var count: Int { base.count }
    var imageSize: Int { base.imageSize }
    var captions: [String] { Array(repeating: "", count: base.count) }
    func pixels(at index: Int) -> [UInt8] { base.pixels(at: index) }
}
