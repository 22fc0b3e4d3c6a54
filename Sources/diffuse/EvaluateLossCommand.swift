// `diffuse evaluate-loss`: the training objective of a model written by `diffuse train`, measured on
// held-out pictures at fixed timesteps and fixed noise (HeldOutLoss), to compare runs and checkpoints.

import ArgumentParser
import Diffuse
import DiffuseTraining
import Foundation

struct EvaluateLoss: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate-loss",
        abstract: "Measure a trained model's loss on held-out pictures at fixed timesteps.",
        discussion: """
        Each of the first --count pictures of --data is noised at every --timesteps entry with the same seeded
        noise and predicted with its own caption by the model's EMA weights; the mean squared error against the
        model's target (ε, v or x0) is printed per timestep, then one JSON line. Same model, data and seed: the
        same figures. Make pictures the model never saw with e.g. `diffuse make-dataset shapes --out held-out
        --count 256 --size 64 --seed 2` (the built-in model trained on seed 1).

        --swap-words left:right,top:bottom measures how much the model reads those words: only pictures whose
        caption holds one of them are used, each measured with its caption and again with every listed word
        swapped for its partner ("at the left" → "at the right"); the increase is what the words are worth at
        each noise level (0: the model ignores them).
        """)

    @Option(name: [.short, .long], help: "A model written by `diffuse train` (default: the built-in model).")
    var model: String?

    @Option(help: "Dataset folder with the held-out pictures (images, captions, manifest.json).")
    var data: String

    @Option(parsing: .unconditional, help: "Pictures to use (the first N of the folder); default: all, at most 256.")
    var count: Int?

    @Option(parsing: .unconditional, help: "Comma-separated timesteps.")
    var timesteps: String = HeldOutLoss.defaultTimesteps.map(String.init).joined(separator: ",")

    @Option(parsing: .unconditional, help: "Noise seed.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Which text paths read each picture's caption: both, neither (the unconditional "
        + "prediction), pooled or cross-attention; the others read the empty caption.", valueName: "path"))
    var caption: String = CaptionRoute.both.rawValue

    @Option(name: .customLong("swap-words"), help: ArgumentHelp("Pairs of words to swap in the captions, e.g. "
        + "left:right,top:bottom: prints the loss with and without the swap (see above).", valueName: "pairs"))
    var swapWords: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Worker threads; default: all cores.")
    var threads: Int?

    func run() throws {
        if let t = threads, t < 1 { throw GenerationError("--threads must be ≥ 1 (got \(t))") }
        let steps = timesteps.split(separator: ",", omittingEmptySubsequences: false)
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !steps.isEmpty, steps.allSatisfy({ $0 != nil }) else {
            throw GenerationError("--timesteps \(timesteps): give comma-separated whole numbers, e.g. 32,299,699")
        }
        guard let route = CaptionRoute(rawValue: caption) else {
            throw GenerationError("--caption \(caption): give one of "
                + CaptionRoute.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let path = model ?? BuiltinModel.bundledURL?.path else {
            throw GenerationError("the built-in model is missing from this installation; give --model")
        }
        let loaded = try BuiltinModel(contentsOf: URL(fileURLWithPath: path))
        // Held-out pictures are only measured, never trained on: their licences are not checked here.
        let dataset = try LoadedDataset(DatasetFolder(url: URL(fileURLWithPath: data), allowUnlicensed: true))
        Parallel.threads = threads ?? Parallel.coreCount
        let start = Date()
        if let swapWords {
            try measureSwap(swapWords, loaded, dataset, path: path, steps: steps.map { $0! }, route: route, start: start)
            return
        }
        let count = self.count ?? min(256, dataset.count)
        let losses = try HeldOutLoss.measure(loaded, dataset: dataset, count: count, timesteps: steps.map { $0! }, seed: seed,
                                             caption: route)
        let mean = losses.reduce(0, +) / Float(losses.count)
        print("timestep  loss (\(loaded.config.prediction.rawValue) MSE, \(count) pictures, noise seed \(seed)"
            + (route == .both ? ")" : ", caption read by: \(route.rawValue))"))
        for (t, l) in zip(steps, losses) { print(String(format: "%8d  %.5f", t!, l)) }
        print(String(format: "    mean  %.5f", mean))
        let json: [String: Any] = ["model": path, "data": data, "count": count, "seed": seed, "timesteps": steps.map { $0! },
                                   "loss": losses.map(Double.init), "mean": Double(mean), "caption": route.rawValue,
                                   "seconds": Date().timeIntervalSince(start)]
        print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
    }

    /// --swap-words: the loss on the pictures whose caption holds a listed word, with the caption as it is and
    /// with the words swapped.
    private func measureSwap(_ spec: String, _ loaded: BuiltinModel, _ dataset: LoadedDataset, path: String, steps: [Int],
                             route: CaptionRoute, start: Date) throws {
        guard let swaps = HeldOutLoss.parseSwaps(spec) else {
            throw GenerationError("--swap-words \(spec): give distinct word pairs, e.g. left:right,top:bottom")
        }
        let limit = count ?? min(256, dataset.count)
        guard limit >= 1 else { throw GenerationError("--count must be ≥ 1 (got \(limit))") }
        let pictures = Array((0..<dataset.count).filter { i in
            WordTokenizer.split(dataset.captions[i]).contains { swaps[$0] != nil }
        }.prefix(limit))
        guard !pictures.isEmpty else {
            throw GenerationError("no caption in \(data) holds any of \(swaps.keys.sorted().joined(separator: ", "))")
        }
        let plain = try HeldOutLoss.measure(loaded, dataset: dataset, pictures: pictures, timesteps: steps, seed: seed,
                                            caption: route)
        let swapped = try HeldOutLoss.measure(loaded, dataset: dataset, pictures: pictures, timesteps: steps, seed: seed,
                                              caption: route) { HeldOutLoss.swappingWords(dataset.captions[$0], swaps) }
        print("timestep  loss  swapped  increase (\(loaded.config.prediction.rawValue) MSE, \(pictures.count) pictures "
            + "whose caption holds a swapped word, noise seed \(seed))")
        for (k, t) in steps.enumerated() {
            print(String(format: "%8d  %.5f  %.5f  %+.5f", t, plain[k], swapped[k], swapped[k] - plain[k]))
        }
        let json: [String: Any] = ["model": path, "data": data, "count": pictures.count, "seed": seed, "timesteps": steps,
                                   "loss": plain.map(Double.init), "loss_swapped": swapped.map(Double.init),
                                   "swap": spec, "caption": route.rawValue, "seconds": Date().timeIntervalSince(start)]
        print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
    }
}
