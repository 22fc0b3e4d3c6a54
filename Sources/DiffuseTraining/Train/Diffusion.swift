import DiffuseCore
import Foundation

/// DDPM training objective (Ho et al. 2020) as diffusers' DDPMScheduler.add_noise / get_velocity compute it:
///   x_t = √ᾱ_t · x0 + √(1 − ᾱ_t) · ε,  target ε (epsilon), v = √ᾱ_t · ε − √(1 − ᾱ_t) · x0 (v_prediction) or
///   x0 itself (sample; plain MSE on x0, as diffusers' train_text_to_image does for that type).
/// Betas as DDPMScheduler makes them (linear or scaled_linear, float32), ᾱ = cumprod(1 − β) accumulated in
/// Double and rounded to float32 per entry (torch.cumprod on the CPU). Leaves out squaredcos_cap_v2 and
/// With `rescaleZeroSnr`, diffusers' rescale_zero_terminal_snr on those betas (float32, as torch does it).
/// Leaves out squaredcos_cap_v2.
public struct NoiseScheduleTable: Sendable, Equatable {
    public let alphasCumprod: [Float]

    /// The schedule a training config describes.
    public init(_ c: TrainConfig) throws {
        try self.init(schedule: c.betaSchedule, betaStart: c.betaStart, betaEnd: c.betaEnd, timesteps: c.timesteps,
                      rescaleZeroSnr: c.rescaleBetasZeroSnr)
    }

    public init(schedule: String, betaStart: Double, betaEnd: Double, timesteps: Int, rescaleZeroSnr: Bool = false) throws {
        guard timesteps >= 2 else { throw TrainingError("diffusion.timesteps must be ≥ 2 (got \(timesteps))") }
        guard betaStart > 0, betaEnd < 1, betaStart <= betaEnd else {
            throw TrainingError("diffusion betas must satisfy 0 < betaStart ≤ betaEnd < 1 (got \(betaStart), \(betaEnd))")
        }
        let betas: [Float]
        switch schedule {
        case "linear": betas = linspace(Float(betaStart), Float(betaEnd), timesteps)
        case "scaled_linear":
            betas = linspace(Float(betaStart.squareRoot()), Float(betaEnd.squareRoot()), timesteps).map { $0 * $0 }
        default: throw TrainingError("diffusion.betaSchedule \"\(schedule)\" is not supported; use linear or scaled_linear")
        }
        alphasCumprod = cumulativeAlphas(rescaleZeroSnr ? zeroTerminalSnrBetas(betas) : betas)
    }

    public var count: Int { alphasCumprod.count }
}

/// ᾱ_t = ∏(1 − β), accumulated in Double and rounded per entry (torch.cumprod's float32 result on the CPU).
func cumulativeAlphas(_ betas: [Float]) -> [Float] {
    var product = 1.0
    return betas.map { product *= Double(1 - $0); return Float(product) }
}

/// diffusers' rescale_zero_terminal_snr: √ᾱ shifted so the last is 0 and scaled so the first is unchanged,
/// then turned back into betas (the last becomes 1). Float32 throughout, as the torch original.
func zeroTerminalSnrBetas(_ betas: [Float]) -> [Float] {
    var root = cumulativeAlphas(betas).map { $0.squareRoot() }
    let first = root[0], last = root[root.count - 1]
    root = root.map { ($0 - last) * (first / (first - last)) }
    let bar = root.map { $0 * $0 }
    return bar.indices.map { i in 1 - (i == 0 ? bar[0] : bar[i] / bar[i - 1]) }
}

/// torch.linspace(start, end, n) in float32: the first half counts up from start, the second half down from end.
func linspace(_ start: Float, _ end: Float, _ n: Int) -> [Float] {
    let step = (end - start) / Float(n - 1)
    return (0..<n).map { i in i < n / 2 ? start + step * Float(i) : end - step * Float(n - 1 - i) }
}

/// What the network predicts (diffusers' `prediction_type`): the noise ε, the velocity v, or the clean image
/// x0 ("sample"). For the built-in model's flat-coloured pictures "sample" is the one whose ideal output never
/// contains noise: with v the network has to reproduce the input noise with a gain √ᾱ_t that goes from 0 at
/// t = 999 to 1 at t = 0, and a v-model trained for 15,600 steps leaked ≈ 9% of x_T into x̂0 at t = 999 — pixel
/// noise (std ≈ 19 of 255) in every sample, which the evaluator counted as extra objects.
public enum PredictionType: String, Codable, Sendable { case epsilon, vPrediction = "v_prediction", sample }

/// One noised batch: the model input, its timesteps and the regression target.
public struct NoisedBatch {
    public var noisy: Tensor      // [B, 3, S, S]
    public var timesteps: [Int]   // [B]
    public var target: Tensor     // [B, 3, S, S]
}

extension NoiseScheduleTable {
    /// x0 [B, C, H, W] and noise of the same shape at integer timesteps → noisy input and target.
    public func noised(_ x0: Tensor, noise: Tensor, timesteps: [Int], prediction: PredictionType) -> NoisedBatch {
        let b = x0.shape[0], per = x0.count / b
        var noisy = Tensor(zeros: x0.shape), target = Tensor(zeros: x0.shape)
        for n in 0..<b {
            let ac = alphasCumprod[timesteps[n]]
            let sa = ac.squareRoot(), s1 = (1 - ac).squareRoot()
            for i in (n * per)..<((n + 1) * per) {
                noisy.data[i] = sa * x0.data[i] + s1 * noise.data[i]
                switch prediction {
                case .epsilon: target.data[i] = noise.data[i]
                case .vPrediction: target.data[i] = sa * noise.data[i] - s1 * x0.data[i]
                case .sample: target.data[i] = x0.data[i]
                }
            }
        }
        return NoisedBatch(noisy: noisy, timesteps: timesteps, target: target)
    }
}
