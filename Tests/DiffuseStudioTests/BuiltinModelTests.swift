import Diffuse
@testable import DiffuseStudio
import DiffuseModels
import DiffuseTraining
import Foundation
import HTTPTypes
import Hummingbird
import XCTest

/// The built-in shapes model through the real server: listed and default, its own pipeline with step events
/// and previews, the same pixels as `BuiltinModel.generate`, and clear refusals of what it cannot do.
final class BuiltinModelTests: XCTestCase {
    static func events(_ text: String) -> [[String: Any]] {
        text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
    }

    func testBuiltinIsListedAndIsTheDefault() async throws {
        let t = try TestStudio(defaultModel: nil)
        defer { t.shutdown() }
        try await t.test { client in
            let info = try await client.get("/api/models").json
            XCTAssertEqual(info["default"] as? String, "builtin")
            let models = try XCTUnwrap(info["models"] as? [[String: Any]])
            XCTAssertEqual(models.compactMap { $0["name"] as? String }, ["builtin", "sd1", "sd2"])
            XCTAssertEqual(models[0]["kind"] as? String, "trained")
            XCTAssertEqual(models[0]["size"] as? Int, 64)
            XCTAssertEqual(models[0]["samplers"] as? [String], ["ddim"])
            XCTAssertEqual(models[1]["kind"] as? String, "stable-diffusion")

            let a1111 = try await client.get("/sdapi/v1/sd-models").jsonArray
            XCTAssertEqual(a1111.first?["model_name"] as? String, "builtin")
            let options = try await client.get("/sdapi/v1/options")
            XCTAssertEqual(options.json["sd_model_checkpoint"] as? String, "builtin")
        }
    }

    func testOnlyTheBuiltinModelWithoutAModelsFolder() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("studio-nomodels-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: data) }
        let studio = try Studio(StudioConfiguration(modelsFolder: nil, dataFolder: data))
        defer { studio.queue.shutdown(timeout: 30) }
        XCTAssertEqual(studio.models.list().map(\.name), ["builtin"])
        let spec = try JobParameters(prompt: "a red circle").validated(models: studio.models, defaultModel: nil,
                                                                        limits: ServerLimits())
        XCTAssertEqual(spec.model.name, "builtin")
        XCTAssertEqual(spec.options.steps, BuiltinModel.defaultSteps)
        XCTAssertEqual(spec.options.cfgScale, Double(BuiltinModel.defaultGuidance))
        XCTAssertEqual(spec.options.eta, Double(BuiltinModel.defaultEta))
        var p = JobParameters(prompt: "a red circle")
        p.eta = 0
        XCTAssertEqual(try p.validated(models: studio.models, defaultModel: nil, limits: ServerLimits()).options.eta, 0,
                       "an explicit eta is kept")
        p.eta = 1.5
        XCTAssertThrowsError(try p.validated(models: studio.models, defaultModel: nil, limits: ServerLimits()))
    }

    func testJobStreamsPreviewsAndStoresTheSamePixelsAsTheModel() async throws {
        let t = try TestStudio(defaultModel: nil)
        defer { t.shutdown() }
        try await t.test { client in
            let created = try await client.post("/api/jobs", json: ["prompt": "a red circle", "steps": 4, "seed": 5,
                                                                    "cfg_scale": 3, "preview_every": 2])
            XCTAssertEqual(created.status, .created, created.text)
            XCTAssertEqual(created.json["model"] as? String, "builtin")
            XCTAssertEqual(created.json["warnings"] as? [String], [])
            let id = try XCTUnwrap(created.json["id"] as? String)
            // Subscribed right away: the step events with previews are live ones (replays drop previews).
            let messages = Self.events(try await client.get("/api/jobs/\(id)/events").text)
            let steps = messages.filter { $0["type"] as? String == "step" }
            XCTAssertEqual(steps.compactMap { $0["step"] as? Int }, [1, 2, 3, 4])
            XCTAssertTrue(steps.allSatisfy { $0["total"] as? Int == 4 })
            let done = try XCTUnwrap(messages.last)
            XCTAssertEqual(done["status"] as? String, "succeeded", "\(done)")
            XCTAssertEqual(done["seeds"] as? [Int], [5])
            let url = try XCTUnwrap((done["images"] as? [[String: Any]])?.first?["url"] as? String)

            let png = try PNG.decode(Array(try await client.get(url).body.readableBytesView))
            XCTAssertEqual([png.width, png.height], [64, 64])
            let info = Infotext.parse(try XCTUnwrap(png.text("parameters")))
            XCTAssertEqual(info.prompt, "a red circle")
            XCTAssertEqual(info["Sampler"], "DDIM")
            XCTAssertEqual(info["Steps"], "4")
            XCTAssertEqual(info["Seed"], "5")
            XCTAssertEqual(info["CFG scale"], "3.0")   // Infotext.format, as A1111 writes floats
            XCTAssertEqual(info["Model"], "builtin")

            // Bit-exact with the model called directly: the server adds nothing to the numerics (same code,
            // same process, same thread count, so no tolerance is needed).
            let model = try BuiltinModel(contentsOf: try XCTUnwrap(BuiltinModel.bundledURL))
            let direct = JobRunner.unitImage(model.generate(prompt: "a red circle", seed: 5, steps: 4, guidance: 3,
                                                                       eta: BuiltinModel.defaultEta))
            let expected = RasterImage(unitFloats: direct.data, width: 64, height: 64)
            XCTAssertEqual(png.rgb().pixels, expected.pixels)

            // A preview is the x̂0 estimate at that step: at the last step it is the image itself up to the
            // last DDIM step (x0 → x_prev with ᾱ_prev = 1 is the identity), so it matches the PNG exactly.
            let previews = steps.compactMap { $0["preview"] as? String }
            XCTAssertEqual(previews.count, 2)
            let last = try PNG.decode(Array(try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(previews.last)))))
            XCTAssertEqual([last.width, last.height], [64, 64])
            XCTAssertEqual(last.rgb().pixels, expected.pixels)

