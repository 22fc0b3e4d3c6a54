import Foundation
import XCTest

/// `diffuse train --init` through the real binary: a new run from an exported model, and bad input.
extension CLITrainTests {
    func testInitFromAnExportedModel() throws {
        let data = try copy(\.data), model = try copy(\.exported)
        let out = dir.appendingPathComponent("again.safetensors")
        let r = try CLITests.runBinary(["train", "--data", data.path, "--init", model.path, "--out", out.path, "--steps", "1",
                                        "--threads", "1"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("step 0 → 1"), r.stderr)
        let header = try String(decoding: Data(contentsOf: out).prefix(200_000), as: UTF8.self)
        XCTAssertTrue(header.contains("diffuse.initialised_from"), "the source is recorded")
    }

    func testInitBadInput() throws {
        let data = try copy(\.data), model = try copy(\.exported), ckpt = try copy(\.checkpoint)
        let out = dir.appendingPathComponent("o.safetensors").path
        try expectFailure(["train", "--data", data.path, "--out", ckpt.path, "--init", model.path, "--resume", ckpt.path],
                          "give only one of them")
        try expectFailure(["train", "--data", data.path, "--out", out, "--init", dir.appendingPathComponent("gone.safetensors").path],
                          "--init", "no such file")
        try expectFailure(["train", "--data", data.path, "--out", out, "--init", fixturesRoot.appendingPathComponent("sd1.safetensors").path],
                          "not a model written by `diffuse train`")
        let wide = dir.appendingPathComponent("wide.json")
        try Self.tinyConfig.replacingOccurrences(of: "[16, 32]", with: "[16, 48]").write(to: wide, atomically: true, encoding: .utf8)
        try expectFailure(["train", "--data", data.path, "--out", out, "--init", model.path, "--config", wide.path],
                          "differs from this run's")
        let other = dir.appendingPathComponent("other")
        let made = try CLITests.runBinary(["make-dataset", "shapes", "--out", other.path, "--count", "8", "--size", "16", "--seed", "4"], in: dir)
        XCTAssertEqual(made.status, 0, made.stderr)
        try expectFailure(["train", "--data", other.path, "--out", out, "--init", model.path], "same dataset only")
    }
}
