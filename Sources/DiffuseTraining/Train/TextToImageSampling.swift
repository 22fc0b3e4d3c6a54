import DiffuseCore
import DiffuseModels
import Foundation

/// Inference for the built-in model: loading weights (an exported model or a training checkpoint) and
/// DDIM sampling (Song et al. 2021; η = 0 by default) with classifier-free guidance. Matches diffusers' DDIMScheduler
/// with the config's timestep_spacing, set_alpha_to_one, clip_sample on (x̂0 clamped to [−1, 1]: the
/// model works in pixel space, where images are bounded) and `use_clipped_model_output=True`: with guidance
/// 4 the guided x̂0 overshoots the clamp, and without re-deriving ε from the clamped x̂0 the overshoot fed
/// back as a colour cast (a "blue background" turned pink by t = 749). With η > 0 each step but the last adds
/// seeded noise from the same TrainingRNG after x_T (diffusers draws it from its generator; the formula is
/// DDIMScheduler's). Image-to-image as StableDiffusionImg2ImgPipeline does it with DDIM (in pixel space: no
/// VAE): the last int(steps × strength) timesteps of the schedule, starting from add_noise(image, x_T noise,
/// first timestep). Leaves out thresholding.
public struct BuiltinModel {
    public let model: TextToImageModel
    public let config: TrainConfig
    public let schedule: NoiseScheduleTable
    /// The file's `__metadata__` (training config, provenance, training time).
    public let metadata: [String: String]

    /// Loads an exported model or a training checkpoint (its EMA weights when present, else the live ones).
    public init(contentsOf url: URL) throws {
        _ = ProcessHeap.keepFreedMemory
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url: url) } catch {
            throw TrainingError("\(url.path): cannot open the model (\(error))")
        }
        guard let json = file.metadata[TrainingCheckpoint.configKey],
              let config = try? JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8)) else {
            throw TrainingError("\(url.path): not a model written by `diffuse train` (no training config in its metadata)")
        }
        if let p = config.problem() { throw TrainingError("\(url.path): stored config is invalid: \(p)") }
        let model = try TextToImageModel(config: config.model, seed: config.seed)
        var values: [String: Tensor] = [:]
        for p in model.parameters {
            let name = file.info(named: "ema." + p.name) != nil ? "ema." + p.name : p.name
            guard let w = file.weight(named: name) else {
                throw TrainingError("\(url.path): tensor \(p.name) is missing; the file was made for another architecture")
            }
            values[p.name] = w.toTensor()
        }
        try model.load(values)
        self.model = model
        self.config = config
        self.metadata = file.metadata
        schedule = try NoiseScheduleTable(config)
    }

    /// Writes only the weights to publish (EMA by default) in `dtype`, with the training config and the
    /// rest of the checkpoint's metadata (provenance, losses, training time) but no optimiser state.
    public static func export(_ trainer: Trainer, to url: URL, dtype: DType = .f16, ema: Bool = true) throws {
        let tensors = trainer.model.parameters.map { p in
            (p.name, ema ? Tensor(shape: p.value.shape, data: trainer.ema.shadow[p.name]!) : p.value)
        }
        var meta = trainer.extraMetadata
        meta[TrainingCheckpoint.configKey] = trainer.config.json
        meta[ModelInfo.architectureKey] = trainer.config.model.architectureName
        meta[TrainingCheckpoint.lossesKey] = String(decoding: try JSONEncoder().encode(trainer.losses), as: UTF8.self)
        meta["diffuse.training_steps"] = String(trainer.step)
        meta["diffuse.training_seconds"] = String(format: "%.0f", trainer.trainingSeconds)
        try SafeTensorsWriter.write(tensors: tensors, dtype: dtype, metadata: meta, to: url)
    }

    /// One image [1, 3, S, S] in [−1, 1] for `prompt`. Noise from TrainingRNG(seed).
    public func generate(prompt: String, seed: UInt64, steps: Int = 25, guidance: Float = 4, eta: Float = 0,
                         initImage: Tensor? = nil, strength: Float = 0.75, onStep: (Int) -> Void = { _ in }) -> Tensor {
        sample(prompt: prompt, seed: seed, steps: steps, guidance: guidance, eta: eta, initImage: initImage,
               strength: strength, progress: { onStep($0.step) })
    }

    /// The timesteps an image-to-image run takes (StableDiffusionImg2ImgPipeline.get_timesteps): the last
    /// min(int(steps × strength), steps) of the full schedule. Empty when steps × strength < 1.
    public func img2imgTimesteps(steps: Int, strength: Float) -> [Int] {
        let all = schedule.ddimTimesteps(steps: steps, spacing: config.timestepSpacing)
        let kept = min(Int(Float(all.count) * strength), all.count)
        return Array(all.suffix(kept))
    }

    /// `generate` with the state after each step, for live previews; a throwing `progress` stops it
    /// (cancellation). Reading `denoised` costs one pass over the image, nothing is computed when it is not read.
    /// `initImage` [1, 3, S, S] in [−1, 1] makes it image-to-image (see `img2imgTimesteps`).
    public func sample(prompt: String, seed: UInt64, steps: Int = 25, guidance: Float = 4, eta: Float = 0,
                       initImage: Tensor? = nil, strength: Float = 0.75,
                       progress: (BuiltinSamplingStep) throws -> Void) rethrows -> Tensor {
        let s = config.model.imageSize
        var rng = TrainingRNG(seed: seed)
        var x = rng.normals([1, 3, s, s])
        var timesteps = schedule.ddimTimesteps(steps: steps, spacing: config.timestepSpacing)
        if let initImage {
            precondition(initImage.shape == x.shape, "init image \(initImage.shape), model draws \(x.shape)")
            timesteps = img2imgTimesteps(steps: steps, strength: strength)
            guard let first = timesteps.first else { return initImage }
            // DDPMScheduler/DDIMScheduler.add_noise: √ᾱ_t · x0 + √(1 − ᾱ_t) · noise
            let a = schedule.alphasCumprod[first], sa = a.squareRoot(), s1 = (1 - a).squareRoot()
            x = zipMap(initImage, x) { x0, z in sa * x0 + s1 * z }
        }
        let ids = [model.tokenizer.encode(""), model.tokenizer.encode(prompt)]
        for (i, t) in timesteps.enumerated() {
            let out = model.forward(concat([x, x], axis: 0), timesteps: [Float(t), Float(t)], ids: ids)
            let halves = split(out, parts: 2, axis: 0)                          // [uncond, cond]
            let guided = zipMap(halves[0], halves[1]) { u, c in u + guidance * (c - u) }
            let next = schedule.ddimStep(sample: x, modelOutput: guided, timestep: t,
                                         previous: i + 1 < timesteps.count ? timesteps[i + 1] : -1,
                                         prediction: config.prediction, useClippedModelOutput: true, eta: eta,
                                         noise: eta > 0 && i + 1 < timesteps.count ? rng.normals(x.shape) : nil)
            try progress(BuiltinSamplingStep(step: i + 1, total: timesteps.count, sample: x, modelOutput: guided,
                                             timestep: t, schedule: schedule, prediction: config.prediction))
            x = next
        }
        return x
    }
}

