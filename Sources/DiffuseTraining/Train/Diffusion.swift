import DiffuseCore
import Foundation

/// DDPM training objective (Ho et al. 2020) as diffusers' DDPMScheduler.add_noise / get_velocity compute it:
///   x_t = √ᾱ_t · x0 + √(1 − ᾱ_t) · ε,  target ε (epsilon) or v = √ᾱ_t · ε − √(1 − ᾱ_t) · x0 (v_prediction).
/// Betas as DDPMScheduler makes them (linear or scaled_linear, float32), ᾱ = cumprod(1 − β) accumulated in
/// Double and rounded to float32 per entry (torch.cumprod on the CPU). Leaves out squaredcos_cap_v2 and
/// zero-terminal-SNR rescaling.
public struct NoiseScheduleTable: Sendable, Equatable {
    public let alphasCumprod: [Float]

    public init(schedule: String, betaStart: Double, betaEnd: Double, timesteps: Int) throws {
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
        var product = 1.0
        alphasCumprod = betas.map { product *= Double(1 - $0); return Float(product) }
    }

    public var count: Int { alphasCumprod.count }
}

/// torch.linspace(start, end, n) in float32: the first half counts up from start, the second half down from end.
func linspace(_ start: Float, _ end: Float, _ n: Int) -> [Float] {
    let step = (end - start) / Float(n - 1)
    return (0..<n).map { i in i < n / 2 ? start + step * Float(i) : end - step * Float(n - 1 - i) }
}

public enum PredictionType: String, Codable, Sendable { case epsilon, vPrediction = "v_prediction" }

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
                target.data[i] = prediction == .epsilon ? noise.data[i] : sa * noise.data[i] - s1 * x0.data[i]
            }
        }
        return NoisedBatch(noisy: noisy, timesteps: timesteps, target: target)
    }
}
