import Foundation

/// A model's `scheduler/scheduler_config.json`, keys exactly as diffusers writes them. Every field is
/// optional: a missing key takes the default of the diffusers class that the chosen sampler maps
/// to (as `Class.from_config` does), so the same file drives every sampler. Unknown keys are ignored.
public struct SchedulerConfig: Codable, Sendable, Equatable {
    public var className: String?
    public var numTrainTimesteps: Int?
    public var betaStart: Double?
    public var betaEnd: Double?
    public var betaSchedule: String?
    public var trainedBetas: [Double]?
    public var predictionType: String?
    public var timestepSpacing: String?
    public var stepsOffset: Int?
    public var setAlphaToOne: Bool?
    public var clipSample: Bool?
    public var clipSampleRange: Double?
    public var thresholding: Bool?
    public var rescaleBetasZeroSnr: Bool?
    public var skipPrkSteps: Bool?
    public var varianceType: String?
    public var interpolationType: String?
    public var timestepType: String?
    public var useKarrasSigmas: Bool?
    public var useExponentialSigmas: Bool?
    public var useBetaSigmas: Bool?
    public var useLuLambdas: Bool?
    public var sigmaMin: Double?
    public var sigmaMax: Double?
    public var finalSigmasType: String?
    public var solverOrder: Int?
    public var algorithmType: String?
    public var solverType: String?
    public var lowerOrderFinal: Bool?
    public var eulerAtFinal: Bool?
    public var lambdaMinClipped: Double?
    public var originalInferenceSteps: Int?
    public var timestepScaling: Double?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case className = "_class_name"
        case numTrainTimesteps = "num_train_timesteps"
        case betaStart = "beta_start"
        case betaEnd = "beta_end"
        case betaSchedule = "beta_schedule"
        case trainedBetas = "trained_betas"
        case predictionType = "prediction_type"
        case timestepSpacing = "timestep_spacing"
        case stepsOffset = "steps_offset"
        case setAlphaToOne = "set_alpha_to_one"
        case clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range"
        case thresholding
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        case skipPrkSteps = "skip_prk_steps"
        case varianceType = "variance_type"
        case interpolationType = "interpolation_type"
        case timestepType = "timestep_type"
        case useKarrasSigmas = "use_karras_sigmas"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case useLuLambdas = "use_lu_lambdas"
        case sigmaMin = "sigma_min"
        case sigmaMax = "sigma_max"
        case finalSigmasType = "final_sigmas_type"
        case solverOrder = "solver_order"
        case algorithmType = "algorithm_type"
        case solverType = "solver_type"
        case lowerOrderFinal = "lower_order_final"
        case eulerAtFinal = "euler_at_final"
        case lambdaMinClipped = "lambda_min_clipped"
        case originalInferenceSteps = "original_inference_steps"
        case timestepScaling = "timestep_scaling"
    }

    /// Decodes scheduler_config.json. JSON5 is allowed because Python's json module writes
    /// `-Infinity` (DPM-Solver's default `lambda_min_clipped`) as a bare token.
    public init(json: Data) throws {
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true
        do {
            self = try decoder.decode(SchedulerConfig.self, from: json)
        } catch {
            throw SamplingError("scheduler_config.json could not be read (\(Self.describe(error))); "
                + "check that it is the diffusers scheduler config of the model")
        }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c),
             DecodingError.dataCorrupted(let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? c.debugDescription : "key \(path): \(c.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

/// A sampler that cannot be built from the given settings; the message says what and how to fix it.
public struct SamplingError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
