import DiffuseModels
import DiffuseSampling
import Foundation
import XCTest
@testable import Diffuse

/// End-to-end images against diffusers 0.42.1 (Tests/Fixtures/expected/pipeline.json, made by
/// scripts/fixtures/pipeline.py): every sampler, guidance 1 and 7.5, with and without a negative prompt,
/// txt2img and img2img, on the SD1-style and SD2-style tiny models.
final class PipelineParityTests: XCTestCase {
    struct Case: Decodable {
        let id, model, mode, prompt, sampler: String
        let negative_prompt: String?
        let seed: UInt64
        let steps, width, height: Int
        let cfg: Float
        let init_image: String?
        let strength: Float?
        let output: [String: String]
    }

    struct Expected: Decodable { let cases: [Case] }

    /// Loaded once per model source; loading is not what these tests measure.
    nonisolated(unsafe) static var pipelines: [String: StableDiffusionPipeline] = [:]

    static func pipeline(_ name: String) throws -> StableDiffusionPipeline {
        if let p = pipelines[name] { return p }
        let p = try StableDiffusionPipeline(contentsOf: fixturesRoot.appendingPathComponent(name))
        pipelines[name] = p
        return p
    }

    func loadCases() throws -> ([Case], SafeTensorsFile) {
        let url = fixturesRoot.appendingPathComponent("expected/pipeline.json")
        let cases = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: url)).cases
        return (cases, try SafeTensorsFile(url: fixturesRoot.appendingPathComponent("expected/pipeline.safetensors")))
    }

    func request(for c: Case) throws -> GenerationRequest {
        var r = GenerationRequest(prompt: c.prompt)
        r.negativePrompt = c.negative_prompt ?? ""
        r.steps = c.steps
        r.guidanceScale = c.cfg
        r.sampler = try XCTUnwrap(SamplerKind(rawValue: c.sampler))
        r.seed = c.seed
        r.width = c.width
        r.height = c.height
        if let path = c.init_image {
            let png = try PNG.read(contentsOf: fixturesRoot.appendingPathComponent(path)).rgb()
            r.initImage = png.normalizedTensor()
            r.strength = c.strength ?? 0.75
        }
        return r
    }

    /// Runs every case on `source` (a folder or single file holding the same weights as `c.model`).
    func runCases(source: (String) -> String, only: (Case) -> Bool = { _ in true }) throws {
        let (cases, file) = try loadCases()
        var worst: (Float, String) = (0, "")
        var perSampler: [String: Float] = [:]
        for c in cases where only(c) {
            let pipe = try Self.pipeline(source(c.model))
            let start = Date()
            let result = try pipe.generate(try request(for: c))
            let seconds = Date().timeIntervalSince(start)
            let expected = try file.requireWeight(named: try XCTUnwrap(c.output["image"])).toTensor()  // [1, 3, H, W]
            let ours = chw(result.image)
            let err = ours.maxAbsDifference(expected)
            if err > worst.0 { worst = (err, c.id) }
            perSampler[c.sampler] = max(perSampler[c.sampler] ?? 0, err)
            print(String(format: "parity %@ via %@: image error %.2e, %.3f s", c.id, source(c.model), err, seconds))
            // The bound is 2/255 on the image; float32 differences in the tiny nets are ~1e-6, and
            // a few steps of sampling amplify them to ~1e-5. 1e-4 (1/40 of a grey level) still catches any
            // wrong coefficient, draw order or schedule (those move pixels by 1e-2 or more).
            XCTAssertLessThan(err, 1e-4, "\(c.id) on \(source(c.model)): max abs image error \(err)")
        }
        print("pipeline parity: worst image error \(worst.0) (\(worst.1)); per sampler: \(perSampler.sorted { $0.key < $1.key })")
    }

    func testFoldersMatchDiffusers() throws {
        try runCases(source: { $0 })
    }

    /// The single-file checkpoints hold the same weights in the original LDM layout (SD2: OpenCLIP text
    /// encoder with one extra, skipped layer). Their scheduler config is SD's standard one, whose schedule keys
    /// equal the folders', so every sampler must give diffusers' image here too.
    func testSingleFilesMatchDiffusers() throws {
        try runCases(source: { "\($0).safetensors" }, only: { _ in true })
    }

    /// [H, W, 3] → [1, 3, H, W].
    func chw(_ x: Tensor) -> Tensor {
        let (h, w) = (x.shape[0], x.shape[1])
        return Tensor(shape: [1, 3, h, w]) { out in
            for c in 0..<3 { for y in 0..<h { for i in 0..<w { out[(c * h + y) * w + i] = x.data[(y * w + i) * 3 + c] } } }
        }
    }
}

/// Long prompts: diffusers truncates at 77 tokens and we warn with the dropped text; chunked mode keeps
/// every window and, for a prompt that fits one window, is the same conditioning as plain mode.
final class LongPromptTests: XCTestCase {
    func testTruncationWarnsAndChunkingMatchesShortPrompts() throws {
        let pipe = try PipelineParityTests.pipeline("sd1")
        var r = GenerationRequest(prompt: "a red cube on a blue table")
        r.steps = 2; r.width = 32; r.height = 32; r.seed = 5; r.sampler = .euler
        let plain = try pipe.generate(r)
        r.chunkedPrompts = true
        let chunked = try pipe.generate(r)
        XCTAssertEqual(plain.image, chunked.image)  // same ids, same arithmetic: bit-identical

        r.prompt = Array(repeating: "a red cube on a blue table,", count: 20).joined(separator: " ")
        r.chunkedPrompts = false
        let truncated = try pipe.generate(r)
        XCTAssertEqual(truncated.warnings.count, 1)
        XCTAssertTrue(truncated.warnings[0].contains("dropped"), truncated.warnings[0])
        r.chunkedPrompts = true
        let long = try pipe.generate(r)
        XCTAssertEqual(long.warnings, [])
        XCTAssertNotEqual(long.image, truncated.image)  // the later windows reach the UNet
    }

    /// η reaches DDIM only; with another sampler it is named in a warning, not dropped in silence.
    func testEtaWithAnotherSamplerIsNamed() {
        XCTAssertEqual(StableDiffusionPipeline.etaWarning(.euler, eta: 0.5), "eta 0.5 applies to DDIM only; the Euler sampler ignores it")
        XCTAssertNil(StableDiffusionPipeline.etaWarning(.ddim, eta: 0.5))
        XCTAssertNil(StableDiffusionPipeline.etaWarning(.euler, eta: 0))
        XCTAssertNil(StableDiffusionPipeline.etaWarning(.eulerAncestral, eta: 1), "A1111's default for its ancestral samplers")
        XCTAssertNotNil(StableDiffusionPipeline.etaWarning(.eulerAncestral, eta: 0.3))
    }
}
