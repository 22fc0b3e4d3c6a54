// AUTOMATIC1111's `/sdapi/v1` API, enough for webuiapi, Open WebUI and SillyTavern: txt2img and img2img
// (bare base64 PNGs with their `parameters` chunk, `info` as a JSON *string*), progress, interrupt, skip,
// png-info, models, samplers and options. Skip drops the image being made and goes on with the batch (A1111
// keeps the half-finished image; a gallery of finished images should not get it). img2img keeps the init image's size (A1111 would resize it to width × height; we do
// not resample) and reports the size it used in `info`.

import Diffuse
import Foundation
import HTTPTypes
import Hummingbird

struct A1111Request: Decodable {
    struct Overrides: Decodable {
        var sdModelCheckpoint: String?
        var CLIPStopAtLastLayers: Int?
        enum CodingKeys: String, CodingKey {
            case sdModelCheckpoint = "sd_model_checkpoint", CLIPStopAtLastLayers = "CLIP_stop_at_last_layers"
        }
    }
    var prompt: String?
    var negativePrompt: String?
    var seed: Int64?
    var steps: Int?
    var cfgScale: Double?
    var samplerName: String?
    var samplerIndex: String?
    var width: Int?
    var height: Int?
    var batchSize: Int?
    var nIter: Int?
    var eta: Double?
    var denoisingStrength: Double?
    var initImages: [String]?
    var overrideSettings: Overrides?

    enum CodingKeys: String, CodingKey {
        case prompt, negativePrompt = "negative_prompt", seed, steps, cfgScale = "cfg_scale",
             samplerName = "sampler_name", samplerIndex = "sampler_index", width, height, batchSize = "batch_size",
             nIter = "n_iter", eta, denoisingStrength = "denoising_strength", initImages = "init_images",
             overrideSettings = "override_settings"
    }
}

extension Studio {
    /// A1111's error body: `{"error", "detail", "body", "errors"}` with the status of the failure.
    static func a1111Guarded(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let e as StudioError {
            return Reply.object(["error": "HTTPException", "detail": e.description, "body": "", "errors": e.description], status: e.status)
        } catch {
            return errorResponse(error)
        }
    }

    func modelTitle(_ m: ModelInfo) -> String {
        models.sha256(of: m.name).map { "\(m.fileName) [\($0.prefix(10))]" } ?? m.fileName
    }

    func addA1111Routes(to router: Router<StudioContext>) {
        router.post("/sdapi/v1/txt2img") { request, context in
            await Self.a1111Guarded { try await self.a1111Generate(request, context, img2img: false) }
        }
        router.post("/sdapi/v1/img2img") { request, context in
            await Self.a1111Guarded { try await self.a1111Generate(request, context, img2img: true) }
        }
        router.get("/sdapi/v1/progress") { _, _ in self.a1111Progress() }
        router.post("/sdapi/v1/interrupt") { _, _ in
            if let job = self.queue.running { self.queue.cancel(job) }
            return Reply.object([String: Any]())
        }
        router.post("/sdapi/v1/skip") { _, _ in
            if let job = self.queue.running { job.requestSkip() }
            return Reply.object([String: Any]())
        }
        router.post("/sdapi/v1/png-info") { request, context in
            await Self.a1111Guarded { try await self.a1111PNGInfo(request, context) }
        }
        router.get("/sdapi/v1/sd-models") { _, _ in
            Reply.object(self.models.list().map { m -> [String: Any] in
                let sha = self.models.sha256(of: m.name)
                return ["title": self.modelTitle(m), "model_name": m.name, "hash": sha.map { String($0.prefix(10)) as Any } ?? NSNull(),
                        "sha256": sha.map { $0 as Any } ?? NSNull(), "filename": m.fileName, "config": NSNull()]
            })
        }
        router.get("/sdapi/v1/samplers") { _, _ in
            Reply.object(SamplerNames.all.map { ["name": $0.a1111, "aliases": [$0.cli], "options": [String: String]()] as [String: Any] })
        }
        router.get("/sdapi/v1/schedulers") { _, _ in
            Reply.object([["name": "automatic", "label": "Automatic", "aliases": NSNull(), "default_rho": -1, "need_inner_model": false] as [String: Any]])
        }
        for empty in ["/sdapi/v1/upscalers", "/sdapi/v1/sd-vae", "/sdapi/v1/latent-upscale-modes", "/sdapi/v1/loras"] {
            router.get(RouterPath(empty)) { _, _ in Reply.object([Any]()) }
        }
        router.get("/sdapi/v1/options") { _, _ in
            await Self.a1111Guarded {
                let current = try self.defaultModel.map { try self.models.resolve($0) } ?? self.models.list().first
                return Reply.object(["sd_model_checkpoint": orNull(current.map(self.modelTitle)),
                                     "samples_format": "png", "CLIP_stop_at_last_layers": 1])
            }
        }
        router.post("/sdapi/v1/options") { request, context in
            await Self.a1111Guarded {
                let o = try await Reply.decode(A1111Request.Overrides.self, request, context, decoder: JSONDecoder())
                if let name = o.sdModelCheckpoint { self.defaultModel = try self.models.resolve(name).name }
                return Reply.data(Data("null".utf8))
            }
        }
    }

