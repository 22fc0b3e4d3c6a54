import Diffuse
import Foundation

/// Shapes scenes rendered into memory (no files): the training benchmark's data, the same kind of images
/// and captions as `diffuse make-dataset shapes`, without the big dataset on disk.
public struct InMemoryShapesDataset: TrainingDataset {
    public let captions: [String]
    public let imageSize: Int
    private let images: [[UInt8]]

    public init(count: Int, size: Int, seed: UInt64 = 11) {
        let generator = ShapesGenerator(seed: seed)
        let scenes = (0..<count).map { generator.scene(index: $0) }
        captions = scenes.map(\.caption)
        images = scenes.map { ShapesRenderer.render($0, size: size).pixels }
        imageSize = size
    }

    public var count: Int { images.count }
    public func pixels(at index: Int) -> [UInt8] { images[index] }
}

/// Times whole training steps (forward, backward, clipping, AdamW, EMA) of a config on generated data.
public enum TrainBenchmark {
    public struct Report: Sendable {
        public var steps: Int, batchSize: Int, parameters: Int, threads: Int
        public var seconds: Double
        /// Wall time per layer kind, data + loss and optimiser over the timed steps (the rest is elementwise
        /// plumbing between layers: adds, concatenations, reshapes, gradient accumulation).
        public var kinds: [(TrainProfile.Kind, Double)]
        /// Convolutions and linear layers by shape (profiled pass, scaled like `kinds`): seconds and FLOPs over the timed steps.
        public var shapes: [(label: String, seconds: Double, flops: Double)] = []
        public var samplesPerSecond: Double { Double(steps * batchSize) / seconds }

        public var lines: [String] {
            var out = [String(format: "%d steps × batch %d, %d parameters, %d threads: %.2f s, %.2f steps/s, %.1f samples/s",
                              steps, batchSize, parameters, threads, seconds, Double(steps) / seconds, samplesPerSecond)]
            let known = kinds.reduce(0) { $0 + $1.1 }
            for (k, s) in kinds.sorted(by: { $0.1 > $1.1 }) where s > 0 {
                out.append(row(k.name, s))
            }
            out.append(row("other", seconds - known))
            if !shapes.isEmpty { out.append("  convolutions and linear layers by shape (GFLOP/s while running):") }
            for s in shapes.prefix(24) {
                out.append("    " + s.label.padding(toLength: 34, withPad: " ", startingAt: 0)
                    + String(format: "%7.1f ms/step  %6.1f GFLOP/s", s.seconds / Double(steps) * 1000, s.flops / s.seconds * 1e-9))
            }
            return out
        }

        private func row(_ name: String, _ s: Double) -> String {
            "  " + name.padding(toLength: 16, withPad: " ", startingAt: 0)
                + String(format: "%7.1f ms/step  %5.1f%%", s / Double(steps) * 1000, 100 * s / seconds)
        }
    }

    /// `warmup` untimed steps (first-touch allocations), then `steps` timed ones; the per-kind breakdown
    /// comes from a separate pass of the same length when `breakdown` is set, so its timer calls never
    /// touch the headline number.
    public static func run(config: TrainConfig, steps: Int, warmup: Int = 2, datasetSize: Int = 256,
                           breakdown: Bool = true) throws -> Report {
        let data = InMemoryShapesDataset(count: datasetSize, size: config.model.imageSize)
        let trainer = try Trainer(config: config, dataset: data)
        for _ in 0..<warmup { trainer.trainStep(data) }
        let t0 = Date()
        for _ in 0..<steps { trainer.trainStep(data) }
        let seconds = Date().timeIntervalSince(t0)
        var kinds: [(TrainProfile.Kind, Double)] = []
        var shapes: [(label: String, seconds: Double, flops: Double)] = []
        if breakdown {
            TrainProfile.reset()
            TrainProfile.enabled = true
            let t1 = Date()
            for _ in 0..<steps { trainer.trainStep(data) }
            let profiled = Date().timeIntervalSince(t1)
            TrainProfile.enabled = false
            // Scaled to the headline run's length so the shares add up against it.
            kinds = TrainProfile.totals.map { ($0.0, $0.1 * seconds / profiled) }
            shapes = TrainProfile.shapeTotals.map { ($0.label, $0.seconds * seconds / profiled, $0.flops) }
        }
        var report = Report(steps: steps, batchSize: config.batchSize * config.gradientAccumulation,
                            parameters: trainer.model.parameterCount, threads: Parallel.threads, seconds: seconds, kinds: kinds)
        report.shapes = shapes
        return report
    }
}