/// One finished DDIM step of `BuiltinModel.generate`: the input sample x_t and the guided model output.
public struct BuiltinSamplingStep {
    /// 1-based.
    public let step: Int
    public let total: Int
    let sample: Tensor
    let modelOutput: Tensor
    let timestep: Int
    let schedule: NoiseScheduleTable
    let prediction: PredictionType

    /// The clean-image estimate x̂0 of this step [1, 3, S, S] in [−1, 1] (clamped as the DDIM step clamps it).
    public var denoised: Tensor {
        schedule.ddimPredictedOriginal(sample: sample, modelOutput: modelOutput, timestep: timestep, prediction: prediction)
    }
}

extension NoiseScheduleTable {
    /// DDIMScheduler.set_timesteps with steps_offset 0, descending: "leading" k·(T / steps) with integer
    /// division; "trailing" round(T − k·T/steps) − 1 with a float ratio (999, 949, … for 20 of 1000).
    public func ddimTimesteps(steps: Int, spacing: String = "leading") -> [Int] {
        let n = min(max(steps, 1), count)
        if spacing == "trailing" {
            let ratio = Double(count) / Double(n)
            return (0..<n).map { k in Int((Double(count) - Double(k) * ratio).rounded(.toNearestOrEven)) - 1 }
        }
        let stride = count / n
        return (0..<n).map { $0 * stride }.reversed()
    }

    /// x̂0 of a DDIM step at `t`, clamped to [−1, 1]: the same formula `ddimStep` uses.
    public func ddimPredictedOriginal(sample: Tensor, modelOutput: Tensor, timestep t: Int,
                                      prediction: PredictionType) -> Tensor {
        let a = alphasCumprod[t], sa = a.squareRoot(), s1 = (1 - a).squareRoot()
        return zipMap(sample, modelOutput) { xt, o in min(max(originalSample(xt, o, sa, s1, prediction), -1), 1) }
    }

    /// One DDIM step (clip_sample to [−1, 1], set_alpha_to_one): x_t → x_prev (`previous` < 0: the end). With
    /// η > 0, `noise` (shape of `sample`) is DDIMScheduler.step's `variance_noise`.
    /// `useClippedModelOutput` is DDIMScheduler.step's argument of that name: ε re-derived from the clamped x̂0,
    /// so that the part of a guided x̂0 beyond [−1, 1] is not carried into x_prev as noise.
    public func ddimStep(sample: Tensor, modelOutput: Tensor, timestep t: Int, previous: Int,
                         prediction: PredictionType, useClippedModelOutput: Bool = false,
                         eta: Float = 0, noise: Tensor? = nil) -> Tensor {
        let a = alphasCumprod[t], aPrev = previous >= 0 ? alphasCumprod[previous] : 1
        let sa = a.squareRoot(), s1 = (1 - a).squareRoot()
        let sp = aPrev.squareRoot()
        // DDIMScheduler._get_variance: σ_t² = (1 − ᾱ_prev)/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_prev); std = η·σ_t.
        let std = eta > 0 ? eta * ((1 - aPrev) / (1 - a) * (1 - a / aPrev)).squareRoot() : 0
        let sp1 = max(1 - aPrev - std * std, 0).squareRoot()
        let stepped = zipMap(sample, modelOutput) { xt, o -> Float in
            let x0 = originalSample(xt, o, sa, s1, prediction)
            let clipped = min(max(x0, -1), 1)
            let eps: Float
            switch prediction {
            case _ where useClippedModelOutput: eps = (xt - sa * clipped) / s1
            case .epsilon: eps = o
            case .vPrediction: eps = sa * o + s1 * xt
            case .sample: eps = (xt - sa * x0) / s1
            }
            return sp * clipped + sp1 * eps
        }
        guard std > 0, let noise else { return stepped }
        return zipMap(stepped, noise) { x, z in x + std * z }
    }
}

/// x̂0 from one model output at a timestep with √ᾱ = sa and √(1 − ᾱ) = s1 (DDIMScheduler.step's three cases).
@inline(__always)
private func originalSample(_ xt: Float, _ o: Float, _ sa: Float, _ s1: Float, _ prediction: PredictionType) -> Float {
    switch prediction {
    case .epsilon: return (xt - s1 * o) / sa
    case .vPrediction: return sa * xt - s1 * o
    case .sample: return o
    }
}
