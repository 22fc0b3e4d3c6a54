// The seam between the CLI and the pipeline: the CLI validates options, then calls `runGeneration`, which
// loads the model and emits images one by one (so a batch that fails half way keeps what it finished).
// The pipeline owner replaces the body of `runGeneration`; the types around it are the contract.

import DiffuseModels
import DiffuseSampling
import Foundation

/// Where a generation is, for progress display.
public struct GenerationProgress: Sendable {
    public var image: Int          // 1-based index in the batch
    public var imageCount: Int
    public var step: Int           // 1-based denoising step just finished
    public var stepCount: Int
    public var secondsPerStep: Double

    public init(image: Int, imageCount: Int, step: Int, stepCount: Int, secondsPerStep: Double) {
        self.image = image
        self.imageCount = imageCount
        self.step = step
        self.stepCount = stepCount
        self.secondsPerStep = secondsPerStep
    }
}

/// One finished image with the infotext to store in its PNG.
public struct GeneratedImage: Sendable {
    public var image: RasterImage
    public var seed: UInt64
    public var infotext: Infotext

    public init(image: RasterImage, seed: UInt64, infotext: Infotext) {
        self.image = image
        self.seed = seed
        self.infotext = infotext
    }
}

/// Runs a validated, seed-resolved generation: calls `progress` after each step and `emit` for each image of
/// the batch in order (seeds `options.seeds`). Throws `GenerationError`-style one-line errors.
public typealias GenerationRunner = (_ options: GenerationOptions,
                                     _ progress: (GenerationProgress) -> Void,
                                     _ emit: (GeneratedImage) throws -> Void) throws -> Void

public func runGeneration(_ options: GenerationOptions, progress: (GenerationProgress) -> Void,
                          emit: (GeneratedImage) throws -> Void) throws {
    let pipeline = try StableDiffusionPipeline(contentsOf: URL(fileURLWithPath: options.modelPath))
    let initImage = try options.initImagePath.map(GenerationOptions.readInitImage)
    var request = try options.request(for: pipeline, initImage: initImage)
    let kind = request.sampler ?? pipeline.defaultSampler
    let modelHash = try pipeline.checkpoint.modelHash()
    let seeds = options.seeds
    for (index, seed) in seeds.enumerated() {
        request.seed = seed
        let start = Date()
        let result = try pipeline.generate(request) { step in
            let perStep = Date().timeIntervalSince(start) / Double(step.step)
            progress(GenerationProgress(image: index + 1, imageCount: seeds.count, step: step.step,
                                        stepCount: step.total, secondsPerStep: perStep))
        }
        for warning in result.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        let raster = RasterImage(unitFloats: result.image.data, width: request.width, height: request.height)
        try emit(GeneratedImage(image: raster, seed: seed, infotext: options.infotext(
            seed: seed, samplerA1111Name: kind.a1111Name, width: request.width, height: request.height,
            modelName: pipeline.name, modelHash: modelHash, clipSkip: options.clipSkip)))
    }
}

extension GenerationOptions {
    /// The pipeline request these options describe (all but the seed), shared by the CLI and the server:
    /// the model's defaults filled in, an init image's size taken as the output size, and the size checked
    /// against the model's latent grid (8 px per cell for real SD models).
    public func request(for pipeline: StableDiffusionPipeline, initImage: RasterImage?) throws -> GenerationRequest {
        var r = GenerationRequest(prompt: prompt)
        r.negativePrompt = negativePrompt
        r.steps = steps
        r.guidanceScale = Float(cfgScale)
        r.sampler = try sampler.map { name in
            guard let kind = SamplerKind(rawValue: name) else { throw GenerationError("unknown sampler '\(name)'") }
            return kind
        }
        r.width = width ?? pipeline.defaultSize
        r.height = height ?? pipeline.defaultSize
        r.clipSkip = clipSkip
        r.eta = Float(eta)
        r.chunkedPrompts = chunkedPrompts
        if let image = initImage {
            r.initImage = image.normalizedTensor()
            r.width = image.width
            r.height = image.height
            r.strength = Float(effectiveStrength ?? GenerationOptions.defaultStrength)
        }
        let factor = pipeline.vaeScaleFactor
        guard r.width % factor == 0, r.height % factor == 0 else {
            throw GenerationError("width and height must be multiples of \(factor) for this model (got \(r.width)x\(r.height))")
        }
        // Before anything is allocated: refuse a size that cannot fit (guidance runs the UNet at batch 2).
        try MemoryEstimate.check(pipeline.checkpoint, width: r.width, height: r.height,
                                 batch: r.guidanceScale > 1 ? 2 : 1, img2img: initImage != nil)
        return r
    }

    /// A1111's "Eta DDIM" (its `eta_ddim` option, default 0), written only when it changes the picture: DDIM
    /// with η ≠ 0. (η applies to no other sampler here; diffusers' ancestral samplers have none.)
    func ddimEta(_ samplerA1111Name: String) -> [Infotext.Parameter] {
        samplerA1111Name == "DDIM" && eta != 0 ? [.init("Eta DDIM", Infotext.format(eta))] : []
    }

    /// The infotext for one image of this generation, once the pipeline knows what the defaults resolved to.
    public func infotext(seed: UInt64, samplerA1111Name: String, width: Int, height: Int,
                         modelName: String?, modelHash: String? = nil, clipSkip: Int? = nil) -> Infotext {
        Infotext(prompt: prompt, negativePrompt: negativePrompt, steps: steps, sampler: samplerA1111Name,
                 cfgScale: cfgScale, seed: seed, width: width, height: height, modelHash: modelHash,
                 modelName: modelName, denoisingStrength: effectiveStrength, clipSkip: clipSkip ?? self.clipSkip,
                 rng: rng.a1111Name, extra: ddimEta(samplerA1111Name))
    }
}
