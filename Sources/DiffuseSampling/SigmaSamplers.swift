import Foundation

/// Timesteps of the k-diffusion style schedulers (Euler, Euler a, Heun) before any Karras
/// conversion: float32, descending, as their set_timesteps computes them.
func sigmaTimesteps(_ c: ResolvedConfig, steps n: Int) -> [Float] {
    let train = c.numTrainTimesteps
    switch c.timestepSpacing {
    case "leading":
        let ratio = train / n
        return (0..<n).reversed().map { Float($0 * ratio) + Float(c.stepsOffset) }
    case "trailing":
        return npArange(Double(train), 0, -Double(train) / Double(n)).map { Float(npRound($0)) - 1 }
    default:  // linspace, computed in doubles and stored as float32
        return npLinspace(0, Double(train - 1), n).reversed().map { Float($0) }
    }
}

/// Sigmas at `timesteps` (np.interp over the training sigmas), optionally Karras-spaced with the
/// timesteps recomputed from them (`_sigma_to_t`); float64 until stored as float32.
func interpolatedSigmas(_ c: ResolvedConfig, _ s: NoiseSchedule, timesteps: [Float], karras: Bool,
                        configRange: Bool) -> (sigmas: [Float], timesteps: [Float]) {
    let train = s.trainSigmas
    var sigmas = timesteps.map { npInterp(Double($0), train) }
    var t = timesteps
    if karras {
        let logSigmas = train.map { log($0) }
        let lo = (configRange ? c.sigmaMin : nil) ?? sigmas[sigmas.count - 1]
        let hi = (configRange ? c.sigmaMax : nil) ?? sigmas[0]
        sigmas = karrasSigmas(min: lo, max: hi, count: timesteps.count)
        t = sigmas.map { Float(sigmaToT($0, logSigmas)) }
    }
    return (sigmas.map(Float.init), t)
}

/// diffusers' init_noise_sigma of the sigma schedulers: the largest sigma, or sqrt(max^2 + 1) for
/// leading spacing.
func sigmaInitNoise(_ c: ResolvedConfig, _ sigmas: [Float]) -> Float {
    let m = sigmas.max() ?? 1
    return c.timestepSpacing == "leading" ? (m * m + 1).squareRoot() : m
}

/// x0 estimate of the k-diffusion samplers at noise level sigma (diffusers' Euler/Heun formulas).
func sigmaPredictedOriginal(_ p: Prediction, model m: Tensor, sample s: Tensor, sigma: Float) -> Tensor {
    switch p {
    case .epsilon:
        return s.zip(m) { s, m in s - sigma * m }
    case .vPrediction:
        let c1 = -sigma / (sigma * sigma + 1).squareRoot(), c2 = sigma * sigma + 1
        return m.zip(s) { m, s in m * c1 + s / c2 }
    case .sample:
        return m
    }
}

/// Euler's method on the probability-flow ODE (Karras et al. 2022, Algorithm 2 without churn),
/// matching diffusers' `EulerDiscreteScheduler` (0.42.1); with `ancestral`, diffusers'
/// `EulerAncestralDiscreteScheduler`: step to sigma_down, then add fresh noise of sigma_up (drawn on
/// every call, the last included).
/// Leaves out: s_churn/s_tmin/s_tmax/s_noise (pipeline defaults), exponential/beta sigmas,
/// log_linear interpolation, continuous timesteps; Euler a: Karras sigmas (diffusers has none).
struct EulerSampler: SamplerCore {
    let prediction: Prediction
    let ancestral: Bool
    let timesteps: [Float]
    let sigmaValues: [Float]
    let initNoiseSigma: Float
    var sigmas: [Float]? { sigmaValues }

    init(_ c: ResolvedConfig, _ s: NoiseSchedule, steps n: Int, ancestral: Bool) {
        prediction = c.prediction
        self.ancestral = ancestral
        let base = sigmaTimesteps(c, steps: n)
        let (sig, t) = interpolatedSigmas(c, s, timesteps: base, karras: c.useKarrasSigmas && !ancestral,
                                          configRange: true)
        let last: Float = (ancestral || c.finalSigmasZero) ? 0 : s.trainSigmas[0]
        timesteps = t
        sigmaValues = sig + [last]
        initNoiseSigma = sigmaInitNoise(c, sigmaValues)
    }