    private func a1111Generate(_ request: Request, _ context: StudioContext, img2img: Bool) async throws -> Response {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let raw = Data(buffer.readableBytesView)
        let body: A1111Request
        do { body = try JSONDecoder().decode(A1111Request.self, from: raw.isEmpty ? Data("{}".utf8) : raw) } catch {
            throw StudioError(.unprocessableContent, "the request body is not a valid \(img2img ? "img2img" : "txt2img") request")
        }
        var p = JobParameters(prompt: body.prompt ?? "")
        p.negativePrompt = body.negativePrompt
        p.seed = body.seed
        p.steps = body.steps
        p.cfgScale = body.cfgScale
        p.sampler = body.samplerName ?? body.samplerIndex
        p.batchSize = (body.batchSize ?? 1) * (body.nIter ?? 1)
        p.eta = body.eta
        p.model = body.overrideSettings?.sdModelCheckpoint
        p.clipSkip = body.overrideSettings?.CLIPStopAtLastLayers
        p.previewEvery = 0
        if img2img {
            guard let first = body.initImages?.first else {
                throw StudioError(.unprocessableContent, "img2img needs init_images (a list with one base64 PNG)", param: "init_images")
            }
            p.initImage = first
            p.strength = body.denoisingStrength ?? GenerationOptions.defaultStrength
        } else {
            (p.width, p.height) = (body.width, body.height)
        }
        if p.sampler == "" { p.sampler = nil }
        let job = try submit(p)
        await job.waitUntilFinished()
        let s = job.snapshot
        if s.status == .failed { throw StudioError(.internalServerError, "generation failed: \(s.error ?? "unknown error")") }
        let entries = try s.images.compactMap { try gallery.get(id: $0.id) }
        let images: [String] = entries.compactMap { e in
            gallery.fileURL(id: e.id).flatMap { FileManager.default.contents(atPath: $0.path) }?.base64EncodedString()
        }
        let echo = (try? JSONSerialization.jsonObject(with: raw)) ?? [String: Any]()
        return Reply.object(["images": images, "parameters": echo, "info": a1111Info(job, entries)])
    }

