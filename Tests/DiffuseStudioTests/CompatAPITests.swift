import Diffuse
@testable import DiffuseStudio
import Foundation
import HTTPTypes
import Hummingbird
import XCTest

final class CompatAPITests: XCTestCase {
    func testA1111Txt2ImgAndImg2Img() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let r = try await client.post("/sdapi/v1/txt2img", json: [
                "prompt": "a house", "negative_prompt": "blur", "seed": 11, "steps": 3, "width": 32, "height": 32,
                "sampler_name": "Euler a", "batch_size": 2, "n_iter": 1, "enable_hr": false, "alwayson_scripts": [:]])
            XCTAssertEqual(r.status, .ok, r.text)
            let images = try XCTUnwrap(r.json["images"] as? [String])
            XCTAssertEqual(images.count, 2)
            XCTAssertFalse(images[0].hasPrefix("data:"))   // bare base64, as A1111
            let png = try PNG.decode(Array(try XCTUnwrap(Data(base64Encoded: images[0]))))
            XCTAssertTrue(png.text("parameters")?.contains("Negative prompt: blur") == true)
            // `info` is a JSON string, not an object (webuiapi json.loads it).
            let infoText = try XCTUnwrap(r.json["info"] as? String)
            let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(infoText.utf8)) as? [String: Any])
            XCTAssertEqual(info["all_seeds"] as? [Int], [11, 12])
            XCTAssertEqual(info["sampler_name"] as? String, "Euler a")
            XCTAssertEqual((info["infotexts"] as? [String])?.count, 2)
            XCTAssertEqual((r.json["parameters"] as? [String: Any])?["enable_hr"] as? Bool, false)

            let i2i = try await client.post("/sdapi/v1/img2img", json: [
                "prompt": "a house at night", "init_images": ["data:image/png;base64," + images[0]], "seed": 5,
                "steps": 4, "denoising_strength": 0.5, "width": 512, "height": 512])
            XCTAssertEqual(i2i.status, .ok, i2i.text)
            let out = try PNG.decode(Array(try XCTUnwrap(Data(base64Encoded: (i2i.json["images"] as? [String])?.first ?? ""))))
            XCTAssertEqual(out.width, 32)   // the init image's size, not the requested 512
            XCTAssertTrue(out.text("parameters")?.contains("Denoising strength: 0.5") == true)

            let missing = try await client.post("/sdapi/v1/img2img", json: ["prompt": "x"])
            XCTAssertEqual(missing.status, .unprocessableContent)
            XCTAssertEqual(missing.json["error"] as? String, "HTTPException")
        }
    }

    func testA1111ModelsSamplersOptionsProgress() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let models = try await client.get("/sdapi/v1/sd-models").jsonArray
            XCTAssertEqual(models.compactMap { $0["model_name"] as? String }, ["builtin", "sd1", "sd2"])
            XCTAssertEqual(models.last?["title"] as? String, "sd2.safetensors")
            XCTAssertFalse((models.last?["filename"] as? String ?? "/").contains("/"))   // no server paths leak
            let samplers = try await client.get("/sdapi/v1/samplers").jsonArray.compactMap { $0["name"] as? String }
            XCTAssertTrue(samplers.contains("Euler a") && samplers.contains("DPM++ 2M"))

            let r15 = try await client.get("/sdapi/v1/options")
            XCTAssertEqual(r15.json["sd_model_checkpoint"] as? String, "sd1")
            let set = try await client.post("/sdapi/v1/options", json: ["sd_model_checkpoint": "sd2.safetensors", "other": 1])
            XCTAssertEqual(set.status, .ok)
            let r16 = try await client.get("/sdapi/v1/options")
            XCTAssertEqual(r16.json["sd_model_checkpoint"] as? String, "sd2.safetensors")
            let bad = try await client.post("/sdapi/v1/options", json: ["sd_model_checkpoint": "/etc/passwd"])
            XCTAssertEqual(bad.status, .notFound)

            let idle = try await client.get("/sdapi/v1/progress").json
            XCTAssertEqual(idle["progress"] as? Double, 0)
            XCTAssertEqual((idle["state"] as? [String: Any])?["job_count"] as? Int, 0)

            // Interrupt: a long txt2img started elsewhere ends early and still answers.
            let job = try t.studio.submit({ var p = JobParameters(prompt: "long"); p.steps = 400; p.sampler = "euler"; return p }())
            for _ in 0..<600 where job.snapshot.step < 1 { try await Task.sleep(nanoseconds: 10_000_000) }
            let busy = try await client.get("/sdapi/v1/progress").json
            XCTAssertGreaterThan(busy["progress"] as? Double ?? 0, 0)
            let r17 = try await client.post("/sdapi/v1/interrupt", json: [:])
            XCTAssertEqual(r17.status, .ok)
            await job.waitUntilFinished()
            XCTAssertEqual(job.snapshot.status, .cancelled)
        }
    }

    func testOpenAIImagesGenerations() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            for path in ["/v1/images/generations", "/images/generations"] {
                let r = try await client.post(path, json: ["prompt": "a lighthouse", "model": "dall-e-3", "n": 1,
                                                           "size": "32x32", "quality": "hd", "moderation": "low", "steps": 2])
                XCTAssertEqual(r.status, .ok, r.text)
                XCTAssertNotNil(r.json["created"] as? Int)
                let b64 = try XCTUnwrap((r.json["data"] as? [[String: Any]])?.first?["b64_json"] as? String)
                XCTAssertEqual(try PNG.decode(Array(try XCTUnwrap(Data(base64Encoded: b64)))).width, 32)
            }
            let url = try await client.post("/v1/images/generations", json: ["prompt": "x", "size": "32x32", "steps": 2,
                                                                             "response_format": "url"])
            let link = try XCTUnwrap((url.json["data"] as? [[String: Any]])?.first?["url"] as? String)
            XCTAssertTrue(link.hasPrefix("http://") && link.hasSuffix(".png"), link)

            let noPrompt = try await client.post("/v1/images/generations", json: ["n": 1])
            XCTAssertEqual(noPrompt.status, .badRequest)
            XCTAssertEqual(noPrompt.errorParam, "prompt")
            XCTAssertEqual((noPrompt.json["error"] as? [String: Any])?["type"] as? String, "invalid_request_error")
            let badSize = try await client.post("/v1/images/generations", json: ["prompt": "x", "size": "big"])
            XCTAssertEqual(badSize.errorParam, "size")
            let badModel = try await client.post("/v1/images/generations", json: ["prompt": "x", "model": "nope"])
            XCTAssertEqual(badModel.status, .notFound)
        }
    }
}
