import Foundation

/// DDPM ancestral sampling; matches diffusers' `DDPMScheduler` (0.42.1) with variance_type
/// fixed_small / fixed_small_log / fixed_large. Noise is drawn on every step whose timestep is > 0.
/// Leaves out: learned / learned_range variances, thresholding, custom timesteps.
struct DDPMSampler: SamplerCore {
    let config: ResolvedConfig
    let alphasCumprod: [Float]
    let steps: [Int]
    var timesteps: [Float] { steps.map(Float.init) }

    init(_ c: ResolvedConfig, _ s: NoiseSchedule, steps n: Int) {
        config = c
        alphasCumprod = s.alphasCumprod
        steps = discreteTimesteps(c, steps: n)
    }

    mutating func begin(atCall i: Int) {}

    func step<N: NoiseSource>(modelOutput: Tensor, call i: Int, sample: Tensor, noise: inout N) -> Tensor {
        let t = steps[i]
        let prevT = i + 1 < steps.count ? steps[i + 1] : -1  // previous_timestep(): the next entry
        let aT = alphasCumprod[t]
        let aPrev: Float = prevT >= 0 ? alphasCumprod[prevT] : 1
        let bT = 1 - aT, bPrev = 1 - aPrev
        let currentAlpha = aT / aPrev
        let currentBeta = 1 - currentAlpha
        var x0 = alphaPredictedOriginal(config.prediction, model: modelOutput, sample: sample, alphaProd: aT)
        if config.clipSample {
            let r = config.clipSampleRange
            x0 = x0.map { min(max($0, -r), r) }
        }
        let x0Coeff = aPrev.squareRoot() * currentBeta / bT
        let sampleCoeff = currentAlpha.squareRoot() * bPrev / bT
        var prev = x0.zip(sample) { x, s in x0Coeff * x + sampleCoeff * s }
        if t > 0 {
            let z = noise.randn(modelOutput.shape)
            // _get_variance(t): the posterior variance, clamped away from 0.
            let variance = max((1 - aPrev) / (1 - aT) * (1 - aT / aPrev), 1e-20)
            let std: Float
            switch config.varianceType {
            case "fixed_small_log": std = exp(0.5 * log(variance))
            case "fixed_large": std = (1 - aT / aPrev).squareRoot()
            default: std = variance.squareRoot()
            }
            prev = prev.zip(z) { p, z in p + std * z }
        }
        return prev
    }

    func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor {
        alphaAddNoise(original: original, noise: noise, alphaProd: alphasCumprod[steps[i]])
    }

    func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor {
        alphaPredictedOriginal(config.prediction, model: modelOutput, sample: sample, alphaProd: alphasCumprod[steps[i]])
    }
}

/// DDIM (Song et al. 2020); matches diffusers' `DDIMScheduler` (0.42.1), including eta > 0 with
/// noise drawn after the deterministic update. The previous timestep is always
/// t - num_train_timesteps // steps, as diffusers computes it for every spacing.
/// Leaves out: thresholding, use_clipped_model_output, rescale_betas_zero_snr.
struct DDIMSampler: SamplerCore {
    let config: ResolvedConfig
    let alphasCumprod: [Float]
    let finalAlphaCumprod: Float
    let steps: [Int]
    let stride: Int
    let eta: Float
    var timesteps: [Float] { steps.map(Float.init) }

    init(_ c: ResolvedConfig, _ s: NoiseSchedule, steps n: Int, eta: Float) {
        config = c
        alphasCumprod = s.alphasCumprod
        finalAlphaCumprod = c.setAlphaToOne ? 1 : s.alphasCumprod[0]
        steps = discreteTimesteps(c, steps: n)
        stride = c.numTrainTimesteps / n
        self.eta = eta
    }

    mutating func begin(atCall i: Int) {}

