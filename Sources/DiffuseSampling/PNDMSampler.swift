/// Pseudo numerical methods (Liu et al. 2022); matches diffusers' `PNDMScheduler` (0.42.1): PLMS
/// (linear multistep on epsilon, warming up through orders 1–3) when skip_prk_steps is true,
/// otherwise the 4-stage Runge–Kutta warm-up (12 model calls) first. PLMS evaluates the model twice
/// at the first step (timesteps holds steps + 1 entries).
///
/// Its step number is `call - begin`, which is diffusers' internal counter (the scheduler has no
/// set_begin_index, so an img2img run restarts the counter at its first call).
/// Leaves out: prediction_type "sample" (diffusers rejects it too).
struct PNDMSampler: SamplerCore {
    let config: ResolvedConfig
    let alphasCumprod: [Float]
    let finalAlphaCumprod: Float
    let steps: [Int]
    let prkCount: Int
    let stride: Int
    var timesteps: [Float] { steps.map(Float.init) }

    // Multistep state, reset by begin(atCall:).
    private var first = 0
    private var ets: [Tensor] = []
    private var curSample: Tensor?
    private var curModelOutput: Tensor?

    init(_ c: ResolvedConfig, _ s: NoiseSchedule, steps n: Int) throws {
        if !c.skipPrkSteps && n < 4 {
            throw SamplingError("pndm with skip_prk_steps false needs --steps 4 or more (its Runge-Kutta warm-up spans 4 steps)")
        }
        config = c
        alphasCumprod = s.alphasCumprod
        finalAlphaCumprod = c.setAlphaToOne ? 1 : s.alphasCumprod[0]
        let ratio = c.numTrainTimesteps / n
        stride = ratio
        // _timesteps: ascending.
        let base: [Int]
        switch c.timestepSpacing {
        case "linspace": base = npLinspace(0, Double(c.numTrainTimesteps - 1), n).map { Int(npRound($0)) }
        case "trailing":
            base = npArange(Double(c.numTrainTimesteps), 0, -Double(c.numTrainTimesteps) / Double(n))
                .map { Int(npRound($0)) - 1 }.reversed()
        default: base = (0..<n).map { $0 * ratio + c.stepsOffset }
        }
        if c.skipPrkSteps {
            // [t0 ... t(n-2), t(n-2), t(n-1)] reversed: the second-newest timestep is evaluated twice.
            let ascending = base.count >= 2 ? Array(base.dropLast()) + [base[base.count - 2], base[base.count - 1]] : base
            steps = ascending.reversed()
            prkCount = 0
        } else {
            let half = ratio / 2
            let last4 = base.suffix(4).flatMap { [$0, $0 + half] }.dropLast()
            let doubled = last4.flatMap { [$0, $0] }
            let prk = Array(doubled.dropFirst().dropLast().reversed())
            steps = prk + base.dropLast(3).reversed()
            prkCount = prk.count
        }
    }

    mutating func begin(atCall i: Int) {
        first = i
        ets = []
        curSample = nil
        curModelOutput = nil
    }

    mutating func step<N: NoiseSource>(modelOutput: Tensor, call i: Int, sample: Tensor, noise: inout N) -> Tensor {
        let counter = i - first
        if counter < prkCount && !config.skipPrkSteps {
            return stepRungeKutta(modelOutput, counter: counter, timestep: steps[i], sample: sample)
        }
        return stepLinearMultistep(modelOutput, counter: counter, timestep: steps[i], sample: sample)
    }

    private mutating func stepRungeKutta(_ m: Tensor, counter: Int, timestep: Int, sample: Tensor) -> Tensor {
        let prevT = timestep - (counter % 2 == 1 ? 0 : stride / 2)
        // diffusers indexes its Runge–Kutta list by the counter alone, wherever the run started.
        let t = steps[counter / 4 * 4]
        var output = m
        switch counter % 4 {
        case 0:
            curModelOutput = m.map { Float(1.0 / 6.0) * $0 }
            ets.append(m)
            curSample = sample
        case 1, 2:
            curModelOutput = curModelOutput!.zip(m) { c, m in c + Float(1.0 / 3.0) * m }
        default:
            output = curModelOutput!.zip(m) { c, m in c + Float(1.0 / 6.0) * m }
            curModelOutput = nil
        }
        return previousSample(curSample ?? sample, t: t, prevT: prevT, epsilon: output)
    }

    private mutating func stepLinearMultistep(_ m: Tensor, counter: Int, timestep: Int, sample: Tensor) -> Tensor {
        var t = timestep, prevT = timestep - stride
        if counter != 1 {
            ets = Array(ets.suffix(3)) + [m]
        } else {
            prevT = timestep
            t = timestep + stride
        }
        var x = sample
        let e: Tensor
        switch ets.count {
        case 1 where counter == 0:
            e = m
            curSample = sample
        case 1 where counter == 1:
            e = m.zip(ets[0]) { m, e in (m + e) / 2 }
            x = curSample ?? sample
            curSample = nil
        case 2:
            e = ets[1].zip(ets[0]) { e1, e2 in (3 * e1 - e2) / 2 }
        case 3:
            e = ets[2].zip(ets[1], ets[0]) { e1, e2, e3 in (23 * e1 - 16 * e2 + 5 * e3) / 12 }
        default:
            let n = ets.count
            let e4 = ets[n - 4]
            let sum = ets[n - 1].zip(ets[n - 2], ets[n - 3]) { e1, e2, e3 in 55 * e1 - 59 * e2 + 37 * e3 }
            e = sum.zip(e4) { s, e4 in Float(1.0 / 24.0) * (s - 9 * e4) }
        }
        return previousSample(x, t: t, prevT: prevT, epsilon: e)
    }

    /// diffusers' `_get_prev_sample` (formula (9) of the PNDM paper).
    private func previousSample(_ s: Tensor, t: Int, prevT: Int, epsilon: Tensor) -> Tensor {
        let aT = alphasCumprod[t]
        let aPrev = prevT >= 0 ? alphasCumprod[prevT] : finalAlphaCumprod
        let bT = 1 - aT, bPrev = 1 - aPrev
        var eps = epsilon
        if config.prediction == .vPrediction {
            let sqrtA = aT.squareRoot(), sqrtB = bT.squareRoot()
            eps = epsilon.zip(s) { m, s in sqrtA * m + sqrtB * s }
        }
        let sampleCoeff = (aPrev / aT).squareRoot()
        let denom = aT * bPrev.squareRoot() + (aT * bT * aPrev).squareRoot()
        let diff = aPrev - aT
        return s.zip(eps) { s, e in sampleCoeff * s - diff * e / denom }
    }

    func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor {
        alphaAddNoise(original: original, noise: noise, alphaProd: alphasCumprod[steps[i]])
    }

    func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor {
        alphaPredictedOriginal(config.prediction, model: modelOutput, sample: sample, alphaProd: alphasCumprod[steps[i]])
    }
}
