// The native job API: queue a job, poll it, cancel it, follow it as server-sent events, fetch its images.

import Diffuse
import DiffuseTraining
import Foundation
import HTTPTypes
import Hummingbird

extension Studio {
    /// Native errors: `{"error": {"message", "type", "param", "code"}}` (the OpenAI shape, so one parser fits).
    static func errorResponse(_ error: Error) -> Response {
        switch error {
        case let e as StudioError:
            var body: [String: Any] = ["message": e.description, "type": e.status.code < 500 ? "invalid_request_error" : "server_error",
                                       "code": e.status.code]
            body["param"] = e.param ?? NSNull()
            return Reply.object(["error": body], status: e.status)
        case let e as QueueFullError:
            var headers = HTTPFields()
            headers[.retryAfter] = String(e.retryAfter)
            return Reply.object(["error": ["message": e.description, "type": "rate_limit_error", "code": 429, "param": NSNull()]],
                                status: .tooManyRequests, headers: headers)
        default:
            return Reply.object(["error": ["message": String(describing: error), "type": "server_error", "code": 500, "param": NSNull()]],
                                status: .internalServerError)
        }
    }

    /// Runs a handler, turning thrown errors into JSON error responses.
    static func guarded(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch { return errorResponse(error) }
    }

    func job(_ context: StudioContext) throws -> Job {
        let id = context.parameters.get("id") ?? ""
        guard let job = queue.job(id: id) else { throw StudioError(.notFound, "no job with id '\(id)'") }
        return job
    }

    func addNativeRoutes(to router: Router<StudioContext>) {
        router.post("/api/jobs") { request, context in
            await Self.guarded {
                let params = try await Reply.decode(JobParameters.self, request, context)
                let job = try self.submit(params)
                return try Reply.json(self.snapshot(job), status: .created)
            }
        }
        router.get("/api/jobs") { _, _ in
            await Self.guarded {
                let running = self.queue.running.map { [self.snapshot($0)] } ?? []
                return try Reply.json(["running": running])
            }
        }
        router.get("/api/jobs/:id") { _, context in
            await Self.guarded { try Reply.json(self.snapshot(try self.job(context))) }
        }
        router.delete("/api/jobs/:id") { _, context in
            await Self.guarded {
                let job = try self.job(context)
                self.queue.cancel(job)
                return try Reply.json(self.snapshot(job))
            }
        }
        router.get("/api/jobs/:id/events") { _, context in
            await Self.guarded {
                let events = try self.job(context).events()
                var headers = HTTPFields()
                headers[.contentType] = "text/event-stream"
                headers[.cacheControl] = "no-cache"
                return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                    for await event in events {
                        try await writer.write(ByteBuffer(string: "data: \(event)\n\n"))
                    }
                    try await writer.finish(nil)
                })
            }
        }
        router.get("/api/images/:file") { _, context in
            await Self.guarded {
                let file = context.parameters.get("file") ?? ""
                guard file.hasSuffix(".png"), let url = self.gallery.fileURL(id: String(file.dropLast(4))),
                      let data = FileManager.default.contents(atPath: url.path) else {
                    throw StudioError(.notFound, "no image '\(file)'")
                }
                var headers = HTTPFields()
                headers[.cacheControl] = "private, max-age=31536000, immutable"
                return Reply.data(data, type: "image/png", headers: headers)
            }
        }
        router.get("/api/models") { _, _ in
            await Self.guarded {
                let loaded = Set(self.models.loadedNames)
                let list = self.models.list().map { m -> [String: Any] in
                    var o: [String: Any] = ["name": m.name, "loaded": loaded.contains(m.name), "kind": m.kind.rawValue]
                    // What the page needs to offer only settings the model honours.
                    if m.kind == .trained {
                        o["size"] = orNull(m.imageSize)
                        o["samplers"] = ["ddim"]
                        o["default_steps"] = BuiltinModel.defaultSteps
                        o["default_cfg_scale"] = Double(BuiltinModel.defaultGuidance)
                        o["default_eta"] = Double(BuiltinModel.defaultEta)
                        o["img2img"] = true   // init images of the model's size only
                        o["negative_prompt"] = false
                    } else {
                        o["default_steps"] = JobParameters.defaultSteps
                        o["default_cfg_scale"] = JobParameters.defaultCFGScale
                        o["img2img"] = true
                        o["negative_prompt"] = true
                    }
                    return o
                }
                return Reply.object(["models": list, "default": orNull(self.defaultModel ?? self.models.list().first?.name),
                                     "samplers": SamplerNames.all.map { ["name": $0.cli, "label": $0.a1111] }])
            }
        }
    }
}
