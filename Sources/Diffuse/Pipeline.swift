import DiffuseCore
import DiffuseModels
import DiffuseSampling
import Foundation

/// A loaded Stable Diffusion model (text encoder, UNet, VAE, tokenizer, scheduler config) that turns
/// requests into images. Follows diffusers' StableDiffusionPipeline / StableDiffusionImg2ImgPipeline
/// step for step, including the order random numbers are drawn in, so a seed gives diffusers' image.
public final class StableDiffusionPipeline: @unchecked Sendable {
    public let name: String
    public let family: ModelFamily
    public let checkpoint: LoadedCheckpoint
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextEncoder
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    public let schedulerConfig: SchedulerConfig
    /// Pixels per latent cell: 2^(number of VAE blocks − 1) (8 for real SD models).
    public let vaeScaleFactor: Int
    public let defaultClipSkip: Int
    /// `latentPreview`, fitted on first use.
    let previewCache = OnceCache<LatentPreview>()
    /// Which network's weight pages are resident (WeightResidency.swift).
    let residency = WeightResidency()

    public init(contentsOf url: URL) throws {
        _ = ProcessHeap.keepFreedMemory
        let ckpt = try loadCheckpoint(at: url)
        checkpoint = ckpt
        name = ckpt.name
        family = ckpt.family
        switch ckpt.tokenizer {
        case .files(let vocab, _): tokenizer = try CLIPTokenizer(tokenizerFolder: vocab.deletingLastPathComponent())
        case .builtin: tokenizer = try CLIPTokenizer.builtin(padTokenId: Int32(ckpt.padTokenId))
        }
        textEncoder = try CLIPTextEncoder(config: ckpt.textConfig, weights: ckpt.textEncoder)
        unet = try UNet2DConditionModel(config: ckpt.unetConfig, weights: ckpt.unet)
        vae = try AutoencoderKL(config: ckpt.vaeConfig, weights: ckpt.vae)
        schedulerConfig = try SchedulerConfig.decode(ckpt.schedulerConfigJSON)
        vaeScaleFactor = 1 << (ckpt.vaeConfig.blockOutChannels.count - 1)
        defaultClipSkip = ckpt.defaultClipSkip
        let side: Int
        switch ckpt.unetConfig.sampleSize {
        case .one(let v)?: side = v
        case .list(let l)?: side = l.first ?? 64
        case nil: side = 64
        }
        defaultSize = side * vaeScaleFactor
        latentScale = Float(ckpt.vaeConfig.scalingFactor)
    }

    /// The sampler the model ships with (its scheduler_config.json class).
    public var defaultSampler: SamplerKind { SamplerKind.from(config: schedulerConfig) ?? .pndm }

    /// Default image side: the UNet's sample size in latent cells × the VAE factor (512 for SD 1.5).
    public let defaultSize: Int
    /// The VAE's scaling_factor: latents are multiplied by it after encoding, divided before decoding.
    public let latentScale: Float
}

/// What to generate. Validated by `GenerationOptions` in the CLI and server before it gets here.
public struct GenerationRequest: Sendable {
    public var prompt: String
    public var negativePrompt: String = ""
    public var steps: Int = 50
    public var guidanceScale: Float = 7.5
    public var sampler: SamplerKind? = nil
    public var seed: UInt64 = 0
    public var width: Int = 512
    public var height: Int = 512
    /// img2img source, [1, 3, H, W] in [-1, 1] (diffusers' VaeImageProcessor.preprocess output).
    public var initImage: Tensor? = nil
    public var strength: Float = 0.75
    /// A1111 numbering: 1 = last layer, 2 = penultimate. nil = the model's default.
    public var clipSkip: Int? = nil
    public var eta: Float = 0
    /// A1111-style 75-token windows instead of diffusers' truncation at 77 tokens.
    public var chunkedPrompts: Bool = false

    public init(prompt: String) { self.prompt = prompt }
}

/// One denoising step's state, handed to the caller's callback (progress, previews, cancellation).
public struct StepProgress: Sendable {
    public let step: Int        // 1-based
    public let total: Int
    public let timestep: Float
    public let latents: Tensor  // [1, 4, h, w] after this step
    /// The sampler's estimate of the clean latents at this step (x0): decode it with `decodeToImage` for
    /// a preview that shows the picture early instead of the noisy latents.
    public let denoised: Tensor // [1, 4, h, w]
}

public struct GenerationResult: Sendable {
    /// [H, W, 3] in [0, 1]: diffusers' `output_type="np"` image before 8-bit rounding.
    public let image: Tensor
    public let seed: UInt64
    public let sampler: SamplerKind
    /// Warnings for the user (truncated prompt, …).
    public let warnings: [String]
}

public enum PipelineError: Error, CustomStringConvertible {
    case noStepsLeft(steps: Int, strength: Float)
    case sizeMismatch(String)
    case cancelled

    public var description: String {
        switch self {
        case let .noStepsLeft(steps, strength):
            return "strength \(strength) with \(steps) steps leaves no denoising step; raise --strength or --steps"
        case let .sizeMismatch(s): return s
        case .cancelled: return "generation cancelled"
        }
    }
}
