import Foundation
import XCTest
import Diffuse

/// `diffuse evaluate` through the real binary, on the tiny model CLITrainTests trains once.
extension CLITrainTests {
    func testEvaluateBadArguments() throws {
        let model = try copy(\.exported).path
        let base = ["evaluate", "--model", model, "--count", "1", "--steps", "1"]
        try expectFailure(base + ["--count", "0"], "--count must be 1…100000 (got 0)")
        try expectFailure(base + ["--steps", "0"], "--steps must be 1…1000 (got 0)")
        try expectFailure(base + ["--cfg-scale", "-1"], "--cfg-scale must be 0 or more")
        try expectFailure(base + ["--threads", "0"], "--threads must be ≥ 1 (got 0)")
        try expectFailure(base + ["--grid-seeds", "0"], "--grid-seeds must be 1…16 (got 0)")
        try expectFailure(base + ["--count", "lots"], "The value 'lots' is invalid for '--count <count>'")
        try expectFailure(base + ["--grid", dir.appendingPathComponent("grid.jpg").path], "--grid", "give a .png file name")
        try expectFailure(base + ["--report", dir.appendingPathComponent("report.txt").path], "--report", "give a .md file name")
        try expectFailure(base + ["--report", dir.appendingPathComponent("no/such/report.md").path], "folder", "does not exist")
        let existing = dir.appendingPathComponent("report.md")
        try Data("an earlier report".utf8).write(to: existing)
        try expectFailure(base + ["--report", existing.path], "already exists (use --force to overwrite)")
        let legend = dir.appendingPathComponent("grid.txt")
        try Data("an earlier legend".utf8).write(to: legend)
        try expectFailure(base + ["--grid", dir.appendingPathComponent("grid.png").path], "grid.txt already exists")
    }

