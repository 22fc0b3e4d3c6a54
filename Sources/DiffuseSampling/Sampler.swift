import Foundation

/// The samplers the CLI offers; rawValue is the `--sampler` name.
public enum SamplerKind: String, CaseIterable, Sendable {
    case ddpm
    case ddim
    case pndm
    case euler
    case eulerAncestral = "euler-a"
    case heun
    case dpmpp2m = "dpm++2m"
    case dpmpp2mKarras = "dpm++2m-karras"
    case lcm

    /// The name AUTOMATIC1111's web UI uses.
    public var a1111Name: String {
        switch self {
        case .ddpm: return "DDPM"
        case .ddim: return "DDIM"
        case .pndm: return "PLMS"
        case .euler: return "Euler"
        case .eulerAncestral: return "Euler a"
        case .heun: return "Heun"
        case .dpmpp2m: return "DPM++ 2M"
        case .dpmpp2mKarras: return "DPM++ 2M Karras"
        case .lcm: return "LCM"
        }
    }
}

/// One sampler's schedule and multistep state, driven call by call by the pipeline:
///
///     var x = noise.randn(shape) * initNoiseSigma
///     for i in begin..<timesteps.count {
///         let out = model(scaleModelInput(x, call: i), t: timesteps[i])
///         x = step(modelOutput: out, call: i, sample: x, noise: &noise)
///     }
///
/// `i` is the index into `timesteps` (one per model call); the sampler keeps no counter of its own.
/// Its only state is what the method itself carries between calls (PLMS/DPM-Solver history, Heun's
/// half-finished step), and `begin(atCall:)` resets it.
public struct Sampler {
    public let kind: SamplerKind
    /// The inference step count asked for (Heun makes 2n - 1 model calls, PLMS n + 1).
    public let steps: Int
    private var core: any SamplerCore

    public init(kind: SamplerKind, config: SchedulerConfig, steps: Int, eta: Float = 0) throws {
        let resolved = try ResolvedConfig(config, kind: kind)
        guard steps >= 1, steps <= resolved.numTrainTimesteps else {
            throw SamplingError("--steps \(steps) is out of range; use 1...\(resolved.numTrainTimesteps)")
        }
        guard eta >= 0, eta.isFinite else {
            throw SamplingError("--eta \(eta) is invalid; use a number >= 0 (0 = deterministic DDIM)")
        }
        let schedule = try NoiseSchedule(resolved)
        self.kind = kind
        self.steps = steps
        switch kind {
        case .ddpm: core = DDPMSampler(resolved, schedule, steps: steps)
        case .ddim: core = DDIMSampler(resolved, schedule, steps: steps, eta: eta)
        case .pndm: core = try PNDMSampler(resolved, schedule, steps: steps)
        case .lcm: core = try LCMSampler(resolved, schedule, steps: steps)
        case .euler: core = EulerSampler(resolved, schedule, steps: steps, ancestral: false)
        case .eulerAncestral: core = EulerSampler(resolved, schedule, steps: steps, ancestral: true)
        case .heun: core = HeunSampler(resolved, schedule, steps: steps)
        case .dpmpp2m, .dpmpp2mKarras: core = DPMSolverSampler(resolved, schedule, steps: steps)
        }
    }

    /// The timestep given to the model at each call, in order.
    public var timesteps: [Float] { core.timesteps }
    /// diffusers' `scheduler.order` (2 for Heun, else 1).
    public var order: Int { core.order }
    /// Standard deviation of the initial noise: txt2img latents are `randn * initNoiseSigma`.
    public var initNoiseSigma: Float { core.initNoiseSigma }
    /// The k-diffusion sigmas (timesteps.count + 1 values, last 0) for sigma-based samplers.
    public var sigmas: [Float]? { core.sigmas }

    public func scaleModelInput(_ x: Tensor, call i: Int) -> Tensor { core.scaleModelInput(x, call: i) }

    /// One model call's update: returns the sample for call i + 1.
    public mutating func step(modelOutput: Tensor, call i: Int, sample: Tensor, noise: inout some NoiseSource) -> Tensor {
        core.step(modelOutput: modelOutput, call: i, sample: sample, noise: &noise)
    }

    /// The first call of an img2img run (diffusers' `get_timesteps`: t_start * order with
    /// t_start = steps - min(int(steps * strength), steps)).
    public func img2imgStartCall(strength: Float) -> Int {
        // int(steps * strength) in Python doubles, with the strength the user typed: going through
        // the shortest decimal keeps 0.7 * 10 at 7 (Double(Float(0.7)) * 10 would truncate to 6).
        let s = Double("\(strength)") ?? Double(strength)
        let initTimestep = min(Int(Double(steps) * s), steps)
        return max(steps - initTimestep, 0) * order
    }

    /// diffusers' `set_begin_index`: the run starts at call i (img2img); clears multistep state.
    public mutating func begin(atCall i: Int) { core.begin(atCall: i) }

    /// The clean-latent estimate x0 implied by the model output at call i (for previews); the
    /// sampler's state is untouched.
    public func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor {
        core.predictedOriginal(modelOutput: modelOutput, call: i, sample: sample)
    }

    /// Forward diffusion of a clean latent to the noise level of call i (diffusers' `add_noise`).
    public func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor {
        core.addNoise(original: original, noise: noise, call: i)
    }
}

/// What each sampler implements; `Sampler` forwards to it.
protocol SamplerCore {
    var timesteps: [Float] { get }
    var order: Int { get }
    var initNoiseSigma: Float { get }
    var sigmas: [Float]? { get }
    func scaleModelInput(_ x: Tensor, call i: Int) -> Tensor
    mutating func step<N: NoiseSource>(modelOutput: Tensor, call i: Int, sample: Tensor, noise: inout N) -> Tensor
    mutating func begin(atCall i: Int)
    func addNoise(original: Tensor, noise: Tensor, call i: Int) -> Tensor
    func predictedOriginal(modelOutput: Tensor, call i: Int, sample: Tensor) -> Tensor
}

extension SamplerCore {
    var order: Int { 1 }
    var initNoiseSigma: Float { 1 }
    var sigmas: [Float]? { nil }
    func scaleModelInput(_ x: Tensor, call i: Int) -> Tensor { x }
}
