/// How the model's output is read: noise (epsilon), velocity (v) or the clean sample (x0).
enum Prediction: String {
    case epsilon
    case vPrediction = "v_prediction"
    case sample
}

/// A `SchedulerConfig` with every missing key filled by the default of the diffusers class that
/// `kind` maps to (what `Class.from_config(config)` does), and unsupported options rejected.
struct ResolvedConfig {
    var numTrainTimesteps: Int
    var betaStart: Double
    var betaEnd: Double
    var betaSchedule: String
    var trainedBetas: [Double]?
    var prediction: Prediction
    var timestepSpacing: String
    var stepsOffset: Int
    var setAlphaToOne: Bool
    var clipSample: Bool
    var clipSampleRange: Float
    var skipPrkSteps: Bool
    var varianceType: String
    var useKarrasSigmas: Bool
    var sigmaMin: Double?
    var sigmaMax: Double?
    var finalSigmasZero: Bool
    var solverOrder: Int
    var secondOrderHeun: Bool
    var lowerOrderFinal: Bool
    var eulerAtFinal: Bool
    var lambdaMinClipped: Double
    var originalInferenceSteps: Int
    var timestepScaling: Float

    init(_ c: SchedulerConfig, kind: SamplerKind) throws {
        // Class defaults that differ between the diffusers classes.
        let heunOrLCM = kind == .heun || kind == .lcm
        let sigmaBased: Set<SamplerKind> = [.euler, .eulerAncestral, .heun, .dpmpp2m, .dpmpp2mKarras]
        numTrainTimesteps = c.numTrainTimesteps ?? 1000
        betaStart = c.betaStart ?? (heunOrLCM ? 0.00085 : 0.0001)
        betaEnd = c.betaEnd ?? (heunOrLCM ? 0.012 : 0.02)
        betaSchedule = c.betaSchedule ?? (kind == .lcm ? "scaled_linear" : "linear")
        trainedBetas = c.trainedBetas
        timestepSpacing = c.timestepSpacing ?? (sigmaBased.contains(kind) ? "linspace" : "leading")
        stepsOffset = c.stepsOffset ?? 0
        setAlphaToOne = c.setAlphaToOne ?? (kind == .ddim || kind == .lcm)
        clipSample = c.clipSample ?? (kind == .ddpm || kind == .ddim)
        clipSampleRange = Float(c.clipSampleRange ?? 1)
        skipPrkSteps = c.skipPrkSteps ?? false
        varianceType = c.varianceType ?? "fixed_small"
        useKarrasSigmas = kind == .dpmpp2mKarras || (c.useKarrasSigmas ?? false)
        sigmaMin = c.sigmaMin
        sigmaMax = c.sigmaMax
        finalSigmasZero = (c.finalSigmasType ?? "zero") == "zero"
        solverOrder = c.solverOrder ?? 2
        secondOrderHeun = (c.solverType ?? "midpoint") == "heun"
        lowerOrderFinal = c.lowerOrderFinal ?? true
        eulerAtFinal = c.eulerAtFinal ?? false
        lambdaMinClipped = c.lambdaMinClipped ?? -.infinity
        originalInferenceSteps = c.originalInferenceSteps ?? 50
        timestepScaling = Float(c.timestepScaling ?? 10)
        let predictionName = c.predictionType ?? "epsilon"
        guard let p = Prediction(rawValue: predictionName) else {
            throw SamplingError("scheduler config: prediction_type \"\(predictionName)\" is not supported; "
                + "use epsilon, v_prediction or sample")
        }
        prediction = p
        try validate(c, kind: kind)
    }

    private func validate(_ c: SchedulerConfig, kind: SamplerKind) throws {
        func reject(_ what: String) -> SamplingError {
            SamplingError("scheduler config: \(what) is not supported by the \(kind.rawValue) sampler; "
                + "remove it from scheduler_config.json or pick another --sampler")
        }
        if numTrainTimesteps < 2 { throw reject("num_train_timesteps \(numTrainTimesteps)") }
        if !["leading", "trailing", "linspace"].contains(timestepSpacing) {
            throw reject("timestep_spacing \"\(timestepSpacing)\"")
        }
        if c.thresholding == true { throw reject("thresholding") }
        if c.rescaleBetasZeroSnr == true { throw reject("rescale_betas_zero_snr") }
        if c.useExponentialSigmas == true || c.useBetaSigmas == true || c.useLuLambdas == true {
            throw reject("use_exponential_sigmas / use_beta_sigmas / use_lu_lambdas")
        }
        switch kind {
        case .pndm, .eulerAncestral:
            if prediction == .sample { throw reject("prediction_type \"sample\"") }
        case .ddpm:
            if !["fixed_small", "fixed_small_log", "fixed_large"].contains(varianceType) {
                throw reject("variance_type \"\(varianceType)\"")
            }
        case .euler, .heun:
            if let t = c.interpolationType, t != "linear" { throw reject("interpolation_type \"\(t)\"") }
            if c.timestepType == "continuous" { throw reject("timestep_type \"continuous\"") }
            if kind == .euler, !finalSigmasZero, c.finalSigmasType != "sigma_min" {
                throw reject("final_sigmas_type \"\(c.finalSigmasType ?? "")\"")
            }
        case .dpmpp2m, .dpmpp2mKarras:
            if let a = c.algorithmType, a != "dpmsolver++" { throw reject("algorithm_type \"\(a)\"") }
            if solverOrder != 1 && solverOrder != 2 { throw reject("solver_order \(solverOrder)") }
            if let v = c.varianceType, v == "learned" || v == "learned_range" { throw reject("variance_type \"\(v)\"") }
            if !finalSigmasZero, c.finalSigmasType != "sigma_min" {
                throw reject("final_sigmas_type \"\(c.finalSigmasType ?? "")\"")
            }
        case .ddim, .lcm:
            break
        }
    }
}
