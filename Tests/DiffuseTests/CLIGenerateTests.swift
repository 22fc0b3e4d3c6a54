import DiffuseModels
import Foundation
import XCTest
@testable import Diffuse

/// `diffuse generate` as a user runs it: the PNG it writes equals diffusers' image (within the issue's
/// 2/255) for every committed fixture model, carries the A1111 parameters, and model files that are
/// broken or not Stable Diffusion fail with one line and no output.
final class CLIGenerateTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-gen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func run(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try CLITests.runBinary(args, in: dir)
    }

    struct Case: Decodable {
        let id, model, prompt, sampler: String
        let negative_prompt: String?
        let seed: UInt64
        let steps: Int
        let cfg: Float
        let init_image: String?
        let strength: Float?
        let output: [String: String]
    }

    func testGeneratedPNGsMatchDiffusersForEveryFixtureModel() throws {
        struct Expected: Decodable { let cases: [Case] }
        let cases = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixturesRoot.appendingPathComponent("expected/pipeline.json"))).cases
        let file = try SafeTensorsFile(url: fixturesRoot.appendingPathComponent("expected/pipeline.safetensors"))
        let chosen = ["sd1-txt2img-euler-a-cfg7.5-neg", "sd2-txt2img-dpm++2m-karras-cfg7.5-neg",
                      "sd1-img2img-ddim-cfg7.5-s0.75", "sd2-img2img-heun-cfg7.5-s0.75"]
        for c in cases where chosen.contains(c.id) {
            for source in [c.model, "\(c.model).safetensors"] {
                let out = dir.appendingPathComponent("\(c.id)-\(source).png")
                var args = ["generate", "-m", fixturesRoot.appendingPathComponent(source).path, "-p", c.prompt,
                            "--steps", "\(c.steps)", "--cfg-scale", "\(c.cfg)", "--sampler", c.sampler,
                            "-s", "\(c.seed)", "-W", "32", "-H", "32", "-o", out.path]
                if let n = c.negative_prompt { args += ["-n", n] }
                if let i = c.init_image {
                    args += ["--init-image", fixturesRoot.appendingPathComponent(i).path, "--strength", "\(c.strength ?? 0.75)"]
                }
                let r = try run(args)
                XCTAssertEqual(r.status, 0, "\(c.id) \(source): \(r.stderr)")
                let png = try PNG.read(contentsOf: out)
                let expected = try file.requireWeight(named: c.output["image"]!).toTensor()  // [1, 3, 32, 32]
                let rgb = png.rgb()
                var worst: Float = 0
                for y in 0..<32 { for x in 0..<32 { for ch in 0..<3 {
                    let ours = Float(rgb.pixels[(y * 32 + x) * 3 + ch]) / 255
                    worst = max(worst, abs(ours - expected.data[(ch * 32 + y) * 32 + x]))
                } } }
                // 8-bit rounding alone is ≤ 0.5/255; the issue allows 2/255.
                XCTAssertLessThanOrEqual(worst, 2 / 255, "\(c.id) via \(source)")
                let info = try XCTUnwrap(png.text("parameters"))
                XCTAssertTrue(info.contains("Seed: \(c.seed), Size: 32x32"), info)
                XCTAssertTrue(info.contains("Model hash: "), info)
            }
        }
    }

    func expectModelError(_ model: URL, contains phrase: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let out = dir.appendingPathComponent("out.png")
        let r = try run(["generate", "-m", model.path, "-p", "cat", "-s", "1", "-o", out.path])
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.filter { $0 == "\n" }.count == 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(phrase), "expected '\(phrase)' in: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), file: file, line: line)
    }

    func testBrokenModelsFailWithOneLine() throws {
        // A truncated copy of a real checkpoint.
        let data = try Data(contentsOf: fixturesRoot.appendingPathComponent("sd1.safetensors"))
        let truncated = dir.appendingPathComponent("truncated.safetensors")
        try data.prefix(data.count / 2).write(to: truncated)
        try expectModelError(truncated, contains: "truncated.safetensors")
        // Not a safetensors file at all.
        let junk = dir.appendingPathComponent("junk.safetensors")
        try Data(repeating: 0xff, count: 64).write(to: junk)
        try expectModelError(junk, contains: "junk.safetensors")
        // A pickle checkpoint is refused, not loaded.
        let ckpt = dir.appendingPathComponent("model.ckpt")
        try Data([0x80, 0x02, 0x7d, 0x71, 0x00]).write(to: ckpt)
        try expectModelError(ckpt, contains: "safetensors")
        // A valid safetensors file of another architecture (SDXL's conditioner keys).
        let xl = dir.appendingPathComponent("xl.safetensors")
        try SafeTensorsWriter.write(tensors: [("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
                                               Tensor(zeros: [4]))], to: xl)
        try expectModelError(xl, contains: "unsupported")
        // A folder with a model_index.json but no components.
        let folder = dir.appendingPathComponent("empty-model")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: folder.appendingPathComponent("model_index.json"))
        try expectModelError(folder, contains: "empty-model")
    }
}

