import DiffuseCore
import Foundation

/// What the trainer reports after each optimiser step.
public struct TrainingProgress: Sendable {
    public var step: Int, totalSteps: Int
    public var loss: Float
    public var samplesPerSecond: Double
    public var etaSeconds: Double
    /// "step 120/1000  loss 0.0412  7.9 samples/s  ETA 18m 32s"
    public var line: String {
        String(format: "step %d/%d  loss %.4f  %.1f samples/s  ETA %@", step, totalSteps, loss, samplesPerSecond,
               formatDuration(etaSeconds))
    }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite else { return "?" }
    let t = Int(s.rounded())
    if t >= 3600 { return "\(t / 3600)h \(t % 3600 / 60)m" }
    if t >= 60 { return "\(t / 60)m \(t % 60)s" }
    return "\(t)s"
}

/// The training loop: DDPM objective, caption dropout, gradient accumulation, clipping, AdamW with
/// warm-up + cosine learning rate, EMA. All randomness (batch picks, dropout, timesteps, noise) comes from
/// one TrainingRNG saved in the checkpoint, so a resumed run repeats the straight run exactly.
public final class Trainer {
    public let config: TrainConfig
    public let model: TextToImageModel
    public let schedule: NoiseScheduleTable
    /// Draws the training timesteps (uniform, or diffusers' timestep bias).
    var timestepSampler: TimestepSampler
    public internal(set) var optimizer: AdamW
    public internal(set) var ema: EMA
    public internal(set) var rng: TrainingRNG
    /// Optimiser steps taken.
    public internal(set) var step = 0
    /// Mean loss of every optimiser step so far.
    public internal(set) var losses: [Float] = []
    /// Wall-clock seconds spent training, summed over all runs of this checkpoint.
    public internal(set) var trainingSeconds = 0.0
    /// Extra metadata carried into every checkpoint (e.g. dataset provenance).
    public var extraMetadata: [String: String] = [:]
    /// Model copies for data parallelism (DataParallel.swift), made on first use.
    var replicas: [TextToImageModel] = []

    /// A new run. An empty `config.model.vocabulary` is filled from the dataset's captions.
    public init(config: TrainConfig, dataset: TrainingDataset) throws {
        _ = ProcessHeap.keepFreedMemory
        var config = config
        if config.model.vocabulary.isEmpty { config.model.vocabulary = WordTokenizer.vocabulary(of: dataset.captions) }
        if let p = config.problem() { throw TrainingError("config: \(p)") }
        try Self.check(config, dataset)
        self.config = config
        model = try TextToImageModel(config: config.model, seed: config.seed)
        schedule = try NoiseScheduleTable(config)
        timestepSampler = TimestepSampler(config)
        optimizer = AdamW(beta1: config.beta1, beta2: config.beta2, eps: config.adamEps, weightDecay: config.weightDecay)
        ema = EMA(model.parameters, maxDecay: config.emaDecay)
        rng = TrainingRNG(seed: config.seed ^ 0x5EED_0F_7EA1)
        extraMetadata = dataset.provenance
    }

    /// Restored state (see TrainingCheckpoint.load).
    init(config: TrainConfig, model: TextToImageModel, optimizer: AdamW, ema: EMA, rng: TrainingRNG, step: Int,
         losses: [Float], trainingSeconds: Double) throws {
        _ = ProcessHeap.keepFreedMemory
        self.config = config
        self.model = model
        schedule = try NoiseScheduleTable(config)
        timestepSampler = TimestepSampler(config)
        self.optimizer = optimizer; self.ema = ema; self.rng = rng
        self.step = step; self.losses = losses; self.trainingSeconds = trainingSeconds
    }

    static func check(_ config: TrainConfig, _ dataset: TrainingDataset) throws {
        guard dataset.count > 0 else { throw TrainingError("the dataset has no images") }
        guard dataset.imageSize == config.model.imageSize else {
            throw TrainingError("the dataset's images are \(dataset.imageSize)×\(dataset.imageSize) but the model is "
                + "configured for \(config.model.imageSize)×\(config.model.imageSize); set model.imageSize to match")
        }
    }

