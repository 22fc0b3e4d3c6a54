import XCTest
import Diffuse

/// Runs the built `diffuse` executable: each bad input exits non-zero with exactly one stderr line and writes
/// no file.
final class CLITests: XCTestCase {
    var dir: URL!
    var model: URL!

    /// The executable sits in the products folder next to the test bundle (Linux: arguments[0] is the
    /// .xctest file; macOS: the .xctest bundle).
    static let binary: URL? = {
        var candidates: [URL] = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for b in Bundle.allBundles where b.bundlePath.hasSuffix(".xctest") {
            candidates.append(b.bundleURL.deletingLastPathComponent())
        }
        return candidates.map { $0.appendingPathComponent("diffuse") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-cli-\(UUID().uuidString)")
        model = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: model.appendingPathComponent("model_index.json"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func run(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Self.runBinary(args, in: dir)
    }

    /// Runs `diffuse args` with `dir` as the working directory; returns the exit status and both streams.
    static func runBinary(_ args: [String], in dir: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        let bin = try XCTUnwrap(binary, "diffuse executable not found next to the test bundle")
        let p = Process()
        p.executableURL = bin
        p.arguments = args
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// `args` after `generate -p cat -m <model> -s 3 -o <dir>/out.png`.
    func expectFailure(_ args: [String], _ message: String, base: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let out = dir.appendingPathComponent("out.png").path
        let full = (base ? ["generate", "-p", "cat", "-m", model.path, "-s", "3", "-o", out] : ["generate"]) + args
        let r = try run(full)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertEqual(r.stderr, "error: \(message)\n", "args \(args)", file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".png") || $0.hasSuffix(".tmp") }
        XCTAssertEqual(files.filter { $0 != "existing.png" && $0 != "junk.png" }, [], file: file, line: line)
    }

    func testBadInputsFailWithOneLine() throws {
        try expectFailure(["--steps", "0"], "--steps must be between 1 and 1000 (got 0)")
        try expectFailure(["--steps", "many"], "The value 'many' is invalid for '--steps <steps>'")
        try expectFailure(["--cfg-scale", "-2"], "--cfg-scale must be 0 or more (got -2.0)")
        try expectFailure(["-W", "500"], "--width must be a multiple of 8 (got 500; nearest: 496 or 504)")
        try expectFailure(["-H", "4096"], "--height must be between 8 and 2048 (got 4096)")
        try expectFailure(["--sampler", "nope"], "unknown sampler 'nope' (valid: \(SamplerNames.cliNames.joined(separator: ", ")))")
        try expectFailure(["--threads", "0"], "--threads must be between 1 and \(Parallel.coreCount) (got 0)")
        try expectFailure(["--rng", "cuda"], "unknown --rng 'cuda' (valid: torch)")
        try expectFailure(["-s", "-7"], "--seed must be -1 (random) or between 0 and 9223372036854775807 (got -7)")
        try expectFailure(["--bogus"], "Unknown option '--bogus'")
        try expectFailure(["--init-image", dir.appendingPathComponent("missing.png").path],
                          "--init-image: cannot read \(dir.appendingPathComponent("missing.png").path): No such file or directory")
        try Data("not a png".utf8).write(to: dir.appendingPathComponent("junk.png"))
        try expectFailure(["--init-image", dir.appendingPathComponent("junk.png").path, "--strength", "0.5"],
                          "--init-image: \(dir.appendingPathComponent("junk.png").path): not a PNG file")
        try expectFailure(["--strength", "0.5"], "--strength needs --init-image (it sets how much of the image is redrawn)")
    }

    func testModelAndPromptProblems() throws {
        try expectFailure([], "a prompt is required (-p \"a photo of a cat\" or as the first argument)", base: false)
        try expectFailure(["-p", "cat", "-m", "/nonexistent/model"], "--model /nonexistent/model does not exist", base: false)
        try expectFailure(["-p", "cat", "-m", dir.path],
                          "--model \(dir.path) is not a diffusers model folder (no model_index.json in it)", base: false)
        try expectFailure(["dog", "-p", "cat", "-m", model.path], "give the prompt once: either -p/--prompt or as an argument, not both", base: false)
    }

    func testExistingOutputIsKept() throws {
        let existing = dir.appendingPathComponent("existing.png")
        try Data([7]).write(to: existing)
        try expectFailure(["-o", existing.path], "output file \(existing.path) already exists (use --force to overwrite)")
        XCTAssertEqual(try Data(contentsOf: existing), Data([7]))
    }

    func testHelpSucceeds() throws {
        let r = try run(["generate", "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("--cfg-scale"))
        XCTAssertTrue(r.stdout.contains("-W, --width"))
    }
}