    func scaleModelInput(_ x: Tensor, call i: Int) -> Tensor {
        let sigma = sigmaValues[i]
        let d = (sigma * sigma + 1).squareRoot()
        return x.map { $0 / d }
    }

    mutating func begin(atCall i: Int) {}

    func step<N: NoiseSource>(modelOutput m: Tensor, call i: Int, sample s: Tensor, noise: inout N) -> Tensor {
        let sigma = sigmaValues[i], next = sigmaValues[i + 1]
        let x0 = sigmaPredictedOriginal(prediction, model: m, sample: s, sigma: sigma)
        let derivative = s.zip(x0) { s, x in (s - x) / sigma }
        guard ancestral else {
            let dt = next - sigma
            return s.zip(derivative) { s, d in s + d * dt }
        }
        let sigmaUp = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot()
        let sigmaDown = (next * next - sigmaUp * sigmaUp).squareRoot()
        let dt = sigmaDown - sigma
        let z = noise.randn(m.shape)
        return s.zip(derivative, z) { s, d, z in (s + d * dt) + z * sigmaUp }
    }

    func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor {
        let sigma = sigmaValues[i]
        return original.zip(noise) { x, n in x + n * sigma }
    }

    func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor {
        sigmaPredictedOriginal(prediction, model: modelOutput, sample: sample, sigma: sigmaValues[i])
    }
}

/// Heun's second-order method (Karras et al. 2022, Algorithm 1 without churn), matching diffusers'
/// `HeunDiscreteScheduler` (0.42.1): every interval but the last takes an Euler predictor call and a
/// corrector call, so timesteps/sigmas repeat each inner value (2 * steps - 1 model calls). The last
/// interval, down to sigma 0, is a plain Euler step.
/// Leaves out: exponential/beta sigmas, custom timesteps.
struct HeunSampler: SamplerCore {
    let prediction: Prediction
    let clip: Float?
    let timesteps: [Float]
    let sigmaValues: [Float]
    let initNoiseSigma: Float
    var order: Int { 2 }
    var sigmas: [Float]? { sigmaValues }

    /// The half-finished step between a predictor and its corrector call.
    private var pending: (derivative: Tensor, dt: Float, sample: Tensor)?

    init(_ c: ResolvedConfig, _ s: NoiseSchedule, steps n: Int) {
        prediction = c.prediction
        clip = c.clipSample ? c.clipSampleRange : nil
        let base = sigmaTimesteps(c, steps: n)
        let (sig, t) = interpolatedSigmas(c, s, timesteps: base, karras: c.useKarrasSigmas, configRange: false)
        let all = sig + [0]
        sigmaValues = [all[0]] + all[1..<(all.count - 1)].flatMap { [$0, $0] } + [0]
        timesteps = [t[0]] + t.dropFirst().flatMap { [$0, $0] }
        initNoiseSigma = sigmaInitNoise(c, sigmaValues)
    }

    func scaleModelInput(_ x: Tensor, call i: Int) -> Tensor {
        let sigma = sigmaValues[i]
        let d = (sigma * sigma + 1).squareRoot()
        return x.map { $0 / d }
    }

    mutating func begin(atCall i: Int) { pending = nil }

    mutating func step<N: NoiseSource>(modelOutput m: Tensor, call i: Int, sample s: Tensor, noise: inout N) -> Tensor {
        let firstOrder = pending == nil
        let sigma = firstOrder ? sigmaValues[i] : sigmaValues[i - 1]
        let next = firstOrder ? sigmaValues[i + 1] : sigmaValues[i]
        var x0 = sigmaPredictedOriginal(prediction, model: m, sample: s, sigma: firstOrder ? sigma : next)
        if let r = clip { x0 = x0.map { min(max($0, -r), r) } }
        if let p = pending {
            let corrector = s.zip(x0) { s, x in (s - x) / next }
            let derivative = p.derivative.zip(corrector) { a, b in (a + b) / 2 }
            pending = nil
            return p.sample.zip(derivative) { s, d in s + d * p.dt }
        }
        let derivative = s.zip(x0) { s, x in (s - x) / sigma }
        let dt = next - sigma
        pending = (derivative, dt, s)
        return s.zip(derivative) { s, d in s + d * dt }
    }

    func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor {
        let sigma = sigmaValues[i]
        return original.zip(noise) { x, n in x + n * sigma }
    }

    func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor {
        sigmaPredictedOriginal(prediction, model: modelOutput, sample: sample, sigma: sigmaValues[i])
    }
}
