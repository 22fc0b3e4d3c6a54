import Foundation

/// Everything a training run depends on; recorded as JSON in every checkpoint. A config file may give any
/// subset of the keys (the rest keep these defaults).
public struct TrainConfig: Codable, Equatable, Sendable {
    public var model = ModelConfig()
    public var steps = 1000
    public var batchSize = 8
    /// Micro-batches per optimiser step (gradients summed, each loss divided by this).
    public var gradientAccumulation = 1
    public var learningRate: Float = 3e-4
    public var warmupSteps = 100
    public var weightDecay: Float = 0.01
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var adamEps: Float = 1e-8
    public var maxGradNorm: Float = 1.0
    public var emaDecay: Float = 0.999
    /// Probability of training on the empty caption (classifier-free guidance).
    public var captionDropout: Float = 0.1
    public var prediction = PredictionType.epsilon
    public var betaSchedule = "linear"
    public var betaStart = 0.0001
    public var betaEnd = 0.02
    public var timesteps = 1000
    /// diffusers' `rescale_betas_zero_snr` (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps
    /// are Flawed"): shift and scale √ᾱ so the last timestep is pure noise. Without it the linear schedule leaves
    /// √ᾱ_T = 0.0064 of the image in x_T, and for flat-coloured 64×64 pictures the mean over 4,096 pixels makes
    /// that visible (SNR ≈ 0.4 per colour at t = 999, ≈ 2.6 at t = 800): the model learned to read the
    /// background from the noise and ignored the caption. Needs v- or sample-prediction (ε cannot give x0 at ᾱ = 0).
    public var rescaleBetasZeroSnr = false
    /// How DDIM picks its timesteps at sampling time, as diffusers' `timestep_spacing`: "leading"
    /// (k·T/n: 950 … 0 for 20 steps) or "trailing" (T − k·T/n − 1: 999 … 49), which starts at the pure-noise
    /// step a zero-terminal-SNR schedule trains.
    public var timestepSpacing = "leading"
    /// diffusers' `--timestep_bias_strategy` / `_multiplier` / `_portion` / `_begin` / `_end` (see
    /// TimestepBias.swift): "none" draws training timesteps uniformly; "later" gives the noisiest
    /// ⌊portion·T⌋ timesteps `multiplier` times the weight of the others, "earlier" the least noisy, "range"
    /// begin ..< end.
    public var timestepBiasStrategy = "none"
    public var timestepBiasMultiplier: Float = 1
    public var timestepBiasPortion: Float = 0.25
    public var timestepBiasBegin = 0
    public var timestepBiasEnd = 1000
    public var seed: UInt64 = 0
    /// Steps between progress lines / checkpoint saves (0: only at the end).
    public var logEvery = 10
    public var checkpointEvery = 500

    public init() {}

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.model, &model); try read(.steps, &steps); try read(.batchSize, &batchSize)
        try read(.gradientAccumulation, &gradientAccumulation); try read(.learningRate, &learningRate)
        try read(.warmupSteps, &warmupSteps); try read(.weightDecay, &weightDecay); try read(.beta1, &beta1)
        try read(.beta2, &beta2); try read(.adamEps, &adamEps); try read(.maxGradNorm, &maxGradNorm)
        try read(.emaDecay, &emaDecay); try read(.captionDropout, &captionDropout); try read(.prediction, &prediction)
        try read(.betaSchedule, &betaSchedule); try read(.betaStart, &betaStart); try read(.betaEnd, &betaEnd)
        try read(.timesteps, &timesteps); try read(.seed, &seed); try read(.logEvery, &logEvery)
        try read(.checkpointEvery, &checkpointEvery)
        try read(.rescaleBetasZeroSnr, &rescaleBetasZeroSnr); try read(.timestepSpacing, &timestepSpacing)
        try read(.timestepBiasStrategy, &timestepBiasStrategy); try read(.timestepBiasMultiplier, &timestepBiasMultiplier)
        try read(.timestepBiasPortion, &timestepBiasPortion); try read(.timestepBiasBegin, &timestepBiasBegin)
        try read(.timestepBiasEnd, &timestepBiasEnd)
    }

    /// Reads a JSON config file; unknown keys are refused so a typo does not silently train with a default.
    public static func load(_ url: URL) throws -> TrainConfig {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TrainingError("\(url.path): cannot read the config file; check the path")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TrainingError("\(url.path): not a JSON object; write the config as {\"steps\": 1000, ...}")
        }
        let known = Set(["model", "steps", "batchSize", "gradientAccumulation", "learningRate", "warmupSteps",
                         "weightDecay", "beta1", "beta2", "adamEps", "maxGradNorm", "emaDecay", "captionDropout",
                         "prediction", "betaSchedule", "betaStart", "betaEnd", "timesteps", "seed", "logEvery",
                         "checkpointEvery", "rescaleBetasZeroSnr", "timestepSpacing", "timestepBiasStrategy",
                         "timestepBiasMultiplier", "timestepBiasPortion", "timestepBiasBegin", "timestepBiasEnd"])
        if let bad = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw TrainingError("\(url.path): unknown key \"\(bad)\"; known keys: \(known.sorted().joined(separator: ", "))")
        }
        do {
            return try JSONDecoder().decode(TrainConfig.self, from: data)
        } catch {
            throw TrainingError("\(url.path): a value has the wrong type (\(decodingPath(error))); check the config")
        }
    }

    /// One line naming the first impossible value, or nil.
    public func problem() -> String? {
        if steps < 1 { return "steps must be ≥ 1 (got \(steps))" }
        if batchSize < 1 { return "batchSize must be ≥ 1 (got \(batchSize))" }
        if gradientAccumulation < 1 { return "gradientAccumulation must be ≥ 1 (got \(gradientAccumulation))" }
        if !(learningRate > 0 && learningRate.isFinite) { return "learningRate must be a positive number (got \(learningRate))" }
        if warmupSteps < 0 { return "warmupSteps must be ≥ 0 (got \(warmupSteps))" }
        if !(0..<1).contains(beta1) || !(0..<1).contains(beta2) { return "beta1 and beta2 must be in [0, 1)" }
        if !(adamEps > 0) || weightDecay < 0 { return "adamEps must be > 0 and weightDecay ≥ 0" }
        if !(maxGradNorm > 0) { return "maxGradNorm must be > 0 (got \(maxGradNorm))" }
        if !(0...1).contains(emaDecay) { return "emaDecay must be in [0, 1] (got \(emaDecay))" }
        if !(0...1).contains(captionDropout) { return "captionDropout must be in [0, 1] (got \(captionDropout))" }
        if logEvery < 0 || checkpointEvery < 0 { return "logEvery and checkpointEvery must be ≥ 0" }
        if !["leading", "trailing"].contains(timestepSpacing) {
            return "timestepSpacing must be \"leading\" or \"trailing\" (got \"\(timestepSpacing)\")"
        }
        if let p = timestepBiasProblem() { return p }
        if rescaleBetasZeroSnr && prediction == .epsilon {
            return "rescaleBetasZeroSnr needs prediction \"v_prediction\" or \"sample\": ε-prediction cannot recover the image at zero SNR"
        }
        return model.problem()
    }

    public var json: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// The key path a JSON decoding error points at ("model.channels").
func decodingPath(_ error: Error) -> String {
    if case let DecodingError.typeMismatch(_, ctx) = error { return ctx.codingPath.map(\.stringValue).joined(separator: ".") }
    if case let DecodingError.dataCorrupted(ctx) = error { return ctx.codingPath.map(\.stringValue).joined(separator: ".") }
    return "\(error)"
}
