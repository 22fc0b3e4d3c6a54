// The seam between the CLI and the pipeline: the CLI validates options, then calls `runGeneration`, which
// loads the model and emits images one by one (so a batch that fails half way keeps what it finished).
// The pipeline owner replaces the body of `runGeneration`; the types around it are the contract.

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
    throw GenerationError("model loading is not available in this build yet (the pipeline is not wired to the CLI)")
}

extension GenerationOptions {
    /// The infotext for one image of this generation, once the pipeline knows what the defaults resolved to.
    public func infotext(seed: UInt64, samplerA1111Name: String, width: Int, height: Int,
                         modelName: String?, modelHash: String? = nil, clipSkip: Int? = nil) -> Infotext {
        Infotext(prompt: prompt, negativePrompt: negativePrompt, steps: steps, sampler: samplerA1111Name,
                 cfgScale: cfgScale, seed: seed, width: width, height: height, modelHash: modelHash,
                 modelName: modelName, denoisingStrength: effectiveStrength, clipSkip: clipSkip ?? self.clipSkip,
                 rng: rng.a1111Name)
    }
}