    func step<N: NoiseSource>(modelOutput m: Tensor, call i: Int, sample s: Tensor, noise: inout N) -> Tensor {
        let t = steps[i], prevT = steps[i] - stride
        let aT = alphasCumprod[t]
        let aPrev = prevT >= 0 ? alphasCumprod[prevT] : finalAlphaCumprod
        let bT = 1 - aT
        let sqrtA = aT.squareRoot(), sqrtB = bT.squareRoot()
        var x0: Tensor, eps: Tensor
        switch config.prediction {
        case .epsilon:
            x0 = s.zip(m) { s, m in (s - sqrtB * m) / sqrtA }
            eps = m
        case .sample:
            x0 = m
            eps = s.zip(m) { s, x in (s - sqrtA * x) / sqrtB }
        case .vPrediction:
            x0 = s.zip(m) { s, m in sqrtA * s - sqrtB * m }
            eps = s.zip(m) { s, m in sqrtA * m + sqrtB * s }
        }
        if config.clipSample {
            let r = config.clipSampleRange
            x0 = x0.map { min(max($0, -r), r) }
        }
        let variance = ((1 - aPrev) / bT) * (1 - aT / aPrev)
        let std = eta * variance.squareRoot()
        let dirCoeff = ((1 - aPrev) - std * std).squareRoot()
        let sqrtAPrev = aPrev.squareRoot()
        var prev = x0.zip(eps) { x, e in sqrtAPrev * x + dirCoeff * e }
        if eta > 0 {
            let z = noise.randn(m.shape)
            prev = prev.zip(z) { p, z in p + std * z }
        }
        return prev
    }

    func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor {
        alphaAddNoise(original: original, noise: noise, alphaProd: alphasCumprod[steps[i]])
    }

    func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor {
        alphaPredictedOriginal(config.prediction, model: modelOutput, sample: sample, alphaProd: alphasCumprod[steps[i]])
    }
}

/// Latent Consistency Model multistep sampling; matches diffusers' `LCMScheduler` (0.42.1) with
/// strength 1 in set_timesteps (img2img goes through `begin(atCall:)` like the other samplers).
/// Every call but the last re-noises the consistency estimate with fresh noise.
/// Leaves out: custom timesteps, thresholding.
struct LCMSampler: SamplerCore {
    let config: ResolvedConfig
    let alphasCumprod: [Float]
    let finalAlphaCumprod: Float
    let steps: [Int]
    var timesteps: [Float] { steps.map(Float.init) }

    init(_ c: ResolvedConfig, _ s: NoiseSchedule, steps n: Int) throws {
        let original = c.originalInferenceSteps
        guard original >= 1, original <= c.numTrainTimesteps else {
            throw SamplingError("scheduler config: original_inference_steps \(original) must be in 1...\(c.numTrainTimesteps)")
        }
        guard n <= original else {
            throw SamplingError("--steps \(n) is too many for LCM; use at most \(original) (original_inference_steps)")
        }
        config = c
        alphasCumprod = s.alphasCumprod
        finalAlphaCumprod = c.setAlphaToOne ? 1 : s.alphasCumprod[0]
        let k = c.numTrainTimesteps / original
        let origin = (1...original).map { $0 * k - 1 }.reversed().map { $0 }
        steps = npLinspace(0, Double(origin.count), n, endpoint: false).map { origin[Int($0.rounded(.down))] }
    }

    mutating func begin(atCall i: Int) {}

    func step<N: NoiseSource>(modelOutput m: Tensor, call i: Int, sample s: Tensor, noise: inout N) -> Tensor {
        let t = steps[i]
        let prevT = i + 1 < steps.count ? steps[i + 1] : t
        let aT = alphasCumprod[t]
        let aPrev = prevT >= 0 ? alphasCumprod[prevT] : finalAlphaCumprod
        // Boundary-condition scalings with sigma_data = 0.5 (c_skip → 1, c_out → 0 as t → 0).
        let scaled = Float(t) * config.timestepScaling
        let cSkip = 0.25 / (scaled * scaled + 0.25)
        let cOut = scaled / (scaled * scaled + 0.25).squareRoot()
        var x0 = alphaPredictedOriginal(config.prediction, model: m, sample: s, alphaProd: aT)
        if config.clipSample {
            let r = config.clipSampleRange
            x0 = x0.map { min(max($0, -r), r) }
        }
        let denoised = x0.zip(s) { x, s in cOut * x + cSkip * s }
        guard i != steps.count - 1 else { return denoised }
        let z = noise.randn(m.shape)
        let sqrtA = aPrev.squareRoot(), sqrtB = (1 - aPrev).squareRoot()
        return denoised.zip(z) { d, z in sqrtA * d + sqrtB * z }
    }

    func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor {
        alphaAddNoise(original: original, noise: noise, alphaProd: alphasCumprod[steps[i]])
    }

    func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor {
        alphaPredictedOriginal(config.prediction, model: modelOutput, sample: sample, alphaProd: alphasCumprod[steps[i]])
    }
}