/// `diffuse generate "…"` with no --model uses the built-in shapes model.
extension CLIGenerateTests {
    func testBuiltinModelWritesImageAndWarnsOnUnknownWords() throws {
        let t = self
        let out = t.dir.appendingPathComponent("shapes.png")
        let r = try t.run(["generate", "a red cat on a blue background", "-s", "7", "--steps", "4", "-o", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: the built-in model knows shapes and colours; unknown words: cat"), r.stderr)
        XCTAssertFalse(r.stderr.contains("dropped"), r.stderr)
        let long = try t.run(["generate", "a red circle left of a blue square and a green star above a yellow triangle on a white background",
                              "-s", "7", "--steps", "2", "-o", t.dir.appendingPathComponent("long.png").path])
        XCTAssertEqual(long.status, 0, long.stderr)
        XCTAssertTrue(long.stderr.contains("warning: the built-in model reads the first 16 words of a prompt; dropped: on a white background"),
                      long.stderr)
        let png = try PNG.read(contentsOf: out)
        XCTAssertEqual([png.width, png.height], [64, 64])
        let info = try XCTUnwrap(png.text("parameters"))
        XCTAssertTrue(info.contains("Steps: 4, Sampler: DDIM, CFG scale: 4.0, Seed: 7, Size: 64x64"), info)
        XCTAssertTrue(info.hasSuffix(", Eta DDIM: 1.0"), "the default η = 1 is recorded as A1111 names it: \(info)")

        // Same seed, same image: the built-in model is deterministic too.
        let again = t.dir.appendingPathComponent("again.png")
        XCTAssertEqual(try t.run(["generate", "a red cat on a blue background", "-s", "7", "--steps", "4", "-o", again.path]).status, 0)
        XCTAssertEqual(try PNG.read(contentsOf: again).samples, png.samples)

        // --eta is honoured (it was silently ignored): the default η = 1 adds seeded noise per step, so --eta 0
        // draws another picture, and --eta 1 the default's.
        var drawn: [[UInt16]] = []
        for (name, eta) in [("eta0.png", "0"), ("eta1.png", "1")] {
            let url = t.dir.appendingPathComponent(name)
            let r = try t.run(["generate", "a red cat on a blue background", "-s", "7", "--steps", "4", "--eta", eta, "-o", url.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let read = try PNG.read(contentsOf: url)
            drawn.append(read.samples)
            XCTAssertEqual(try XCTUnwrap(read.text("parameters")).contains("Eta DDIM"), eta != "0")
        }
        XCTAssertNotEqual(drawn[0], png.samples)
        XCTAssertEqual(drawn[1], png.samples)

        // Image-to-image: strength 1 on this zero-terminal-SNR model starts from pure noise, so it draws the
        // text-to-image picture again; a lower strength runs int(steps × strength) steps from the image.
        let full = t.dir.appendingPathComponent("img2img-full.png")
        let r1 = try t.run(["generate", "a red cat on a blue background", "-s", "7", "--steps", "4", "--init-image", out.path,
                            "--strength", "1", "-o", full.path])
        XCTAssertEqual(r1.status, 0, r1.stderr)
        XCTAssertEqual(try PNG.read(contentsOf: full).samples, png.samples)
        let half = t.dir.appendingPathComponent("img2img-half.png")
        let r2 = try t.run(["generate", "a green star", "-s", "7", "--steps", "4", "--init-image", out.path,
                            "--strength", "0.5", "-o", half.path])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let halfPNG = try PNG.read(contentsOf: half)
        XCTAssertNotEqual(halfPNG.samples, png.samples)
        XCTAssertTrue(try XCTUnwrap(halfPNG.text("parameters")).contains("Denoising strength: 0.5"))
    }

    func testBuiltinModelRefusesWhatItCannotDo() throws {
        let t = self
        let small = t.dir.appendingPathComponent("small.png")
        try PNG.writeAtomically(try PNG.encode(RasterImage(unitFloats: [Float](repeating: 0.5, count: 32 * 32 * 3),
                                                           width: 32, height: 32)), to: small, overwrite: true)
        for (args, message) in [(["-W", "32"], "this model draws 64x64 images only"),
                                (["--sampler", "euler"], "this model samples with DDIM only"),
                                (["-n", "blue"], "this model has no negative prompt"),
                                (["--clip-skip", "2"], "this model has its own text encoder"),
                                (["--chunked-prompts"], "this model reads at most 16 words"),
                                (["--init-image", small.path], "--init-image \(small.path) is 32x32; this model draws 64x64 images only")] {
            let out = t.dir.appendingPathComponent("x.png")
            let r = try t.run(["generate", "a red circle", "-o", out.path] + args)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.hasPrefix("error: \(message)"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        }
    }
}
