import Foundation

/// DPM-Solver++ multistep (Lu et al. 2022), data-prediction form, matching diffusers'
/// `DPMSolverMultistepScheduler` (0.42.1) with algorithm_type dpmsolver++, solver_order 1 or 2,
/// solver_type midpoint or heun, lower_order_final, final_sigmas_type zero or sigma_min, optional
/// Karras sigmas (rounded back to integer timesteps, except on the cosine schedule).
/// The method's order at call i is min(i - begin, solver_order), dropped to 1 for the final call
/// (as diffusers' lower_order_nums / lower_order_final); its only carried state is the previous x0.
/// Leaves out: 3rd order, SDE and non-++ variants, Lu lambdas, exponential/beta/flow sigmas,
/// thresholding, custom timesteps.
struct DPMSolverSampler: SamplerCore {
    let config: ResolvedConfig
    let timesteps: [Float]
    let sigmaValues: [Float]
    var sigmas: [Float]? { sigmaValues }

    private var first = 0
    private var previousX0: Tensor?

    init(_ c: ResolvedConfig, _ s: NoiseSchedule, steps n: Int) {
        config = c
        let train = s.trainSigmas
        let last = Self.lastTimestep(c, s)
        var t = Self.baseTimesteps(c, steps: n, last: last)
        var sig: [Float]
        if c.useKarrasSigmas {
            let logSigmas = train.map { log($0) }
            let karras = karrasSigmas(min: Double(train[0]), max: Double(train[train.count - 1]), count: n)
            let raw = karras.map { sigmaToT($0, logSigmas) }
            // Rounded (half to even) except on the cosine schedule, then cast to int64 (truncation).
            t = raw.map { Int(c.betaSchedule == "squaredcos_cap_v2" ? $0 : npRound($0)) }
            sig = karras.map(Float.init)
        } else {
            sig = t.map { Float(npInterp(Double($0), train)) }
        }
        sig.append(c.finalSigmasZero ? 0 : train[0])
        timesteps = t.map(Float.init)
        sigmaValues = sig
    }

    /// num_train_timesteps minus the count of lambdas below lambda_min_clipped (all of them kept
    /// by default).
    private static func lastTimestep(_ c: ResolvedConfig, _ s: NoiseSchedule) -> Int {
        guard c.lambdaMinClipped > -.infinity else { return c.numTrainTimesteps }
        let lambdas = s.alphasCumprod.map { log($0.squareRoot()) - log((1 - $0).squareRoot()) }
        // searchsorted(flip(lambda_t), lambda_min_clipped), left side.
        let ascending = Array(lambdas.reversed())
        let clipped = ascending.firstIndex { Double($0) >= c.lambdaMinClipped } ?? ascending.count
        return c.numTrainTimesteps - clipped
    }

    private static func baseTimesteps(_ c: ResolvedConfig, steps n: Int, last: Int) -> [Int] {
        switch c.timestepSpacing {
        case "leading":
            let ratio = last / (n + 1)
            return (1...n).reversed().map { $0 * ratio + c.stepsOffset }
        case "trailing":
            return npArange(Double(last), 0, -Double(c.numTrainTimesteps) / Double(n)).map { Int(npRound($0)) - 1 }
        default:
            return npLinspace(0, Double(last - 1), n + 1).reversed().dropLast().map { Int(npRound($0)) }
        }
    }

    /// alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t (VP form of a k-sigma).
    private static func alphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
        let a = 1 / (sigma * sigma + 1).squareRoot()
        return (a, sigma * a)
    }

    private static func lambda(_ p: (alpha: Float, sigma: Float)) -> Float { log(p.alpha) - log(p.sigma) }

    mutating func begin(atCall i: Int) {
        first = i
        previousX0 = nil
    }

    mutating func step<N: NoiseSource>(modelOutput m: Tensor, call i: Int, sample s: Tensor, noise: inout N) -> Tensor {
        let n = timesteps.count
        let lowerOrderFinal = i == n - 1
            && (config.eulerAtFinal || (config.lowerOrderFinal && n < 15) || config.finalSigmasZero)
        // diffusers' lower_order_second only caps the order at 2, the highest offered here.
        let x0 = convertModelOutput(m, sample: s, call: i)
        let previous = previousX0
        previousX0 = x0
        let lowerOrderNums = min(i - first, config.solverOrder)
        let now = Self.alphaSigma(sigmaValues[i + 1]), s0 = Self.alphaSigma(sigmaValues[i])
        let h = Self.lambda(now) - Self.lambda(s0)
        let ratio = now.sigma / s0.sigma
        let c0 = now.alpha * (exp(-h) - 1)
        guard config.solverOrder > 1, lowerOrderNums >= 1, !lowerOrderFinal, let previous else {
            return s.zip(x0) { s, x in ratio * s - c0 * x }
        }
        let s1 = Self.alphaSigma(sigmaValues[i - 1])
        let r0 = (Self.lambda(s0) - Self.lambda(s1)) / h
        let invR0 = 1 / r0
        let d1 = x0.zip(previous) { m0, m1 in invR0 * (m0 - m1) }
        if config.secondOrderHeun {
            let c1 = now.alpha * ((exp(-h) - 1) / h + 1)
            return s.zip(x0, d1) { s, d0, d1 in (ratio * s - c0 * d0) + c1 * d1 }
        }
        let c1 = 0.5 * c0
        return s.zip(x0, d1) { s, d0, d1 in (ratio * s - c0 * d0) - c1 * d1 }
    }

    func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor {
        convertModelOutput(modelOutput, sample: sample, call: i)
    }

    /// diffusers' `convert_model_output` for dpmsolver++: the x0 prediction.
    private func convertModelOutput(_ m: Tensor, sample s: Tensor, call i: Int) -> Tensor {
        let (alpha, sigma) = Self.alphaSigma(sigmaValues[i])
        switch config.prediction {
        case .epsilon: return s.zip(m) { s, m in (s - sigma * m) / alpha }
        case .vPrediction: return s.zip(m) { s, m in alpha * s - sigma * m }
        case .sample: return m
        }
    }

    func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor {
        let (alpha, sigma) = Self.alphaSigma(sigmaValues[i])
        return original.zip(noise) { x, n in alpha * x + sigma * n }
    }
}
