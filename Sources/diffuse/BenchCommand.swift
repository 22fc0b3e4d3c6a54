// `diffuse bench`: writes an SD 1.5-architecture model with random fp16 weights (no download) and times
// its components; scripts/bench/compare.sh runs the same on diffusers and prints the ratios.

import ArgumentParser
import Diffuse
import DiffuseModels
import DiffuseTraining
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark: time text encoder, UNet, VAE and whole generations (not part of CI).",
        discussion: "First `diffuse bench --write-model DIR` (about 2 GB, SD 1.5's architecture, random fp16 weights), then `diffuse bench -m DIR`. `diffuse bench --train N [--train-config FILE]` times N training steps of the built-in model (default: docs/builtin-train-config.json's settings) on generated in-memory data.")

    @Option(parsing: .unconditional, help: "Time this many training steps of the built-in model instead (no model folder needed).")
    var train: Int?

    @Option(help: "Training config (JSON) for --train; default: batch 16, v-prediction, pooled text (the built-in run).")
    var trainConfig: String?

    @Option(name: .long, help: "Write the SD 1.5-architecture random-weight model to this folder and exit.")
    var writeModel: String?

    @Option(name: [.short, .long], help: "The model folder to time.")
    var model: String?

    @Option(parsing: .unconditional, help: "Image side in pixels (multiple of 8).")
    var size: Int = 512

    @Option(parsing: .unconditional, help: "UNet / text-encoder batch (2 = classifier-free guidance).")
    var batch: Int = 2

    @Option(parsing: .unconditional, help: "Timed runs per component (after one warm-up).")
    var repeats: Int = 3

    @Option(parsing: .unconditional, help: "Denoising steps for the 'pipeline' component.")
    var steps: Int = 2

    @Option(help: "Comma-separated: \(Diffuse.Bench.knownComponents.joined(separator: ",")).")
    var components: String = "text,unet,vae"

    @Option(name: [.short, .long], parsing: .unconditional, help: "Worker threads (1…\(Parallel.coreCount)).")
    var threads: Int?

    func run() throws {
        if let train { return try runTraining(steps: train) }
        if let writeModel {
            try Diffuse.BenchModel.write(to: URL(fileURLWithPath: writeModel))
            print("wrote \(writeModel)")
            return
        }
        guard let model else { throw GenerationError("give --model DIR (make one with --write-model DIR)") }
        guard FileManager.default.fileExists(atPath: model) else {
            throw GenerationError("--model \(model) does not exist (make it with `diffuse bench --write-model \(model)`)")
        }
        if let threads, !(1...Parallel.coreCount).contains(threads) {
            throw GenerationError("--threads must be between 1 and \(Parallel.coreCount) (got \(threads))")
        }
        guard size >= 8, size <= 2048, size % 8 == 0 else { throw GenerationError("--size must be a multiple of 8 between 8 and 2048 (got \(size))") }
        guard (1...16).contains(batch), (1...100).contains(repeats), (1...1000).contains(steps) else {
            throw GenerationError("--batch must be 1…16, --repeats 1…100 and --steps 1…1000")
        }
        var s = Diffuse.Bench.Settings()
        s.size = size; s.batch = batch; s.repeats = repeats; s.steps = steps
        s.components = components.split(separator: ",").map(String.init)
        if let bad = s.components.first(where: { !Diffuse.Bench.knownComponents.contains($0) }) {
            throw GenerationError("unknown component '\(bad)' (valid: \(Diffuse.Bench.knownComponents.joined(separator: ", ")))")
        }
        Parallel.threads = threads ?? Parallel.coreCount
        let checkpoint = try loadCheckpoint(at: URL(fileURLWithPath: model))
        guard checkpoint.family == .sd1, checkpoint.unetConfig.blockOutChannels == [320, 640, 1280, 1280] else {
            throw GenerationError("\(model) is not an SD 1.5-architecture model; make one with `diffuse bench --write-model DIR`")
        }
        // Before the table header: a refused size prints only its error line.
        try MemoryEstimate.check(checkpoint, width: size, height: size, batch: batch)
        print("component   median s   runs")
        let figures = try Diffuse.Bench.run(model: URL(fileURLWithPath: model), s) { f in
            print(String(format: "%-10@ %9.3f   %@", f.component as NSString, f.median,
                         f.runs.map { String(format: "%.3f", $0) }.joined(separator: " ")))
        }
        var json: [String: Any] = ["impl": "diffuse", "size": size, "batch": batch, "threads": Parallel.threads,
                                   "peak_rss_bytes": Diffuse.Bench.peakRSS(),
                                   "estimated_peak_bytes": MemoryEstimate.estimate(checkpoint, width: size, height: size, batch: batch).peakBytes]
        for f in figures { json[f.component] = f.median; json[f.component + "_cpu"] = f.cpuMedian }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

extension Bench {
    /// Times training steps on generated data and prints samples/s and the time per layer kind.
    func runTraining(steps: Int) throws {
        guard (1...10_000).contains(steps) else { throw TrainingError("--train must be 1…10000 steps (got \(steps))") }
        if let threads, !(1...Parallel.coreCount).contains(threads) {
            throw TrainingError("--threads must be between 1 and \(Parallel.coreCount) (got \(threads))")
        }
        Parallel.threads = threads ?? Parallel.coreCount
        var config: TrainConfig
        if let trainConfig {
            config = try TrainConfig.load(URL(fileURLWithPath: trainConfig))
        } else {
            // docs/builtin-train-config.json's model and batch.
            config = TrainConfig()
            config.batchSize = 16; config.prediction = .vPrediction; config.model.pooledText = true
        }
        config.logEvery = 0; config.checkpointEvery = 0
        let report = try TrainBenchmark.run(config: config, steps: steps)
        for line in report.lines { print(line) }
    }
}
