import DiffuseCore
import DiffuseModels
import Foundation
import XCTest
@testable import DiffuseTraining

final class TrainLoopTests: XCTestCase {
    var folder: URL!
    var data: LoadedDataset!

    override func setUpWithError() throws {
        folder = try scratchFolder("loop")
        data = try shapesDataset(folder.appendingPathComponent("data"), count: 24, size: 16)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    /// 80 steps on 24 pictures (≈3 s): the ε-prediction loss starts near 1 (the zero-initialised output
    /// predicts no noise) and must fall clearly. Per-step losses are noisy (random timesteps), so windows of
    /// 10 are compared; a 25% drop is well outside that noise yet reliably reached (measured 0.96 → 0.55).
    func testShortRunLowersTheLoss() throws {
        let trainer = try Trainer(config: tinyTrainConfig(steps: 80), dataset: data)
        let start = Date()
        var lines: [String] = []
        try trainer.run(data, onProgress: { lines.append($0.line) })
        let first = trainer.losses.prefix(10).reduce(0, +) / 10, last = trainer.losses.suffix(10).reduce(0, +) / 10
        print(String(format: "loss %.4f → %.4f in %.1f s", first, last, Date().timeIntervalSince(start)))
        XCTAssertEqual(trainer.losses.count, 80)
        XCTAssertLessThan(last, 0.75 * first, "loss should fall: first 10 steps \(first), last 10 \(last)")
        XCTAssertTrue(trainer.losses.allSatisfy { $0.isFinite })
    }

    func testResumeContinuesBitForBit() throws {
        var config = tinyTrainConfig(steps: 6)
        config.gradientAccumulation = 2
        config.batchSize = 2
        let straight = try Trainer(config: config, dataset: data)
        try straight.run(data)
        let first = try Trainer(config: config, dataset: data)
        try first.run(data, until: 3)
        let ckpt = folder.appendingPathComponent("half.safetensors")
        try TrainingCheckpoint.save(first, to: ckpt)
        let resumed = try TrainingCheckpoint.load(ckpt)
        XCTAssertEqual(resumed.step, 3)
        XCTAssertEqual(resumed.config, first.config)
        try resumed.run(data)
        XCTAssertEqual(resumed.step, 6)
        for (a, b) in zip(straight.model.parameters, resumed.model.parameters) {
            XCTAssertEqual(a.value, b.value, "\(a.name): weights differ after resume")
            XCTAssertEqual(straight.ema.shadow[a.name], resumed.ema.shadow[b.name], "\(a.name): EMA differs")
            XCTAssertEqual(straight.optimizer.m[a.name], resumed.optimizer.m[b.name], "\(a.name): Adam m differs")
        }
        XCTAssertEqual(straight.losses, resumed.losses)
        XCTAssertEqual(straight.rng, resumed.rng)
    }

    /// Two threads train two copies on halves of the batch (DataParallel.swift); three threads split a batch
    /// of 8 as 3 + 3 + 2. The gradients (Adam's first moment after one step, (1 − β1)·g) and the loss must
    /// equal one thread's whole-batch ones up to float32 summation order: 1e-4 of the largest |m| (the
    /// layer-split path agrees with itself across thread counts to the same order).
    func testDataParallelStepMatchesOneThread() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        func oneStep(threads: Int) throws -> Trainer {
            Parallel.threads = threads
            let t = try Trainer(config: tinyTrainConfig(steps: 1), dataset: data)
            t.trainStep(data)
            return t
        }
        let single = try oneStep(threads: 1)
        for threads in [2, 3] {
            let parallel = try oneStep(threads: threads)
            XCTAssertEqual(parallel.replicas.count, threads - 1)
            XCTAssertEqual(parallel.losses[0], single.losses[0], accuracy: 1e-5 * single.losses[0])
            let scaleM = single.optimizer.m.values.flatMap { $0 }.map(abs).max()!
            for p in single.model.parameters {
                let a = single.optimizer.m[p.name]!, b = parallel.optimizer.m[p.name]!
                let worst = zip(a, b).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, 1e-4 * scaleM, "\(p.name), \(threads) threads")
            }
        }
    }

    func testCheckpointKeepsConfigAndRefusesOtherArchitectures() throws {
        let trainer = try Trainer(config: tinyTrainConfig(steps: 1), dataset: data)
        trainer.trainStep(data)
        let ckpt = folder.appendingPathComponent("one.safetensors")
        try TrainingCheckpoint.save(trainer, to: ckpt)
        let file = try SafeTensorsFile(url: ckpt)
        let saved = try JSONDecoder().decode(TrainConfig.self, from: Data(file.metadata[TrainingCheckpoint.configKey]!.utf8))
        XCTAssertEqual(saved, trainer.config, "the config JSON in __metadata__ round-trips")
        XCTAssertEqual(saved.model.vocabulary, WordTokenizer.vocabulary(of: data.captions))
        XCTAssertTrue(saved.model.vocabulary.contains("background"), "built from the captions: \(saved.model.vocabulary)")
        XCTAssertEqual(file.metadata[ProvenanceKey.manifestSHA256], data.provenance[ProvenanceKey.manifestSHA256],
                       "the dataset's provenance travels in the checkpoint")
        XCTAssertNotNil(file.metadata[ModelInfo.architectureKey])
        var other = trainer.config
        other.model.channels = [16, 48]
        XCTAssertThrowsError(try TrainingCheckpoint.load(ckpt, config: other)) { error in
            XCTAssertTrue("\(error)".contains("another architecture") || "\(error)".contains("differs"), "\(error)")
        }
        let foreign = fixturesRoot.appendingPathComponent("sd1.safetensors")
        XCTAssertThrowsError(try TrainingCheckpoint.load(foreign)) { error in
            XCTAssertTrue("\(error)".contains("not a diffuse training checkpoint"), "\(error)")
        }
    }

    func testProgressLineAndLossCurve() throws {
        let p = TrainingProgress(step: 120, totalSteps: 1000, loss: 0.04123, samplesPerSecond: 7.94, etaSeconds: 1112)
        XCTAssertEqual(p.line, "step 120/1000  loss 0.0412  7.9 samples/s  ETA 18m 32s")
        let image = LossCurve.render([1, 0.8, 0.5, 0.4, 0.3, 0.35, 0.2])
        XCTAssertEqual(image.width, 640)
        XCTAssertTrue(image.pixels.contains(80), "the moving average is drawn in blue (30, 80, 200)")
    }

    func testCaptionDropoutRate() {
        var rng = TrainingRNG(seed: 1)
        let out = Trainer.dropCaptions(Array(repeating: "a red circle", count: 10000), probability: 0.1, rng: &rng)
        let dropped = out.filter(\.isEmpty).count
        // Binomial(10000, 0.1): σ = 30; ±150 is 5σ.
        XCTAssertEqual(Double(dropped), 1000, accuracy: 150)
    }
}
