// OpenAI Images: `POST /v1/images/generations` (and without `/v1`, as some clients build the URL) queues a job,
// waits for it and answers `{created, data: [{b64_json} | {url}]}`. Unknown fields are ignored (new SDKs send
// `background`, `moderation`, `output_format`, …); errors use OpenAI's `{"error": {message, type, param, code}}`.

import Foundation
import HTTPTypes
import Hummingbird

struct OpenAIImageRequest: Decodable {
    var prompt: String?
    var model: String?
    var n: Int?
    var size: String?
    var responseFormat: String?
    // Extensions (LocalAI / A1111 style) so that an OpenAI client can still set the usual knobs.
    var negativePrompt: String?
    var steps: Int?
    var seed: Int64?
    var cfgScale: Double?
    var sampler: String?
}

extension Studio {
    func addOpenAIRoutes(to router: Router<StudioContext>) {
        for path in ["/v1/images/generations", "/images/generations"] {
            router.post(RouterPath(path)) { request, context in
                await Self.guarded { try await self.openAIGenerate(request, context) }
            }
        }
        for path in ["/v1/models", "/models"] {
            router.get(RouterPath(path)) { _, _ in
                Reply.object(["object": "list", "data": self.models.list().map {
                    ["id": $0.name, "object": "model", "created": 0, "owned_by": "diffuse"] as [String: Any]
                }])
            }
        }
    }

    private func openAIGenerate(_ request: Request, _ context: StudioContext) async throws -> Response {
        let body = try await Reply.decode(OpenAIImageRequest.self, request, context)
        guard let prompt = body.prompt, !prompt.isEmpty else {
            throw StudioError(.badRequest, "prompt is required", param: "prompt")
        }
        let format = body.responseFormat ?? "b64_json"
        guard format == "b64_json" || format == "url" else {
            throw StudioError(.badRequest, "response_format must be 'b64_json' or 'url' (got '\(format)')", param: "response_format")
        }
        var p = JobParameters(prompt: prompt)
        p.negativePrompt = body.negativePrompt
        p.steps = body.steps
        p.seed = body.seed
        p.cfgScale = body.cfgScale
        p.sampler = body.sampler
        p.batchSize = body.n
        p.previewEvery = 0
        if let model = body.model, !Self.isOpenAIModelName(model) { p.model = model }
        if let size = body.size, size != "auto" {
            let parts = size.lowercased().split(separator: "x")
            guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else {
                throw StudioError(.badRequest, "size must be 'WIDTHxHEIGHT' such as '512x512', or 'auto' (got '\(size)')", param: "size")
            }
            (p.width, p.height) = (w, h)
        }
        let job = try submit(p)
        await job.waitUntilFinished()
        let s = job.snapshot
        guard s.status == .succeeded else {
            throw StudioError(s.status == .cancelled ? .conflict : .internalServerError,
                              "generation \(s.status.rawValue): \(s.error ?? "unknown error")")
        }
        let host = request.head.authority ?? "\(config.host):\(config.port)"
        let data: [[String: Any]] = try s.images.map { image in
            if format == "url" { return ["url": "http://\(host)\(image.url)", "revised_prompt": prompt] }
            guard let url = gallery.fileURL(id: image.id), let png = FileManager.default.contents(atPath: url.path) else {
                throw StudioError(.internalServerError, "image \(image.id) is missing from the gallery")
            }
            return ["b64_json": png.base64EncodedString(), "revised_prompt": prompt]
        }
        return Reply.object(["created": Int(s.finished ?? Date().timeIntervalSince1970), "data": data])
    }

    /// OpenAI's own model names mean "whatever this server has": the default model.
    static func isOpenAIModelName(_ name: String) -> Bool {
        name.hasPrefix("dall-e") || name.hasPrefix("gpt-image")
    }
}