    /// One optimiser step over `gradientAccumulation` micro-batches; returns the mean loss.
    @discardableResult
    public func trainStep(_ dataset: TrainingDataset) -> Float {
        let params = model.parameters
        let models = [model] + dataParallelReplicas()
        TrainProfile.time(.optimizer) { zeroGradients(params) }   // the copies' grads are zeroed as they are added
        let micro = config.gradientAccumulation
        var total: Float = 0
        for _ in 0..<micro {
            let (captions, timesteps, batch) = TrainProfile.time(.data) {
                let b = config.batchSize
                let indices = (0..<b).map { _ in rng.nextInt(dataset.count) }
                let captions = Self.dropCaptions(indices.map { dataset.captions[$0] }, probability: config.captionDropout, rng: &rng)
                let timesteps = (0..<b).map { _ in timestepSampler.draw(&rng) }
                let x0 = dataset.batch(indices)                                 // [B, 3, S, S]
                let noise = rng.normals(x0.shape)
                return (captions, timesteps, schedule.noised(x0, noise: noise, timesteps: timesteps, prediction: config.prediction))
            }
            if models.count == 1 {
                let out = model.forward(batch.noisy, timesteps: timesteps.map(Float.init), captions: captions)
                var (loss, grad) = TrainProfile.time(.data) { mseLoss(out, batch.target) }
                if micro > 1 { grad = scale(grad, 1 / Float(micro)) }
                model.backward(grad)
                total += loss
            } else {
                total += dataParallelPass(models, captions: captions, timesteps: timesteps, noisy: batch.noisy,
                                          target: batch.target, micro: micro)
            }
        }
        if models.count > 1 { reduceGradients(models) }
        // Clipping, AdamW and the EMA in one pass over the weights (the same arithmetic as clipGradNorm,
        // optimizer.update and ema.update one after another; the clipped gradients are not stored back).
        TrainProfile.time(.optimizer) {
            let clip = gradClipFactor(params, maxNorm: config.maxGradNorm).coef
            let lr = config.learningRate * cosineWarmupFactor(step: step, warmup: config.warmupSteps, total: config.steps)
            optimizer.update(params, lr: lr, gradScale: clip, ema: &ema)
        }
        step += 1
        let mean = total / Float(micro)
        losses.append(mean)
        return mean
    }

    /// Caption dropout for classifier-free guidance: each caption becomes "" with `probability`, so the model
    /// also learns the unconditional prediction that guidance extrapolates away from.
    public static func dropCaptions(_ captions: [String], probability: Float, rng: inout TrainingRNG) -> [String] {
        captions.map { rng.nextUniform() < probability ? "" : $0 }
    }

    /// Trains until `config.steps` (or `until`) optimiser steps are done, calling `onProgress` every
    /// `logEvery` steps and `onCheckpoint` every `checkpointEvery` steps.
    public func run(_ dataset: TrainingDataset, until: Int? = nil, onProgress: (TrainingProgress) -> Void = { _ in },
                    onCheckpoint: (Trainer) throws -> Void = { _ in }) throws {
        try Self.check(config, dataset)
        extraMetadata.merge(dataset.provenance) { _, new in new }
        let end = until ?? config.steps
        let start = Date(), firstStep = step
        var window: [Float] = []
        while step < end {
            let t0 = Date()
            window.append(trainStep(dataset))
            trainingSeconds += Date().timeIntervalSince(t0)
            if config.logEvery > 0 && (step % config.logEvery == 0 || step == end) {
                let elapsed = Date().timeIntervalSince(start), done = step - firstStep
                let perStep = elapsed / Double(max(done, 1))
                onProgress(TrainingProgress(step: step, totalSteps: end, loss: window.reduce(0, +) / Float(window.count),
                                            samplesPerSecond: Double(config.batchSize * config.gradientAccumulation) / perStep,
                                            etaSeconds: perStep * Double(end - step)))
                window.removeAll()
            }
            if config.checkpointEvery > 0 && step % config.checkpointEvery == 0 && step < end { try onCheckpoint(self) }
        }
    }
}
