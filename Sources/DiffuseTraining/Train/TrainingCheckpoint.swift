import DiffuseCore
import DiffuseModels
import Foundation

/// Training checkpoints as safetensors: every parameter under its own name, the EMA weights under
/// "ema.NAME", AdamW's moments under "optim.m.NAME" / "optim.v.NAME" (all float32, so a reload is exact),
/// and in `__metadata__` the training config (JSON), the step counts, the RNG state, the per-step losses
/// and the total training time.
public enum TrainingCheckpoint {
    public static let configKey = "diffuse.train_config"
    public static let stateKey = "diffuse.training_state"
    public static let lossesKey = "diffuse.losses"

    struct State: Codable {
        var step: Int, optimizerStep: Int, emaUpdates: Int, rng: String, trainingSeconds: Double
    }

    public static func save(_ t: Trainer, to url: URL) throws {
        var tensors: [(String, Tensor)] = []
        let params = t.model.parameters
        for p in params { tensors.append((p.name, p.value)) }
        for p in params { tensors.append(("ema." + p.name, Tensor(shape: p.value.shape, data: t.ema.shadow[p.name]!))) }
        for p in params {
            let zeros = [Float](repeating: 0, count: p.value.count)
            tensors.append(("optim.m." + p.name, Tensor(shape: p.value.shape, data: t.optimizer.m[p.name] ?? zeros)))
            tensors.append(("optim.v." + p.name, Tensor(shape: p.value.shape, data: t.optimizer.v[p.name] ?? zeros)))
        }
        let state = State(step: t.step, optimizerStep: t.optimizer.step, emaUpdates: t.ema.updates,
                          rng: t.rng.serialized, trainingSeconds: t.trainingSeconds)
        var meta = t.extraMetadata
        meta[configKey] = t.config.json
        meta[ModelInfo.architectureKey] = t.config.model.architectureName
        meta[stateKey] = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        meta[lossesKey] = String(decoding: try JSONEncoder().encode(t.losses), as: UTF8.self)
        meta["format"] = "pt"
        try SafeTensorsWriter.write(tensors: tensors, metadata: meta, to: url)
    }

    /// A trainer continuing `url`. `config` (from --config) may change the schedule and step count but not
    /// the model; nil keeps the checkpoint's. `steps` then replaces the total step count.
    public static func load(_ url: URL, config override: TrainConfig? = nil, steps: Int? = nil) throws -> Trainer {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url: url) } catch {
            throw TrainingError("\(url.path): cannot open the checkpoint (\(error)); pass a file written by `diffuse train`")
        }
        guard let configJSON = file.metadata[configKey], let stateJSON = file.metadata[stateKey],
              let saved = try? JSONDecoder().decode(TrainConfig.self, from: Data(configJSON.utf8)),
              let state = try? JSONDecoder().decode(State.self, from: Data(stateJSON.utf8)),
              let rng = TrainingRNG(serialized: state.rng) else {
            throw TrainingError("\(url.path): not a diffuse training checkpoint (no training config/state in its "
                + "metadata); resume only from files written by `diffuse train`")
        }
        var config = saved
        if var o = override {
            if o.model.vocabulary.isEmpty { o.model.vocabulary = saved.model.vocabulary }
            guard o.model == saved.model else {
                throw TrainingError("\(url.path): the checkpoint's model differs from the config's model section; "
                    + "resume with the checkpoint's architecture or start a new run")
            }
            config = o
        }
        if let steps { config.steps = steps }
        if let p = config.problem() { throw TrainingError("config: \(p)") }
        let model = try TextToImageModel(config: config.model, seed: config.seed)
        func tensor(_ name: String, like p: Parameter) throws -> Tensor {
            let w = try file.requireWeight(named: name)
            guard w.shape == p.value.shape else {
                throw TrainingError("\(url.path): tensor \(name) has shape \(w.shape), expected \(p.value.shape); "
                    + "the checkpoint was made for another architecture")
            }
            return w.toTensor()
        }
        var values: [String: Tensor] = [:], shadow: [String: [Float]] = [:]
        var m: [String: [Float]] = [:], v: [String: [Float]] = [:]
        do {
            for p in model.parameters {
                values[p.name] = try tensor(p.name, like: p)
                shadow[p.name] = try tensor("ema." + p.name, like: p).data
                m[p.name] = try tensor("optim.m." + p.name, like: p).data
                v[p.name] = try tensor("optim.v." + p.name, like: p).data
            }
        } catch let e as TrainingError { throw e } catch {
            throw TrainingError("\(url.path): \(error); the checkpoint was made for another architecture")
        }
        try model.load(values)
        let losses = file.metadata[lossesKey].flatMap { try? JSONDecoder().decode([Float].self, from: Data($0.utf8)) } ?? []
        let optimizer = AdamW(beta1: config.beta1, beta2: config.beta2, eps: config.adamEps, weightDecay: config.weightDecay,
                              step: state.optimizerStep, m: m, v: v)
        let trainer = try Trainer(config: config, model: model, optimizer: optimizer,
                                  ema: EMA(maxDecay: config.emaDecay, updates: state.emaUpdates, shadow: shadow),
                                  rng: rng, step: state.step, losses: losses, trainingSeconds: state.trainingSeconds)
        trainer.extraMetadata = file.metadata.filter {
            ![configKey, stateKey, lossesKey, "format", ModelInfo.architectureKey].contains($0.key)
        }
        return trainer
    }
}
