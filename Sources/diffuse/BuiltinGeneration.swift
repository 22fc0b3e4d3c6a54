// `diffuse generate` on a model trained by `diffuse train` (the built-in shapes model when no --model is
// given): DDIM with classifier-free guidance in pixel space, same PNG and infotext as Stable Diffusion.

import Diffuse
import DiffuseModels
import DiffuseTraining
import Foundation

enum BuiltinGeneration {
    static let defaultSteps = BuiltinModel.defaultSteps
    static let defaultGuidance = BuiltinModel.defaultGuidance

    static func run(_ options: GenerationOptions, progress: (GenerationProgress) -> Void,
                    emit: (GeneratedImage) throws -> Void) throws {
        let url = URL(fileURLWithPath: options.modelPath)
        let model = try BuiltinModel(contentsOf: url)
        let side = model.config.model.imageSize
        let initRaster = try options.initImagePath.map(GenerationOptions.readInitImage)
        try check(options, side: side, maxTokens: model.config.model.maxTokens, initImage: initRaster)
        let unknown = model.model.tokenizer.unknownWords(in: options.prompt)
        if !unknown.isEmpty {
            FileHandle.standardError.write(Data(("warning: the built-in model knows shapes and colours; unknown words: "
                + unknown.joined(separator: ", ") + "\n").utf8))
        }
        let dropped = model.model.tokenizer.droppedWords(in: options.prompt)
        if !dropped.isEmpty {
            FileHandle.standardError.write(Data(("warning: the built-in model reads the first \(model.model.tokenizer.maxTokens) "
                + "words of a prompt; dropped: " + dropped.joined(separator: " ") + "\n").utf8))
        }
        let name = url.deletingPathExtension().lastPathComponent
        let hash = try a1111ModelHash(ofFileAt: url)
        let initImage = initRaster?.normalizedTensor()                            // [1, 3, S, S] in [−1, 1]
        let strength = Float(options.effectiveStrength ?? GenerationOptions.defaultStrength)
        let stepCount = initImage == nil ? options.steps : model.img2imgTimesteps(steps: options.steps, strength: strength).count
        for (index, seed) in options.seeds.enumerated() {
            let start = Date()
            let image = model.generate(prompt: options.prompt, seed: seed, steps: options.steps,
                                       guidance: Float(options.cfgScale), eta: Float(options.eta),
                                       initImage: initImage, strength: strength) { step in
                progress(GenerationProgress(image: index + 1, imageCount: options.seeds.count, step: step,
                                            stepCount: stepCount,
                                            secondsPerStep: Date().timeIntervalSince(start) / Double(step)))
            }
            // [1, 3, S, S] in [-1, 1] → [S, S, 3] in [0, 1]
            var unit = [Float](repeating: 0, count: side * side * 3)
            for c in 0..<3 { for p in 0..<(side * side) { unit[p * 3 + c] = image.data[c * side * side + p] / 2 + 0.5 } }
            let raster = RasterImage(unitFloats: unit, width: side, height: side)
            try emit(GeneratedImage(image: raster, seed: seed, infotext: options.infotext(
                seed: seed, samplerA1111Name: "DDIM", width: side, height: side, modelName: name, modelHash: hash)))
        }
    }

    /// The built-in model draws one size with one sampler, has no negative prompt and no CLIP; an init image
    /// must be that size (no resampling, as for Stable Diffusion).
    static func check(_ o: GenerationOptions, side: Int, maxTokens: Int, initImage: RasterImage?) throws {
        if (o.width.map { $0 != side } ?? false) || (o.height.map { $0 != side } ?? false) {
            throw GenerationError("this model draws \(side)x\(side) images only; leave out -W/-H or pass \(side)")
        }
        if let s = o.sampler, s != "ddim" {
            throw GenerationError("this model samples with DDIM only; leave out --sampler or pass ddim")
        }
        if let image = initImage, image.width != side || image.height != side {
            throw GenerationError("--init-image \(o.initImagePath ?? "") is \(image.width)x\(image.height); this model draws \(side)x\(side) images only (resize it to \(side)x\(side))")
        }
        // Settings it cannot honour are refused, not silently dropped (as the studio refuses them).
        if !o.negativePrompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw GenerationError("this model has no negative prompt (its guidance is against the empty caption); leave out --negative-prompt")
        }
        if let c = o.clipSkip, c != 1 {
            throw GenerationError("this model has its own text encoder, not CLIP; leave out --clip-skip")
        }
        if o.chunkedPrompts {
            throw GenerationError("this model reads at most \(maxTokens) words and has no prompt chunking; leave out --chunked-prompts")
        }
    }
}
