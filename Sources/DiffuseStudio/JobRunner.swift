// Runs one job on the worker thread: loads (or reuses) the model, generates each image of the batch with
// step events and previews, and stores every finished image in the gallery before announcing it.

import Diffuse
import DiffuseSampling
import Foundation

/// JSON payloads of the server-sent events; every message has a `type`.
enum JobEvents {
    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func images(_ list: [JobImage]) -> [[String: Any]] {
        list.map { ["id": $0.id, "url": $0.url, "seed": $0.seed] }
    }

    /// The last message of every job: its status, the image URLs and the seeds used.
    static func final(_ job: Job) -> String {
        let s = job.snapshot
        var o: [String: Any] = ["type": "done", "id": s.id, "status": s.status.rawValue,
                                "images": images(s.images), "seeds": s.seeds, "warnings": s.warnings]
        if let e = s.error { o["error"] = e }
        return json(o)
    }
}

/// Thrown from a step callback when the client skipped the image (`POST /sdapi/v1/skip`).
struct ImageSkipped: Error {}

public final class JobRunner: @unchecked Sendable {
    let models: ModelStore
    let gallery: Gallery
    /// Previews are scaled down to at most this many pixels a side.
    static let previewSide = 128

    public init(models: ModelStore, gallery: Gallery) {
        self.models = models
        self.gallery = gallery
    }

    public func run(_ job: Job) {
        let started = Date()
        job.update { $0.status = .running; $0.started = started.timeIntervalSince1970; $0.queuePosition = nil }
        job.publish(JobEvents.json(["type": "status", "status": "running", "id": job.id, "model": job.spec.model.name,
                                    "warnings": job.spec.warnings]))
        do {
            try generate(job, started: started)
            job.update { $0.status = .succeeded }
            job.finish(.succeeded, event: JobEvents.final(job))
        } catch let e as PipelineError where e.description == PipelineError.cancelled.description {
            job.update { $0.status = .cancelled; $0.error = "cancelled" }
            job.finish(.cancelled, error: "cancelled", event: JobEvents.final(job))
        } catch {
            let message = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
            job.update { $0.status = .failed; $0.error = message }
            job.finish(.failed, error: message, event: JobEvents.final(job))
        }
    }

    private func generate(_ job: Job, started: Date) throws {
        switch try models.load(job.spec.model) {
        case (.stableDiffusion(let pipeline), let hash):
            try generateStableDiffusion(job, pipeline: pipeline, hash: hash, started: started)
        case (.trained(let model), let hash):
            try generateTrained(job, model: model, hash: hash, started: started)
        }
    }

    private func generateStableDiffusion(_ job: Job, pipeline: StableDiffusionPipeline, hash: String,
                                         started: Date) throws {
        let spec = job.spec
        let o = spec.options
        var request = try o.request(for: pipeline, initImage: spec.initImage)
        let kind = request.sampler ?? pipeline.defaultSampler
        for (index, seed) in o.seeds.enumerated() {
            if job.isCancelled { throw PipelineError.cancelled }
            request.seed = seed
            let imageStart = Date()
            job.update { $0.image = index + 1; $0.step = 0 }
            let generated = try Self.skippable(job) { try pipeline.generate(request) { p in
                try Self.checkStop(job)
                let preview = spec.previewEvery > 0 && (p.step % spec.previewEvery == 0 || p.step == p.total)
                // x0 estimate: the picture shows early
                publishStep(job, step: p.step, total: p.total, index: index, started: started,
                            preview: preview ? { Self.previewImage(p.denoised, pipeline: pipeline, decoder: spec.previewDecoder) } : nil)
            } }
            guard let result = generated else { continue }
            // CLIP's truncation notice, once per job (every image of the batch has the same prompt).
            job.update { s in s.warnings += result.warnings.filter { !s.warnings.contains($0) } }
            let raster = RasterImage(unitFloats: result.image.data, width: request.width, height: request.height)
            let infotext = o.infotext(seed: seed, samplerA1111Name: kind.a1111Name, width: request.width,
                                      height: request.height, modelName: spec.model.name, modelHash: hash,
                                      clipSkip: o.clipSkip)
            try store(job, raster: raster, infotext: infotext, seed: seed, index: index, sampler: kind.a1111Name,
                      hash: hash, imageStart: imageStart)
        }
    }

