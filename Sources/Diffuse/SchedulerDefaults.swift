import DiffuseSampling
import Foundation

extension SchedulerConfig {
    /// Decodes a model's scheduler/scheduler_config.json; one-line error when it is not valid.
    static func decode(_ data: Data) throws -> SchedulerConfig {
        do { return try JSONDecoder().decode(SchedulerConfig.self, from: data) } catch {
            throw GenerationError("the model's scheduler_config.json is not a valid scheduler config (\(error.localizedDescription)); fix or replace that file")
        }
    }
}

extension SamplerKind {
    /// The sampler equal to the diffusers scheduler class a model ships with (its `_class_name`).
    static func from(config: SchedulerConfig) -> SamplerKind? {
        switch config.className {
        case "PNDMScheduler": return .pndm
        case "DDIMScheduler": return .ddim
        case "DDPMScheduler": return .ddpm
        case "EulerDiscreteScheduler": return .euler
        case "EulerAncestralDiscreteScheduler": return .eulerAncestral
        case "HeunDiscreteScheduler": return .heun
        case "DPMSolverMultistepScheduler": return config.useKarrasSigmas == true ? .dpmpp2mKarras : .dpmpp2m
        case "LCMScheduler": return .lcm
        default: return nil
        }
    }
}
