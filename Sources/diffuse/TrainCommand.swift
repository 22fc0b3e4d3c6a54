// `diffuse train`: trains the built-in text-to-image model on a folder of captioned images, with
// checkpoints (weights + optimiser + RNG + config) that resume bit-for-bit.

import ArgumentParser
import DiffuseTraining
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the small text-to-image model on a folder of captioned images.",
        discussion: """
        Data: a dataset folder (see docs/DATASET.md): square PNGs of one size, captions (.txt or
        metadata.jsonl) and manifest.json with each image's source, licence and consent; its hash and
        summary are stored in the checkpoint.
        Config: a JSON file with any of the TrainConfig keys (steps, batchSize, learningRate, model: {...}, …);
        it is stored inside every checkpoint. A checkpoint is written to --out every checkpointEvery steps
        and at the end, with a loss curve PNG beside it (OUT-loss.png).
        Resume: --resume CKPT continues exactly where CKPT stopped (same data order and noise);
        --steps raises the total.
        Init: --init MODEL starts a new run (fresh optimiser, step 0) from a model's weights, e.g. `--init
        builtin` for the shipped model; same model section and same dataset; its training time carries over.
        The model section may add blocks (model.attention, model.layersPerBlock, model.textPoolQueries):
        they start as the identity.
        """)

    @Option(help: "Dataset folder (images, captions, manifest.json).")
    var data: String

    @Flag(help: "Train even on images whose manifest entry gives no licence.")
    var allowUnlicensed = false

    @Option(help: "Checkpoint to write (.safetensors).")
    var out: String

    @Option(parsing: .unconditional, help: "Total optimiser steps (overrides the config).")
    var steps: Int?

    @Option(help: "Checkpoint to continue from.")
    var resume: String?

    @Option(name: .customLong("init"),
            help: "Start a new run from this model's weights ('builtin', an --export file or a checkpoint's EMA).")
    var initFrom: String?

    @Option(help: "Training config (JSON).")
    var config: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Worker threads; default: all cores.")
    var threads: Int?

    @Option(help: "Also write the model to publish here: EMA weights in float16, no optimiser state.")
    var export: String?

    @Flag(help: "Overwrite --out when it exists and is not the checkpoint being resumed.")
    var force = false

    func run() throws {
        let outURL = URL(fileURLWithPath: out)
        if initFrom != nil && resume != nil {
            throw TrainingError("--init starts a new run and --resume continues one; give only one of them")
        }
        if let t = threads, t < 1 { throw TrainingError("--threads must be ≥ 1 (got \(t))") }
        if let s = steps, s < 1 { throw TrainingError("--steps must be ≥ 1 (got \(s))") }
        guard outURL.pathExtension == "safetensors" else {
            throw TrainingError("--out \(out): give a .safetensors file name for the checkpoint")
        }
        if FileManager.default.fileExists(atPath: outURL.path) && !force
            && resume.map({ URL(fileURLWithPath: $0).standardizedFileURL }) != outURL.standardizedFileURL {
            throw TrainingError("\(out) already exists; pass --force to overwrite it or --resume \(out) to continue it")
        }
        if let export, URL(fileURLWithPath: export).pathExtension != "safetensors" {
            throw TrainingError("--export \(export): give a .safetensors file name for the model")
        }
        // Found now rather than after hours of training, when the first checkpoint is saved.
        for (option, path) in [("--out", out), ("--export", export)] {
            guard let path else { continue }
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
                throw TrainingError("\(option) \(path): folder \(folder) does not exist; create it first")
            }
        }
        Parallel.threads = threads ?? Parallel.coreCount
        let fileConfig = try config.map { try TrainConfig.load(URL(fileURLWithPath: $0)) }
        let dataset = try LoadedDataset(DatasetFolder(url: URL(fileURLWithPath: data), allowUnlicensed: allowUnlicensed))
        let trainer: Trainer
        if let resume {
            trainer = try TrainingCheckpoint.load(URL(fileURLWithPath: resume), config: fileConfig, steps: steps)
            // Checked here, not only in Trainer.run: the warnings below must not come before this error.
            let side = trainer.config.model.imageSize
            guard dataset.imageSize == side else {
                throw TrainingError("the dataset's images are \(dataset.imageSize)×\(dataset.imageSize) but the checkpoint's "
                    + "model draws \(side)×\(side); resume on a \(side)×\(side) dataset or start a new run")
            }
        } else if let initFrom {
            let initURL = try initModelURL(initFrom)
            let stored = try TrainingCheckpoint.storedConfig(of: initURL)
            var c = fileConfig ?? stored
            if let s = steps { c.steps = s }
            // A --config without a vocabulary means the model's own (the dataset's words in the model's order).
            if c.model.vocabulary.isEmpty { c.model.vocabulary = stored.model.vocabulary }
            trainer = try Trainer(config: c, dataset: dataset)
            let added = try TrainingCheckpoint.initialise(trainer, from: initURL)
            if !added.isEmpty {
                printStatus("new blocks \(added.joined(separator: ", ")) start as the identity (last layer zeroed)")
            }
        } else {
            var c = fileConfig ?? TrainConfig()
            if let s = steps { c.steps = s }
            trainer = try Trainer(config: c, dataset: dataset)
        }
        let unknown = Set(dataset.captions.flatMap { trainer.model.tokenizer.unknownWords(in: $0) })
        if !unknown.isEmpty {
            printStatus("warning: \(unknown.count) caption words are not in the model's vocabulary (e.g. "
                + "\(unknown.sorted().prefix(5).joined(separator: ", "))); they are read as one unknown token")
        }
        let c = trainer.config
        printStatus("\(dataset.count) images \(dataset.imageSize)×\(dataset.imageSize), \(trainer.model.parameterCount) "
            + "parameters, step \(trainer.step) → \(c.steps), batch \(c.batchSize)×\(c.gradientAccumulation), "
            + "\(Parallel.threads) threads")
        if let biased = c.timestepBiasRange, c.timestepBiasMultiplier != 1 {
            printStatus("timesteps: \(c.timestepBiasStrategy) bias, \(biased.lowerBound)…\(biased.upperBound - 1) drawn "
                + "\(c.timestepBiasMultiplier)× as often as the others")
        }
        let save = { (t: Trainer) in
            try TrainingCheckpoint.save(t, to: outURL)
            try LossCurve.write(t.losses, to: outURL.deletingLastPathComponent()
                .appendingPathComponent(outURL.deletingPathExtension().lastPathComponent + "-loss.png"))
        }
        try trainer.run(dataset, onProgress: { printStatus($0.line) }, onCheckpoint: save)
        try save(trainer)
        if let export {
            try BuiltinModel.export(trainer, to: URL(fileURLWithPath: export))
            printStatus("exported \(export)")
        }
        printStatus(String(format: "wrote %@ (step %d, %.0f s of training in total)", out, trainer.step, trainer.trainingSeconds))
    }

    /// `builtin` is the shipped model; anything else a file written by `diffuse train`.
    private func initModelURL(_ path: String) throws -> URL {
        if path == "builtin" {
            guard let url = BuiltinModel.bundledURL else {
                throw TrainingError("the built-in model is missing from this installation; reinstall Diffuse")
            }
            return url
        }
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TrainingError("--init \(path): no such file; give a model written by `diffuse train` or 'builtin'")
        }
        return url
    }
}