    /// Throws to stop the sampler: cancellation ends the job, a skip only the image being made.
    static func checkStop(_ job: Job) throws {
        if job.isCancelled { throw PipelineError.cancelled }
        if job.takeSkip() { throw ImageSkipped() }
    }

    /// The image, or nil when it was skipped (the skip is announced as an event).
    static func skippable<T>(_ job: Job, _ body: () throws -> T) throws -> T? {
        do { return try body() } catch is ImageSkipped {
            let s = job.snapshot
            job.publish(JobEvents.json(["type": "skipped", "image": s.image, "seed": s.seeds[max(0, s.image - 1)]]))
            return nil
        }
    }

    /// A step event; `preview` (when given) makes the [H, W, 3] clean-image estimate in [0, 1].
    func publishStep(_ job: Job, step: Int, total: Int, index: Int, started: Date, preview: (() -> Tensor)?) {
        job.update { $0.step = step; $0.totalSteps = total }
        var event: [String: Any] = ["type": "step", "step": step, "total": total, "image": index + 1,
                                    "image_count": job.spec.options.seeds.count,
                                    "elapsed": Date().timeIntervalSince(started)]
        let replay = JobEvents.json(event)
        if let preview { event["preview"] = Self.preview(preview()) }
        job.publish(JobEvents.json(event), replayable: replay)
    }

    /// Stores a finished image (PNG with its `parameters` chunk, gallery row) and announces it.
    func store(_ job: Job, raster: RasterImage, infotext: Infotext, seed: UInt64, index: Int, sampler: String,
               hash: String, imageStart: Date) throws {
        let o = job.spec.options
        let png = try PNG.encode(raster, text: [("parameters", infotext.text)])
        let id = UUID().uuidString.lowercased()
        let entry = GalleryEntry(
            id: id, jobId: job.id, created: Date().timeIntervalSince1970,
            duration: Date().timeIntervalSince(imageStart), prompt: o.prompt, negativePrompt: o.negativePrompt,
            model: job.spec.model.name, modelHash: hash, seed: seed, steps: o.steps, cfgScale: o.cfgScale,
            sampler: sampler, width: raster.width, height: raster.height, strength: o.effectiveStrength,
            infotext: infotext.text)
        try gallery.add(entry, png: png)
        let image = JobImage(id: id, url: "/api/images/\(id).png", seed: seed)
        job.update { $0.images.append(image) }
        job.publish(JobEvents.json(["type": "image", "image": JobEvents.images([image])[0], "index": index + 1]))
    }

    /// The x0 estimate as a picture [H', W', 3] in [0, 1]: the fitted colour map (one pixel per latent cell)
    /// or the full VAE decode.
    static func previewImage(_ denoised: Tensor, pipeline: StableDiffusionPipeline, decoder: PreviewDecoder) -> Tensor {
        switch decoder {
        case .approx: return pipeline.latentPreview.image(denoised)
        case .vae: return pipeline.decodeToImage(denoised)
        }
    }

    /// A small PNG (base64) of the decoded clean-latent estimate [H, W, 3] in [0, 1], box-filtered down to `previewSide`.
    static func preview(_ image: Tensor) -> String {
        let (h, w) = (image.shape[0], image.shape[1])
        let factor = max(1, (max(h, w) + previewSide - 1) / previewSide)
        let (ph, pw) = (h / factor, w / factor)
        var pixels = [UInt8](repeating: 0, count: ph * pw * 3)
        for y in 0..<ph { for x in 0..<pw { for c in 0..<3 {
            var sum: Float = 0
            for dy in 0..<factor { for dx in 0..<factor { sum += image.data[((y * factor + dy) * w + x * factor + dx) * 3 + c] } }
            let v = min(max(sum / Float(factor * factor), 0), 1)
            pixels[(y * pw + x) * 3 + c] = UInt8((v * 255).rounded())
        } } }
        let png = (try? PNG.encode(RasterImage(width: pw, height: ph, channels: 3, pixels: pixels))) ?? []
        return Data(png).base64EncodedString()
    }
}
