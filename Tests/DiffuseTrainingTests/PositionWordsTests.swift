import DiffuseCore
import Foundation
import XCTest
@testable import DiffuseTraining

/// The smallest case of "the caption says where": 16×16 pictures of a red 4×4 square in the left or the right
/// quarter, captioned "a red square at the left|right". The shipped model ignores words about place
/// (MODEL_CARD, stop 19); this checks that the trainer and the architecture's text paths can learn them at
/// all: after 400 steps, swapping left and right in held-out captions must raise the loss at the noise levels
/// where only the caption can say where (t = 899, 999). Measured 2026-11-29: +0.05 at both (a model that does
/// not read the words: ±0.0003).
final class PositionWordsTests: XCTestCase {
    private struct Squares: TrainingDataset {
        let sides: [String]
        let images: [[UInt8]]
        var count: Int { images.count }
        var imageSize: Int { 16 }
        var captions: [String] { sides.map { "a red square at the \($0)" } }
        func pixels(at index: Int) -> [UInt8] { images[index] }

        init(count: Int, seed: UInt64) {
            var rng = TrainingRNG(seed: seed)
            var sides: [String] = [], images: [[UInt8]] = []
            for _ in 0..<count {
                let left = rng.nextInt(2) == 0
                let x0 = left ? rng.nextInt(4) : 9 + rng.nextInt(4), y0 = rng.nextInt(13)
                var px = [UInt8](repeating: 255, count: 16 * 16 * 3)
                for y in y0..<y0 + 4 { for x in x0..<x0 + 4 { px[(y * 16 + x) * 3 + 1] = 20; px[(y * 16 + x) * 3 + 2] = 20 } }
                sides.append(left ? "left" : "right"); images.append(px)
            }
            self.sides = sides; self.images = images
        }
    }

    func testPositionWordsAreLearnable() throws {
        var c = TrainConfig()
        c.model.imageSize = 16; c.model.patch = 2; c.model.channels = [16, 32]; c.model.attention = [false, true]
        c.model.pooledText = true; c.model.coordinates = true
        c.prediction = .vPrediction; c.rescaleBetasZeroSnr = true; c.timestepSpacing = "trailing"
        c.steps = 400; c.batchSize = 16; c.learningRate = 1e-3; c.warmupSteps = 50; c.logEvery = 0; c.checkpointEvery = 0
        let trainer = try Trainer(config: c, dataset: Squares(count: 2000, seed: 1))
        try trainer.run(Squares(count: 2000, seed: 1))
        let folder = try scratchFolder("position-words")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        try BuiltinModel.export(trainer, to: url, dtype: .f32)
        let m = try BuiltinModel(contentsOf: url)
        let heldOut = Squares(count: 128, seed: 2)
        let swaps = ["left": "right", "right": "left"]
        let plain = try HeldOutLoss.measure(m, dataset: heldOut, pictures: Array(0..<128), timesteps: [899, 999])
        let swapped = try HeldOutLoss.measure(m, dataset: heldOut, pictures: Array(0..<128), timesteps: [899, 999]) {
            HeldOutLoss.swappingWords(heldOut.captions[$0], swaps)
        }
        for k in 0..<2 {
            XCTAssertGreaterThan(swapped[k] - plain[k], 0.01, "t = \([899, 999][k]): \(plain[k]) → \(swapped[k])")
        }
    }
}
