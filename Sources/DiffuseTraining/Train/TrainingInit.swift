import DiffuseCore
import DiffuseModels
import Foundation

// `diffuse train --init MODEL`: a new run (fresh optimiser, step 0, the run's own schedule) whose weights
// start from a published model or a checkpoint's EMA. Why: a training checkpoint with its optimiser state
// is 4× the model and lives on one machine; the published weights are in the repository. A run that
// starts from them keeps the record honest: the earlier training time is carried into the new total, and
// the file it started from is named in the metadata. The training data must be the same dataset (same
// manifest hash), because a model's metadata describes one dataset.
// The run may add blocks: transformers at levels where the source has none (a widened `model.attention`),
// ResBlocks (a larger `model.layersPerBlock`), an attention pooling of the text (`model.textPoolQueries`) and
// a grid of position queries reading the text (`model.textSpatialMap`) or of per-cell readouts of its mean
// (`model.textCellMap`).
// They start fresh with their last layer zero (`proj_out`, `conv2`), so each is the identity (the blocks are
// residual; the pooling is added to the time embedding) and the new model computes exactly what the
// source did until training moves them — the ControlNet "zero convolution" idea. It tests a layout change
// from a trained model instead of from scratch.
extension TrainingCheckpoint {
    public static let initialisedFromKey = "diffuse.initialised_from"

    struct InitRecord: Codable {
        var file: String, sha256: String, steps: Int?, trainingSeconds: Double?
        /// Blocks this run added (name prefixes), absent when it added none.
        var added: [String]?
    }

    /// The model's stored training config (to run with when no --config is given).
    public static func storedConfig(of url: URL) throws -> TrainConfig {
        try BuiltinModel(contentsOf: url).config
    }

    /// Replaces the new run's weights (and its EMA) by those of `url`. Returns the name prefixes of the
    /// blocks the run adds (empty when the model sections are equal).
    @discardableResult
    public static func initialise(_ trainer: Trainer, from url: URL) throws -> [String] {
        precondition(trainer.step == 0, "initialise: only a new run")
        let source = try BuiltinModel(contentsOf: url)
        guard let added = addedBlocks(from: source.config.model, to: trainer.config.model) else {
            throw TrainingError("\(url.path): its model section (architecture, vocabulary) differs from this run's; "
                + "omit --config to train with the model's own settings, or use the same model section "
                + "(model.attention, model.layersPerBlock, model.textPoolQueries and model.textSpatialMap may add blocks)")
        }
        let ours = trainer.extraMetadata[ProvenanceKey.manifestSHA256]
        let theirs = source.metadata[ProvenanceKey.manifestSHA256]
        guard ours == theirs else {
            throw TrainingError("\(url.path): was trained on dataset manifest \(theirs ?? "unknown"), this run's data is "
                + "\(ours ?? "unknown"); --init continues on the same dataset only (a model records one dataset)")
        }
        var values = Dictionary(uniqueKeysWithValues: source.model.parameters.map { ($0.name, $0.value) })
        for p in trainer.model.parameters where values[p.name] == nil {
            guard let block = added.first(where: { p.name.hasPrefix($0 + ".") }) else { continue }
            let last = ["proj_out.weight", "proj_out.bias", "conv2.weight", "conv2.bias", "weight", "bias"].map { block + "." + $0 }
            values[p.name] = last.contains(p.name) ? Tensor(zeros: p.value.shape) : p.value
        }
        try trainer.model.load(values)
        trainer.ema = EMA(trainer.model.parameters, maxDecay: trainer.config.emaDecay)
        var steps = source.metadata["diffuse.training_steps"].flatMap { Int($0) }
        var seconds = source.metadata["diffuse.training_seconds"].flatMap { Double($0) }
        if let json = source.metadata[stateKey], let state = try? JSONDecoder().decode(State.self, from: Data(json.utf8)) {
            steps = state.step; seconds = state.trainingSeconds
        }
        trainer.trainingSeconds = seconds ?? 0
        let record = InitRecord(file: url.lastPathComponent, sha256: try sha256Hex(ofFileAt: url), steps: steps,
                                trainingSeconds: seconds, added: added.isEmpty ? nil : added)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        trainer.extraMetadata[initialisedFromKey] = String(decoding: try encoder.encode(record), as: UTF8.self)
        return added
    }

    /// Name prefixes of the blocks `to` adds to `from` (transformers, ResBlocks past a level's count); nil when
    /// the sections differ in anything else or `to` drops a block.
    static func addedBlocks(from: ModelConfig, to: ModelConfig) -> [String]? {
        var widened = from
        widened.attention = to.attention
        widened.layersPerBlock = to.layersPerBlock
        widened.textPoolQueries = to.textPoolQueries
        widened.textSpatialMap = to.textSpatialMap
        widened.textCellMap = to.textCellMap
        let levels = to.channels.indices
        guard widened == to, from.attention.count == to.attention.count,
              zip(from.attention, to.attention).allSatisfy({ !$0 || $1 }),
              levels.allSatisfy({ from.resnets(level: $0) <= to.resnets(level: $0) }),
              from.textPoolQueries == to.textPoolQueries || from.textPoolQueries == 0,
              from.textSpatialMap == to.textSpatialMap || from.textSpatialMap == 0,
              from.textCellMap == to.textCellMap || from.textCellMap == 0 else { return nil }
        let last = to.channels.count - 1
        let pool = to.textPoolQueries > 0 && from.textPoolQueries == 0 ? ["text_attn_pool"] : []
        let map = (to.textSpatialMap > 0 && from.textSpatialMap == 0 ? ["text_spatial_map"] : [])
            + (to.textCellMap > 0 && from.textCellMap == 0 ? ["text_cell_map"] : [])
        return pool + map + levels.flatMap { i -> [String] in
            let attention = to.attention[i] && !from.attention[i]
                ? ["down_blocks.\(i).attentions.0", "up_blocks.\(last - i).attentions.0"] : []
            let resnets = (from.resnets(level: i)..<to.resnets(level: i)).flatMap { j in
                ["down_blocks.\(i).resnets.\(j)", "up_blocks.\(last - i).resnets.\(j)"]
            }
            return attention + resnets
        }
    }
}
