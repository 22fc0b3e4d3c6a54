/// Which training timesteps a step draws: uniform over 0 ..< T, or diffusers' timestep bias
/// (`generate_timestep_weights` in examples/text_to_image/train_text_to_image_sdxl.py: weight 1 per timestep,
/// `multiplier` on the biased ones — the last ⌊portion·T⌋ for "later" (the noisiest), the first for
/// "earlier", begin ..< end for "range" — normalised, then drawn with replacement). Same distribution as
/// diffusers; the draws come from our TrainingRNG, not torch's multinomial, so not the same numbers.
///
/// Why: the layout of a picture (where each object goes) is settled in the noisiest steps, where the
/// caption is the only information; uniform sampling spends a quarter of the steps there.
struct TimestepSampler: Sendable {
    /// Cumulative probabilities (last = 1), or nil for uniform, which keeps the draws of runs that predate
    /// the bias bit for bit (one `nextInt` per timestep).
    private let cumulative: [Double]?
    let count: Int

    init(_ config: TrainConfig) {
        count = config.timesteps
        guard let biased = config.timestepBiasRange, config.timestepBiasMultiplier != 1 else { cumulative = nil; return }
        var weights = [Double](repeating: 1, count: count)
        for t in biased { weights[t] = Double(config.timestepBiasMultiplier) }
        let total = weights.reduce(0, +)
        var sum = 0.0
        cumulative = weights.map { sum += $0; return sum / total }
    }

    /// Probability of timestep t (for tests and the run's summary line).
    func probability(_ t: Int) -> Double {
        guard let c = cumulative else { return 1 / Double(count) }
        return c[t] - (t > 0 ? c[t - 1] : 0)
    }

    func draw(_ rng: inout TrainingRNG) -> Int {
        guard let c = cumulative else { return rng.nextInt(count) }
        // 53 random bits → u in [0, 1); the first t with cumulative[t] > u.
        let u = Double(rng.next() >> 11) * 0x1p-53
        var lo = 0, hi = count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if c[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}

extension TrainConfig {
    /// The timesteps `timestepBiasMultiplier` applies to, or nil for "none".
    public var timestepBiasRange: Range<Int>? {
        let n = Int(Double(timestepBiasPortion) * Double(timesteps))
        switch timestepBiasStrategy {
        case "later": return (timesteps - n)..<timesteps
        case "earlier": return 0..<n
        case "range": return timestepBiasBegin..<timestepBiasEnd
        default: return nil
        }
    }

    /// One line naming an impossible timestep-bias setting, or nil.
    func timestepBiasProblem() -> String? {
        let strategies = ["none", "earlier", "later", "range"]
        if !strategies.contains(timestepBiasStrategy) {
            return "timestepBiasStrategy must be one of \(strategies.map { "\"\($0)\"" }.joined(separator: ", ")) (got \"\(timestepBiasStrategy)\")"
        }
        if !(timestepBiasMultiplier > 0 && timestepBiasMultiplier.isFinite) {
            return "timestepBiasMultiplier must be a positive number (got \(timestepBiasMultiplier))"
        }
        switch timestepBiasStrategy {
        case "later", "earlier":
            if !(timestepBiasPortion > 0 && timestepBiasPortion <= 1) || Int(Double(timestepBiasPortion) * Double(timesteps)) < 1 {
                return "timestepBiasPortion must be in (0, 1] and cover at least one of the \(timesteps) timesteps (got \(timestepBiasPortion))"
            }
        case "range":
            if !(0 <= timestepBiasBegin && timestepBiasBegin < timestepBiasEnd && timestepBiasEnd <= timesteps) {
                return "timestepBiasBegin ..< timestepBiasEnd must lie in 0 ..< \(timesteps) and not be empty (got \(timestepBiasBegin) ..< \(timestepBiasEnd))"
            }
        default: break
        }
        return nil
    }
}