            let entry = try XCTUnwrap(try t.studio.gallery.list().first)
            XCTAssertEqual(entry.model, "builtin")
            XCTAssertEqual(entry.sampler, "DDIM")
            XCTAssertEqual([entry.width, entry.height, entry.steps], [64, 64, 4])
            XCTAssertEqual(entry.modelHash, try a1111ModelHash(ofFileAt: try XCTUnwrap(BuiltinModel.bundledURL)))
        }
    }

    /// init_image + strength: int(steps × strength) DDIM steps from the noised image, the same pixels as
    /// `BuiltinModel.generate(initImage:strength:)` called directly, and the strength in the infotext.
    func testImageToImage() async throws {
        let t = try TestStudio(defaultModel: nil)
        defer { t.shutdown() }
        var pixels = [UInt8](repeating: 200, count: 64 * 64 * 3)
        for y in 20..<44 { for x in 20..<44 { pixels[(y * 64 + x) * 3 + 1] = 30 } }   // a magenta square on white
        let initImage = RasterImage(width: 64, height: 64, channels: 3, pixels: pixels)
        try await t.test { client in
            let created = try await client.post("/api/jobs", json: ["prompt": "a purple square", "steps": 4, "seed": 2,
                                                                    "init_image": Data(try PNG.encode(initImage)).base64EncodedString(),
                                                                    "strength": 0.5])
            XCTAssertEqual(created.status, .created, created.text)
            let id = try XCTUnwrap(created.json["id"] as? String)
            let messages = Self.events(try await client.get("/api/jobs/\(id)/events").text)
            let steps = messages.filter { $0["type"] as? String == "step" }
            XCTAssertEqual(steps.compactMap { $0["total"] as? Int }.last, 2)
            let done = try XCTUnwrap(messages.last)
            XCTAssertEqual(done["status"] as? String, "succeeded", "\(done)")
            let url = try XCTUnwrap((done["images"] as? [[String: Any]])?.first?["url"] as? String)
            let png = try PNG.decode(Array(try await client.get(url).body.readableBytesView))
            XCTAssertEqual(Infotext.parse(try XCTUnwrap(png.text("parameters")))["Denoising strength"], "0.5")
            let model = try BuiltinModel(contentsOf: try XCTUnwrap(BuiltinModel.bundledURL))
            let direct = JobRunner.unitImage(model.generate(prompt: "a purple square", seed: 2, steps: 4, guidance: 4,
                                                            eta: BuiltinModel.defaultEta,
                                                            initImage: initImage.normalizedTensor(), strength: 0.5))
            XCTAssertEqual(png.rgb().pixels, RasterImage(unitFloats: direct.data, width: 64, height: 64).pixels)
        }
    }

    func testUnknownWordsAreReportedAsWarnings() async throws {
        let t = try TestStudio(defaultModel: nil)
        defer { t.shutdown() }
        try await t.test { client in
            let created = try await client.post("/api/jobs", json: ["prompt": "a red circle riding a banana", "steps": 2])
            XCTAssertEqual(created.status, .created, created.text)
            let warning = try XCTUnwrap((created.json["warnings"] as? [String])?.first)
            XCTAssertTrue(warning.contains("banana") && warning.contains("riding"), warning)
            let id = try XCTUnwrap(created.json["id"] as? String)
            let stream = try await client.get("/api/jobs/\(id)/events")
            let done = try XCTUnwrap(Self.events(stream.text).last)
            XCTAssertEqual(done["warnings"] as? [String], [warning])
            let polled = try await client.get("/api/jobs/\(id)")
            XCTAssertEqual(polled.json["warnings"] as? [String], [warning])
            // Words past the tokenizer's 16 are named too, not dropped silently.
            let long = try await client.post("/api/jobs", json: ["prompt": "a red circle left of a blue square and a green star above a yellow triangle on a white background", "steps": 2])
            XCTAssertEqual(long.status, .created, long.text)
            XCTAssertEqual(long.json["warnings"] as? [String],
                           ["model 'builtin' reads the first 16 words of a prompt; dropped: on a white background"])
        }
    }

    func testSettingsTheModelCannotHonourAreRefused() async throws {
        let t = try TestStudio(defaultModel: nil)
        defer { t.shutdown() }
        try await t.test { client in
            let png = try PNG.encode(RasterImage(width: 32, height: 32, channels: 3, pixels: [UInt8](repeating: 9, count: 32 * 32 * 3)))
            let cases: [([String: Any], String, String)] = [
                (["init_image": Data(png).base64EncodedString()], "init_image", "64x64 images only; init_image is 32x32"),
                (["strength": 0.5], "strength", "strength needs init_image"),
                (["width": 128], "width", "64x64"),
                (["height": 32], "height", "64x64"),
                (["sampler": "Euler a"], "sampler", "DDIM only"),
                (["negative_prompt": "blue"], "negative_prompt", "negative prompt"),
                (["eta": 1.5], "eta", "eta"),
                (["steps": 0], "steps", "steps"),
            ]
            for (extra, param, phrase) in cases {
                let r = try await client.post("/api/jobs", json: ["prompt": "a red circle"].merging(extra) { a, _ in a })
                XCTAssertEqual(r.status, .badRequest, "\(extra): \(r.text)")
                XCTAssertEqual(r.errorParam, param, "\(extra): \(r.text)")
                XCTAssertTrue(r.errorMessage.contains(phrase), "\(extra): \(r.errorMessage)")
            }
            // DDIM by any of its names and the model's own size are fine.
            let ok = try await client.post("/api/jobs", json: ["prompt": "a red circle", "sampler": "DDIM", "width": 64,
                                                               "height": 64, "steps": 1])
            XCTAssertEqual(ok.status, .created, ok.text)
            // The A1111 route refuses with its own error shape.
            let a = try await client.post("/sdapi/v1/txt2img", json: ["prompt": "x", "sampler_name": "Euler a", "steps": 2])
            XCTAssertEqual(a.status, .badRequest, a.text)
            XCTAssertTrue((a.json["detail"] as? String ?? "").contains("DDIM only"), a.text)
        }
    }

    func testSkipDropsTheCurrentImageAndTheBatchGoesOn() async throws {
        let t = try TestStudio(defaultModel: nil)
        defer { t.shutdown() }
        try await t.test { client in
            // 40 steps of the 64² model take a few seconds even on a quiet machine: time to skip mid-image.
            let created = try await client.post("/api/jobs", json: ["prompt": "a blue square", "steps": 40, "seed": 11,
                                                                    "batch_size": 2, "preview_every": 0])
            let id = try XCTUnwrap(created.json["id"] as? String)
            let job = try XCTUnwrap(t.studio.queue.job(id: id))
            while !(job.snapshot.status == .running && job.snapshot.step >= 1) {
                try await Task.sleep(nanoseconds: 5_000_000)
            }
            XCTAssertEqual(job.snapshot.image, 1)
            let skip = try await client.post("/sdapi/v1/skip", json: [:])
            XCTAssertEqual(skip.status, .ok)
            let done = try await waitForJob(t.studio, id)
            XCTAssertEqual(done.status, .succeeded, done.error ?? "")
            XCTAssertEqual(done.images.map(\.seed), [12])   // the first image (seed 11) was dropped
            let messages = Self.events(try await client.get("/api/jobs/\(id)/events").text)
            XCTAssertTrue(messages.contains { $0["type"] as? String == "skipped" && $0["seed"] as? Int == 11 })
            XCTAssertEqual(try t.studio.gallery.count(), 1)
        }
    }
}
