// Jobs for pixel-space models written by `diffuse train` (the built-in shapes model included): a different
// pipeline than Stable Diffusion, with DDIM only, one image size (init images too) and no negative
// prompt. Requests for what such a model cannot do are refused with a 400 naming the field, rather
// than silently ignored; the run streams the same step events and previews as Stable Diffusion jobs.

import Diffuse
import DiffuseCore
import DiffuseTraining
import Foundation

extension JobParameters {
    func validatedForTrained(_ model: ModelInfo, store: ModelStore, limits: ServerLimits) throws -> JobSpec {
        let m = try store.trainedModel(model)
        let side = m.config.model.imageSize
        let name = model.name
        func refuse(_ field: String, _ message: String) -> StudioError {
            StudioError(.badRequest, "model '\(name)' \(message)", param: field)
        }
        for (field, value) in [("width", width), ("height", height)] {
            if let value, value != side {
                throw refuse(field, "draws \(side)x\(side) images only; leave out width and height or pass \(side) (got \(field) \(value))")
            }
        }
        if let sampler, try Self.samplerName(sampler) != "ddim" {
            throw refuse("sampler", "samples with DDIM only; leave out sampler or pass DDIM (got '\(sampler)')")
        }
        if let negativePrompt, !negativePrompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw refuse("negative_prompt", "has no negative prompt (its guidance is against the empty caption); leave negative_prompt out")
        }
        if let clipSkip, clipSkip != 1 { throw refuse("clip_skip", "has its own text encoder, not CLIP; leave out clip_skip") }
        var o = try baseOptions(model, steps: BuiltinModel.defaultSteps, cfgScale: Double(BuiltinModel.defaultGuidance),
                                limits: limits)
        o.eta = eta ?? Double(BuiltinModel.defaultEta)
        o.strength = strength
        let image = try validatedInitImage(&o)
        if let image, image.width != side || image.height != side {
            throw refuse("init_image", "draws \(side)x\(side) images only; init_image is \(image.width)x\(image.height)")
        }
        (o.width, o.height) = (side, side)
        // DDIM's timesteps are a subset of the training ones: more steps than those would repeat none.
        guard o.steps <= m.schedule.count else {
            throw refuse("steps", "was trained with \(m.schedule.count) timesteps; steps must be at most \(m.schedule.count) (got \(o.steps))")
        }
        try checkPixels(o, limits: limits)
        var spec = JobSpec(options: o, model: model, initImage: image, previewEvery: previewEvery ?? max(1, o.steps / 10),
                           parameters: self)
        let unknown = m.model.tokenizer.unknownWords(in: prompt)
        if !unknown.isEmpty {
            let knows = name == ModelStore.builtinName ? "the built-in model knows shapes and colours" : "model '\(name)' does not know every word"
            spec.warnings.append("\(knows); unknown words (ignored): \(unknown.joined(separator: ", "))")
        }
        let dropped = m.model.tokenizer.droppedWords(in: prompt)
        if !dropped.isEmpty {
            spec.warnings.append("model '\(name)' reads the first \(m.model.tokenizer.maxTokens) words of a prompt; dropped: "
                                 + dropped.joined(separator: " "))
        }
        return spec
    }
}

extension JobRunner {
    /// Each image of the batch with `BuiltinModel.generate` (noise from TrainingRNG(seed), as `diffuse generate`).
    func generateTrained(_ job: Job, model: BuiltinModel, hash: String, started: Date) throws {
        let o = job.spec.options
        let side = model.config.model.imageSize
        let initImage = job.spec.initImage?.normalizedTensor()   // [1, 3, S, S] in [−1, 1]
        let strength = Float(o.effectiveStrength ?? GenerationOptions.defaultStrength)
        for (index, seed) in o.seeds.enumerated() {
            if job.isCancelled { throw PipelineError.cancelled }
            let imageStart = Date()
            job.update { $0.image = index + 1; $0.step = 0 }
            let generated = try Self.skippable(job) { try model.sample(prompt: o.prompt, seed: seed, steps: o.steps,
                                                                       guidance: Float(o.cfgScale), eta: Float(o.eta),
                                                                       initImage: initImage, strength: strength) { p in
                try Self.checkStop(job)
                let preview = job.spec.previewEvery > 0 && (p.step % job.spec.previewEvery == 0 || p.step == p.total)
                publishStep(job, step: p.step, total: p.total, index: index, started: started,
                            preview: preview ? { Self.unitImage(p.denoised) } : nil)
            } }
            guard let image = generated else { continue }
            let raster = RasterImage(unitFloats: Self.unitImage(image).data, width: side, height: side)
            let infotext = o.infotext(seed: seed, samplerA1111Name: "DDIM", width: side, height: side,
                                      modelName: job.spec.model.name, modelHash: hash)
            try store(job, raster: raster, infotext: infotext, seed: seed, index: index, sampler: "DDIM",
                      hash: hash, imageStart: imageStart)
        }
    }

    /// [1, 3, S, S] in [−1, 1] → [S, S, 3] in [0, 1] (what the PNG writer and the previews take).
    static func unitImage(_ image: Tensor) -> Tensor {
        let side = image.shape[2]
        let plane = side * side
        var unit = [Float](repeating: 0, count: plane * 3)
        for c in 0..<3 { for p in 0..<plane { unit[p * 3 + c] = image.data[c * plane + p] / 2 + 0.5 } }
        return Tensor(shape: [side, side, 3], data: unit)
    }
}