    func testEvaluateBadModels() throws {
        try expectFailure(["evaluate", "--model", dir.appendingPathComponent("gone.safetensors").path, "--count", "1"],
                          "gone.safetensors: cannot open the model")
        let junk = dir.appendingPathComponent("junk.safetensors")
        try Data("not tensors".utf8).write(to: junk)
        try expectFailure(["evaluate", "--model", junk.path, "--count", "1"], "junk.safetensors: cannot open the model")
        try expectFailure(["evaluate", "--model", fixturesRoot.appendingPathComponent("sd1.safetensors").path, "--count", "1"],
                          "not a model written by `diffuse train`")
        // Tensors that do not fit the architecture the metadata names.
        let relabelled = dir.appendingPathComponent("relabelled.safetensors")
        try Self.rewriteHeader(of: try Self.shared.get().exported, to: relabelled) {
            $0.replacingOccurrences(of: #"channels\":[16,32]"#, with: #"channels\":[16,48]"#)
        }
        try expectFailure(["evaluate", "--model", relabelled.path, "--count", "1"], "another architecture")
    }

    /// The report and the grid of a 2-step model: the numbers are noise, the files and their layout are not.
    func testEvaluateWritesReportAndGrid() throws {
        let model = try copy(\.exported)
        let report = dir.appendingPathComponent("adherence.md"), grid = dir.appendingPathComponent("samples.png")
        let r = try CLITests.runBinary(["evaluate", "--model", model.path, "--count", "2", "--steps", "2", "--seed", "77", "--cfg-scale", "3.5",
                                        "--report", report.path, "--grid", grid.path, "--grid-seeds", "4"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").filter { $0.contains("(target ") }
        XCTAssertEqual(rows.count, 3, r.stdout)
        XCTAssertTrue(rows[0].hasPrefix("one object                  "), "names padded to one column: \(rows[0])")
        XCTAssertTrue(rows.allSatisfy { $0.contains(" /    2 ") }, r.stdout)
        XCTAssertTrue(r.stdout.contains("held-out − seen gap"), r.stdout)
        XCTAssertTrue(r.stdout.contains("1. a red circle on a white background"), "row prompts printed: \(r.stdout)")
        let md = try String(contentsOf: report, encoding: .utf8)
        let command = "diffuse evaluate --model \(model.path) --count 2 --seed 77 --steps 2 --cfg-scale 3.5 --eta 1 --report \(report.path) "
            + "--grid \(grid.path) --grid-seeds 4"
        XCTAssertTrue(md.contains(command), "the reproducing command, every setting spelled out:\n\(md)")
        XCTAssertTrue(md.contains("`\(try Self.sha256sum(model))`"), "the model's SHA-256 by coreutils:\n\(md)")
        XCTAssertTrue(md.contains("| training | 2 steps,"), md)
        XCTAssertTrue(md.contains("| model | `\(model.path)` |"), md)
        XCTAssertTrue(md.hasPrefix("# Prompt adherence of model.safetensors\n"), md)
        for group in ["| one object | ", "| two objects, relation | ", "| held-out colour–shape | "] {
            XCTAssertTrue(md.contains(group), "\(group) in \(md)")
        }
        let png = try PNG.read(contentsOf: grid)
        // 16 px cells ×8 = 128, a 3 px frame each side, 4 px gaps: 4·(134 + 4) + 4 wide, 9·138 + 4 high.
        XCTAssertEqual(png.width, 4 * 138 + 4)
        XCTAssertEqual(png.height, 9 * 138 + 4)
        let legend = try String(contentsOf: dir.appendingPathComponent("samples.txt"), encoding: .utf8)
        XCTAssertTrue(legend.contains("row 9: a blue triangle on a yellow background"), legend)
        // Rerunning without --force keeps both files.
        let again = try CLITests.runBinary(["evaluate", "--model", model.path, "--count", "1", "--report", report.path], in: dir)
        XCTAssertNotEqual(again.status, 0)
        XCTAssertEqual(try String(contentsOf: report, encoding: .utf8), md)
    }

    /// The file's SHA-256 as `sha256sum` prints it: an oracle independent of the code under test.
    static func sha256sum(_ url: URL) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sha256sum", url.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.prefix(64))
    }
}

/// `diffuse evaluate-loss` through the real binary, on the same tiny model and its own 16×16 dataset.
extension CLITrainTests {
    func testEvaluateLossPrintsOneFigurePerTimestep() throws {
        let s = try Self.shared.get()
        let r = try CLITests.runBinary(["evaluate-loss", "--model", s.exported.path, "--data", s.data.path, "--count", "4",
                                        "--timesteps", "5,500", "--threads", "1"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(r.stdout.split(separator: "\n").last)
        let fields = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let loss = try XCTUnwrap(fields["loss"] as? [Double])
        XCTAssertEqual(loss.count, 2)
        XCTAssertTrue(loss.allSatisfy { $0.isFinite && $0 > 0 }, "\(loss)")
        XCTAssertEqual(fields["timesteps"] as? [Int], [5, 500])
        let again = try CLITests.runBinary(["evaluate-loss", "--model", s.exported.path, "--data", s.data.path, "--count", "4",
                                            "--timesteps", "5,500", "--threads", "2"], in: dir)
        XCTAssertEqual(again.stdout.split(separator: "\n").filter { !$0.hasPrefix("{") },
                       r.stdout.split(separator: "\n").filter { !$0.hasPrefix("{") }, "same model, data and seed: same figures")
    }

    func testEvaluateLossBadArguments() throws {
        let s = try Self.shared.get()
        let base = ["evaluate-loss", "--model", s.exported.path, "--data", s.data.path, "--count", "4"]
        try expectFailure(base + ["--timesteps", "5,x"], "--timesteps 5,x: give comma-separated whole numbers")
        try expectFailure(base + ["--timesteps", "1000"], "timestep 1000 is outside 0…999")
        try expectFailure(base + ["--count", "9"], "the dataset has 8 pictures; ask for at most that many (got 9)")
        try expectFailure(base + ["--count", "0"], "give at least one picture (got 0)")
        try expectFailure(base + ["--threads", "0"], "--threads must be ≥ 1 (got 0)")
        try expectFailure(base + ["--caption", "some"], "--caption some: give one of both, neither, pooled, cross-attention")
        try expectFailure(base + ["--caption", "pooled"], "no pooled text path")
        try expectFailure(["evaluate-loss", "--model", s.exported.path, "--data", dir.appendingPathComponent("nope").path],
                          "nope", "does not exist")
        try expectFailure(base + ["--swap-words", "left"], "--swap-words left: give distinct word pairs")
        try expectFailure(base + ["--swap-words", "cat:dog"], "no caption in", "holds any of cat, dog")
    }

    /// --swap-words: the pictures whose caption holds a listed word, measured as they are and swapped.
    func testEvaluateLossSwapWords() throws {
        let s = try Self.shared.get()
        let r = try CLITests.runBinary(["evaluate-loss", "--model", s.exported.path, "--data", s.data.path,
                                        "--swap-words", "circle:square,triangle:star", "--timesteps", "500,900"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(r.stdout.split(separator: "\n").last)
        let fields = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let plain = try XCTUnwrap(fields["loss"] as? [Double]), swapped = try XCTUnwrap(fields["loss_swapped"] as? [Double])
        XCTAssertEqual(plain.count, 2)
        XCTAssertEqual(swapped.count, 2)
        XCTAssertNotEqual(plain, swapped, "a trained model reads its shape words")
        XCTAssertGreaterThan(fields["count"] as? Int ?? 0, 0)
    }
}
