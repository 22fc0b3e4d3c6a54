import XCTest
@testable import Diffuse

/// Every bad input is refused by validate() with one exact line, before any model is loaded.
final class OptionsTests: XCTestCase {
    var dir: URL!
    var model: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-opts-\(UUID().uuidString)")
        model = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: model.appendingPathComponent("model_index.json"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func base() -> GenerationOptions {
        var o = GenerationOptions(prompt: "a cat", modelPath: model.path)
        o.seed = 5
        o.output = dir.appendingPathComponent("out.png").path
        return o
    }

    func expect(_ message: String, file: StaticString = #filePath, line: UInt = #line, _ change: (inout GenerationOptions) throws -> Void) rethrows {
        var o = base()
        try change(&o)
        XCTAssertThrowsError(try o.validate(), file: file, line: line) { error in
            XCTAssertEqual("\(error)", message, file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), file: file, line: line)
        }
    }

    func testValidOptionsPass() throws {
        XCTAssertNoThrow(try base().validate())
        var o = base()
        o.width = 2048; o.height = 8; o.sampler = "dpm++2m-karras"; o.batchCount = 3; o.clipSkip = 2; o.eta = 1
        XCTAssertNoThrow(try o.validate())
    }

    func testBadNumbers() {
        expect("--steps must be between 1 and 1000 (got 0)") { $0.steps = 0 }
        expect("--steps must be between 1 and 1000 (got 1001)") { $0.steps = 1001 }
        expect("--cfg-scale must be 0 or more (got -1.0)") { $0.cfgScale = -1 }
        expect("--cfg-scale must be 0 or more (got nan)") { $0.cfgScale = .nan }
        expect("--width must be a multiple of 8 (got 500; nearest: 496 or 504)") { $0.width = 500 }
        expect("--height must be between 8 and 2048 (got 2056)") { $0.height = 2056 }
        expect("--width must be between 8 and 2048 (got 0)") { $0.width = 0 }
        expect("--batch-count must be between 1 and 100 (got 0)") { $0.batchCount = 0 }
        expect("--threads must be between 1 and \(Parallel.coreCount) (got 0)") { $0.threads = 0 }
        expect("--threads must be between 1 and \(Parallel.coreCount) (got \(Parallel.coreCount + 1))") { $0.threads = Parallel.coreCount + 1 }
        expect("--clip-skip must be between 1 and 12 (got 0)") { $0.clipSkip = 0 }
        expect("--eta must be between 0.0 and 1.0 (got 1.5)") { $0.eta = 1.5 }
        expect("unknown sampler 'k_euler' (valid: ddpm, ddim, pndm, euler, euler-a, heun, dpm++2m, dpm++2m-karras, lcm)") { $0.sampler = "k_euler" }
        expect("--strength needs --init-image (it sets how much of the image is redrawn)") { $0.strength = 0.5 }
    }

    func testModelPath() throws {
        expect("--model is required (a diffusers model folder or a .safetensors file)") { $0.modelPath = "" }
        expect("--model /nonexistent/m does not exist") { $0.modelPath = "/nonexistent/m" }
        expect("--model \(dir.path) is not a diffusers model folder (no model_index.json in it)") { $0.modelPath = dir.path }
        let ckpt = dir.appendingPathComponent("m.ckpt")
        try Data([0]).write(to: ckpt)
        expect("--model \(ckpt.path) is not a .safetensors file or a diffusers model folder") { $0.modelPath = ckpt.path }
    }

    func writeImage(_ name: String, _ w: Int, _ h: Int) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(PNG.encode(RasterImage(width: w, height: h, channels: 3, pixels: [UInt8](repeating: 90, count: w * h * 3)))).write(to: url)
        return url.path
    }

    func testInitImage() throws {
        let good = try writeImage("good.png", 16, 8)
        var o = base()
        o.initImagePath = good
        XCTAssertNoThrow(try o.validate())
        XCTAssertEqual(o.effectiveStrength, 0.75)
        expect("--strength must be between 0.0 and 1.0 (got 1.5)") { $0.initImagePath = good; $0.strength = 1.5 }
        expect("--strength 0.01 with --steps 50 leaves no denoising step (steps × strength must be at least 1)") {
            $0.initImagePath = good; $0.strength = 0.01
        }
        let odd = try writeImage("odd.png", 12, 8)
        expect("--init-image \(odd) is 12x8; width and height must be multiples of 8 (crop or resize it to 8x8)") { $0.initImagePath = odd }
        expect("--width 32 does not match the init image's width 16 (leave -W out with --init-image)") { $0.initImagePath = good; $0.width = 32 }
        expect("--init-image: cannot read /nonexistent.png: No such file or directory") { $0.initImagePath = "/nonexistent.png" }
        let junk = dir.appendingPathComponent("junk.png")
        try Data("hello".utf8).write(to: junk)
        expect("--init-image: \(junk.path): not a PNG file") { $0.initImagePath = junk.path }
    }

    func testOutputs() throws {
        let existing = dir.appendingPathComponent("out.png")
        try Data([1]).write(to: existing)
        expect("output file \(existing.path) already exists (use --force to overwrite)") { _ in }
        var o = base()
        o.force = true
        XCTAssertNoThrow(try o.validate())
        expect("output folder /nonexistent does not exist") { $0.output = "/nonexistent/x.png" }
        expect("output \(dir.path) is a folder; give a file name") { $0.output = self.dir.path }
    }

    func testOutputNaming() {
        var o = base()
        o.output = nil
        o.seed = 41
        o.batchCount = 2
        XCTAssertEqual(o.outputURLs.map(\.lastPathComponent), ["diffuse-41.png", "diffuse-42.png"])
        o.output = "/tmp/run.png"
        XCTAssertEqual(o.outputURLs.map(\.path), ["/tmp/run-1.png", "/tmp/run-2.png"])
        o.output = "/tmp/img_%d_x.png"
        XCTAssertEqual(o.outputURLs.map(\.path), ["/tmp/img_1_x.png", "/tmp/img_2_x.png"])
        XCTAssertEqual(o.seeds, [41, 42])
        var r = GenerationOptions(prompt: "", modelPath: "")
        r = r.withResolvedSeed()
        XCTAssertLessThan(r.seed!, 4_294_967_294)
    }
}