    /// `{"image": base64 PNG}` → the `parameters` text as `info`, the other text chunks as `items`, and the
    /// text parsed as A1111's parse_generation_parameters does (`Prompt`, `Negative prompt`, `Size-1`, …).
    private func a1111PNGInfo(_ request: Request, _ context: StudioContext) async throws -> Response {
        struct Body: Decodable { var image: String? }
        let body = try await Reply.decode(Body.self, request, context, decoder: JSONDecoder())
        guard let text = body.image?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
            throw StudioError(.unprocessableContent, "png-info needs image (a base64 PNG)", param: "image")
        }
        let png: PNGImage
        do { png = try PNG.decode(Array(try JobParameters.decodeBase64(text))) } catch let e as PNGError {
            throw StudioError(.badRequest, "image is not a readable PNG: \(e.description)", param: "image")
        } catch {
            throw StudioError(.badRequest, "image is not valid base64 (send a base64-encoded PNG)", param: "image")
        }
        let info = png.text("parameters") ?? ""
        var items: [String: String] = [:]
        for chunk in png.text where chunk.keyword != "parameters" { items[chunk.keyword] = chunk.text }
        var parameters: [String: Any] = [:]
        if !info.isEmpty {
            let parsed = Infotext.parse(info)
            parameters["Prompt"] = parsed.prompt
            parameters["Negative prompt"] = parsed.negativePrompt
            for p in parsed.parameters { parameters[p.key] = p.value }
            if let size = parsed.size { (parameters["Size-1"], parameters["Size-2"]) = (String(size.width), String(size.height)) }
        }
        return Reply.object(["info": info, "items": items, "parameters": parameters])
    }

    /// `Processed.js()` as a JSON string.
    private func a1111Info(_ job: Job, _ entries: [GalleryEntry]) -> String {
        let o = job.spec.options
        let first = entries.first
        let info: [String: Any] = [
            "prompt": o.prompt, "all_prompts": entries.map { _ in o.prompt }, "negative_prompt": o.negativePrompt,
            "all_negative_prompts": entries.map { _ in o.negativePrompt }, "seed": o.seeds.first ?? 0,
            "all_seeds": entries.map(\.seed), "subseed": -1, "all_subseeds": entries.map { _ in -1 },
            "subseed_strength": 0, "width": first?.width ?? o.width ?? 0, "height": first?.height ?? o.height ?? 0,
            "sampler_name": first?.sampler ?? "", "cfg_scale": o.cfgScale, "steps": o.steps,
            "batch_size": o.batchCount, "restore_faces": false, "face_restoration_model": NSNull(),
            "sd_model_name": job.spec.model.name, "sd_model_hash": first?.modelHash ?? "", "sd_vae_name": NSNull(),
            "sd_vae_hash": NSNull(), "seed_resize_from_w": -1, "seed_resize_from_h": -1,
            "denoising_strength": o.effectiveStrength ?? 0, "extra_generation_params": [String: String](),
            "index_of_first_image": 0, "infotexts": entries.map(\.infotext), "styles": [String](),
            "job_timestamp": Self.timestamp(job.created), "clip_skip": o.clipSkip ?? 1,
            "is_using_inpainting_conditioning": false,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: info, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func timestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMddHHmmss"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: date)
    }

    /// A1111's progress formula: 0.01 + job_no / job_count + (1 / job_count) · step / steps, capped at 1.
    private func a1111Progress() -> Response {
        let pending = queue.pendingCount
        guard let job = queue.running else {
            return Reply.object(["progress": 0.0, "eta_relative": 0.0, "current_image": NSNull(), "textinfo": NSNull(),
                                 "state": ["skipped": false, "interrupted": false, "stopping_generation": false, "job": "",
                                           "job_count": pending, "job_timestamp": "0", "job_no": 0,
                                           "sampling_step": 0, "sampling_steps": 0] as [String: Any]])
        }
        let s = job.snapshot
        let count = max(1, s.imageCount)
        let jobNo = max(0, s.image - 1)
        let progress = min(1, 0.01 + Double(jobNo) / Double(count) + Double(s.step) / Double(max(1, s.totalSteps)) / Double(count))
        let elapsed = s.started.map { Date().timeIntervalSince1970 - $0 } ?? 0
        return Reply.object([
            "progress": progress, "eta_relative": max(0, elapsed / progress - elapsed), "current_image": NSNull(),
            "textinfo": "step \(s.step)/\(s.totalSteps)",
            "state": ["skipped": false, "interrupted": job.isCancelled, "stopping_generation": false, "job": "job(\(s.id))",
                      "job_count": count + pending, "job_timestamp": Self.timestamp(job.created), "job_no": jobNo,
                      "sampling_step": s.step, "sampling_steps": s.totalSteps] as [String: Any],
        ])
    }
}
