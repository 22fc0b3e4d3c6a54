import DiffuseCore
import DiffuseModels
import DiffuseSampling
import Foundation

extension StableDiffusionPipeline {
    /// Runs txt2img (or img2img when `request.initImage` is set). `onStep` is called after every
    /// denoising step; throwing from it cancels the run.
    public func generate(_ request: GenerationRequest,
                         onStep: (StepProgress) throws -> Void = { _ in }) throws -> GenerationResult {
        let kind = request.sampler ?? defaultSampler
        var sampler = try Sampler(kind: kind, config: schedulerConfig, steps: request.steps, eta: request.eta)
        var rng = TorchGenerator(seed: request.seed)
        defer { releaseWeightPages() }   // also when onStep cancels
        var (context, warnings) = try encodePrompts(request)
        if let w = Self.etaWarning(kind, eta: request.eta) { warnings.append(w) }
        ProcessHeap.returnFreedMemory()   // the text encoder's buffers are not reused by the UNet
        let cfg = request.guidanceScale > 1  // diffusers: do_classifier_free_guidance
        let latentShape = [1, unet.architecture.inChannels, request.height / vaeScaleFactor, request.width / vaeScaleFactor]

        var latents: Tensor
        var firstCall = 0
        if let image = request.initImage {
            firstCall = sampler.img2imgStartCall(strength: request.strength)
            guard firstCall < sampler.timesteps.count else {
                throw PipelineError.noStepsLeft(steps: request.steps, strength: request.strength)
            }
            guard image.shape == [1, 3, request.height, request.width] else {
                throw PipelineError.sizeMismatch("init image is \(image.shape[3])x\(image.shape[2]) but the request is \(request.width)x\(request.height)")
            }
            sampler.begin(atCall: firstCall)
            // diffusers: latent_dist.sample(generator) first, then the add_noise noise.
            makeResident(.vae)
            let (mean, logvar) = vae.encode(image)
            let std = logvar.data.map { Foundation.exp(0.5 * $0) }
            let eps = rng.randn(mean.shape)
            var z = mean
            for i in 0..<z.count { z.data[i] = (mean.data[i] + std[i] * eps.data[i]) * latentScale }
            let noise = rng.randn(z.shape)
            latents = sampler.addNoise(original: z, noise: noise, call: firstCall)
            ProcessHeap.returnFreedMemory()
        } else {
            latents = scale(rng.randn(latentShape), sampler.initNoiseSigma)
        }

        let calls = sampler.timesteps.count
        let stepsTotal = (calls - firstCall + sampler.order - 1) / sampler.order
        for call in firstCall..<calls {
            let t = sampler.timesteps[call]
            let input = sampler.scaleModelInput(latents, call: call)
            let modelOutput = predictNoise(input, timestep: t, context: context, guided: cfg, scale: request.guidanceScale)
            let denoised = sampler.predictedOriginal(modelOutput: modelOutput, call: call, sample: latents)
            latents = sampler.step(modelOutput: modelOutput, call: call, sample: latents, noise: &rng)
            let done = call - firstCall + 1
            if done % sampler.order == 0 || call == calls - 1 {
                try onStep(StepProgress(step: (done + sampler.order - 1) / sampler.order, total: stepsTotal,
                                        timestep: t, latents: latents, denoised: denoised))
            }
        }
        let image = decodeToImage(latents)
        ProcessHeap.returnFreedMemory()   // the VAE's buffers would sit under the next request's UNet steps
        return GenerationResult(image: image, seed: request.seed, sampler: kind, warnings: warnings)
    }

    /// One UNet evaluation with classifier-free guidance: the batch is [negative, positive] as in diffusers.
    func predictNoise(_ x: Tensor, timestep: Float, context: Tensor, guided: Bool, scale g: Float) -> Tensor {
        makeResident(.unet)
        guard guided else { return unet(x, timestep: timestep, context: context) }
        let out = unet(concat([x, x], axis: 0), timestep: timestep, context: context)  // [2, C, h, w]
        let halves = split(out, parts: 2, axis: 0)
        var pred = halves[0]
        for i in 0..<pred.count { pred.data[i] = halves[0].data[i] + g * (halves[1].data[i] - halves[0].data[i]) }
        return pred
    }

    /// Latents → image [H, W, 3] in [0, 1], as diffusers' decode + postprocess("np").
    public func decodeToImage(_ latents: Tensor) -> Tensor {
        makeResident(.vae)
        let decoded = vae.decode(scale(latents, 1 / latentScale))  // [1, 3, H, W]
        let (h, w) = (decoded.shape[2], decoded.shape[3])
        return Tensor(shape: [h, w, 3]) { out in
            for c in 0..<3 { for y in 0..<h { for x in 0..<w {
                let v = decoded.data[(c * h + y) * w + x] / 2 + 0.5
                out[(y * w + x) * 3 + c] = min(max(v, 0), 1)
            } } }
        }
    }

    /// η changes only DDIM here (diffusers passes it to DDIMScheduler alone). A non-zero η with another
    /// sampler is named rather than dropped in silence — except η = 1 with a sampler whose noise is η = 1
    /// anyway (A1111 clients send eta = 1 by default, meant for its ancestral samplers).
    static func etaWarning(_ kind: SamplerKind, eta: Float) -> String? {
        if eta == 0 || kind == .ddim { return nil }
        if eta == 1 && [.ddpm, .eulerAncestral, .lcm].contains(kind) { return nil }
        return "eta \(eta) applies to DDIM only; the \(kind.a1111Name) sampler ignores it"
    }

    /// Text embeddings [2 or 1, 77·k, D]: negative first when guidance is on (diffusers' order).
    func encodePrompts(_ r: GenerationRequest) throws -> (Tensor, [String]) {
        let skip = r.clipSkip ?? defaultClipSkip
        var warnings: [String] = []
        makeResident(.text)
        func embed(_ text: String) throws -> Tensor {
            if r.chunkedPrompts {
                let chunks = tokenizer.tokenizeChunked(text).map { $0.map(Int.init) }
                return concat(try chunks.map { try textEncoder([$0], clipSkip: skip) }, axis: 1)
            }
            let tok = tokenizer.tokenize(text)
            if let dropped = tok.dropped {
                warnings.append("the prompt is longer than CLIP's 77 tokens; this part was dropped: \"\(dropped)\" (use chunked prompts to keep it)")
            }
            return try textEncoder([tok.ids.map(Int.init)], clipSkip: skip)
        }
        let positive = try embed(r.prompt)
        guard r.guidanceScale > 1 else { return (positive, warnings) }
        let negative = try embed(r.negativePrompt)
        // Chunked prompts of different lengths: repeat the shorter one's windows as A1111 pads.
        if negative.shape[1] != positive.shape[1] {
            let length = max(negative.shape[1], positive.shape[1])
            return (concat([try padWindows(negative, to: length, clipSkip: skip),
                            try padWindows(positive, to: length, clipSkip: skip)], axis: 0), warnings)
        }
        return (concat([negative, positive], axis: 0), warnings)
    }

    /// Extends [1, 77·k, D] to [1, L, D] by appending embeddings of the empty prompt, 77 tokens at a time.
    private func padWindows(_ x: Tensor, to length: Int, clipSkip: Int) throws -> Tensor {
        guard x.shape[1] < length else { return x }
        let empty = try textEncoder([tokenizer.tokenize("").ids.map(Int.init)], clipSkip: clipSkip)
        var parts = [x]
        var have = x.shape[1]
        while have < length { parts.append(empty); have += 77 }
        return concat(parts, axis: 1)
    }
}
