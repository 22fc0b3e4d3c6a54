import Foundation
import XCTest
import Diffuse

/// `diffuse train`, `make-dataset` and `evaluate` on bad input, through the real binary: each case exits
/// non-zero with exactly one `error:` line naming the problem, and leaves every file as it was (the --out
/// checkpoint byte-identical, no new or partial file anywhere in the working folder).
final class CLITrainTests: XCTestCase {
    var dir: URL!

    /// Built once per test run: a generated 8-image 16×16 dataset, a tiny config, a 2-step checkpoint of it
    /// and the model exported from that checkpoint.
    struct Shared {
        let root: URL, data: URL, config: URL, checkpoint: URL, exported: URL
    }

    static let shared: Result<Shared, Error> = Result {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-cli-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let s = Shared(root: root, data: root.appendingPathComponent("data"), config: root.appendingPathComponent("tiny.json"),
                       checkpoint: root.appendingPathComponent("ckpt.safetensors"),
                       exported: root.appendingPathComponent("model.safetensors"))
        let made = try CLITests.runBinary(["make-dataset", "shapes", "--out", s.data.path, "--count", "8", "--size", "16", "--seed", "3"], in: root)
        guard made.status == 0 else { throw CLIFixtureError("make-dataset failed: \(made.stderr)") }
        try Data(tinyConfig.utf8).write(to: s.config)
        let trained = try CLITests.runBinary(["train", "--data", s.data.path, "--config", s.config.path, "--out", s.checkpoint.path,
                                              "--steps", "2", "--threads", "1", "--export", s.exported.path], in: root)
        guard trained.status == 0 else { throw CLIFixtureError("train failed: \(trained.stderr)") }
        return s
    }

    /// The smallest model worth the name: 16×16 images, two levels, one text layer.
    static let tinyConfig = """
        {"model": {"imageSize": 16, "patch": 2, "channels": [16, 32], "attention": [false, true], "groups": 4,
         "heads": 2, "textDim": 16, "textLayers": 1, "textHeads": 2, "maxTokens": 8},
         "batchSize": 4, "warmupSteps": 1, "logEvery": 0, "checkpointEvery": 0, "seed": 5}
        """

    override class func tearDown() {
        if case .success(let s) = shared { try? FileManager.default.removeItem(at: s.root) }
    }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-cli-train-case-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A copy of a shared file or folder in this test's folder, free to damage.
    func copy(_ keyPath: KeyPath<Shared, URL>, as name: String? = nil) throws -> URL {
        let source = try Self.shared.get()[keyPath: keyPath]
        let target = dir.appendingPathComponent(name ?? source.lastPathComponent)
        try FileManager.default.copyItem(at: source, to: target)
        return target
    }

    /// Every file under `dir` (hidden ones included) with its bytes.
    func snapshot() throws -> [String: Data] {
        var files: [String: Data] = [:]
        let walker = try XCTUnwrap(FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey]))
        for case let url as URL in walker where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            files[String(url.path.dropFirst(dir.path.count))] = try Data(contentsOf: url)
        }
        return files
    }

    /// Runs `args` in `dir`; asserts failure with one `error:` line containing every one of `mentions`, no
    /// output on stdout, and no file created, changed or removed under `dir`.
    func expectFailure(_ args: [String], _ mentions: String..., file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try snapshot()
        let r = try CLITests.runBinary(args, in: dir)
        XCTAssertNotEqual(r.status, 0, "exit status for \(args)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Stack dump") || r.stderr.contains("backtrace"),
                       "crash: \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 2, "exactly one line, then the newline: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "expected “\(m)” in: \(r.stderr)", file: file, line: line) }
        XCTAssertEqual(r.stdout, "", file: file, line: line)
        let after = try snapshot()
        XCTAssertEqual(Set(after.keys), Set(before.keys), "files created or removed", file: file, line: line)
        for (name, bytes) in before where after[name] != bytes { XCTFail("\(name) changed", file: file, line: line) }
    }

    /// `diffuse train` with an existing --out that --force allows to overwrite: a failure must still keep it.
    func expectTrainFailure(data: URL, _ extra: [String], _ mentions: String..., file: StaticString = #filePath, line: UInt = #line) throws {
        let out = dir.appendingPathComponent("out.safetensors")
        if !FileManager.default.fileExists(atPath: out.path) { try Data("an earlier checkpoint".utf8).write(to: out) }
        let args = ["train", "--data", data.path, "--out", out.path, "--force", "--threads", "1"] + extra
        let before = try snapshot()
        let r = try CLITests.runBinary(args, in: dir)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "expected “\(m)” in: \(r.stderr)", file: file, line: line) }
        XCTAssertEqual(try snapshot(), before, "nothing written, nothing overwritten", file: file, line: line)
    }

    // MARK: - train: the dataset folder

    func testMissingAndEmptyDatasetFolder() throws {
        try expectTrainFailure(data: dir.appendingPathComponent("nope"), [], "dataset folder", "nope", "does not exist")
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try expectTrainFailure(data: empty, [], "has no .png images", "make-dataset")
        try expectTrainFailure(data: try copy(\.config), [], "is a file; pass the dataset folder")
    }

    func testImageThatDoesNotDecode() throws {
        let data = try copy(\.data)
        try Data("not a png at all".utf8).write(to: data.appendingPathComponent("images/000003.png"))
        try expectTrainFailure(data: data, [], "image images/000003.png does not decode")
        try Data().write(to: data.appendingPathComponent("images/000003.png"))
        try expectTrainFailure(data: data, [], "image images/000003.png does not decode")
    }

    func testJPEGIsRefusedByName() throws {
        let data = try copy(\.data)
        try Data([0xFF, 0xD8, 0xFF]).write(to: data.appendingPathComponent("images/photo.jpg"))
        try expectTrainFailure(data: data, [], "photo.jpg: only PNG images are supported")
    }

    /// A caption file with no image beside it, in both caption conventions.
    func testCaptionWithoutImage() throws {
        let data = try copy(\.data)
        // .txt captions: one per image, plus an orphan.
        let lines = try String(contentsOf: data.appendingPathComponent("metadata.jsonl"), encoding: .utf8).split(separator: "\n")
        for l in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any])
            let name = try XCTUnwrap(object["file_name"] as? String)
            try XCTUnwrap(object["text"] as? String).write(to: data.appendingPathComponent((name as NSString).deletingPathExtension + ".txt"),
                                                          atomically: true, encoding: .utf8)
        }
        try FileManager.default.removeItem(at: data.appendingPathComponent("metadata.jsonl"))
        try "a red circle".write(to: data.appendingPathComponent("images/000099.txt"), atomically: true, encoding: .utf8)
        try expectTrainFailure(data: data, [], "caption without image", "images/000099.txt")
        // metadata.jsonl naming a file that is not there.
        let jsonl = try copy(\.data, as: "jsonl")
        let extra = #"{"file_name": "images/000042.png", "text": "a blue square"}"#
        let handle = try FileHandle(forWritingTo: jsonl.appendingPathComponent("metadata.jsonl"))
        try handle.seekToEnd(); try handle.write(contentsOf: Data((extra + "\n").utf8)); try handle.close()
        try expectTrainFailure(data: jsonl, [], "caption without image", "images/000042.png")
    }

    func testImageWithoutCaption() throws {
        let data = try copy(\.data)
        let kept = try String(contentsOf: data.appendingPathComponent("metadata.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.contains("000005.png") }.joined(separator: "\n")
        try kept.write(to: data.appendingPathComponent("metadata.jsonl"), atomically: true, encoding: .utf8)
        try expectTrainFailure(data: data, [], "image images/000005.png has no caption")
    }

    func testMismatchedImageSizes() throws {
        let data = try copy(\.data)
        let big = RasterImage(width: 32, height: 32, channels: 3, pixels: [UInt8](repeating: 200, count: 32 * 32 * 3))
        try Data(try PNG.encode(big)).write(to: data.appendingPathComponent("images/000006.png"))
        try expectTrainFailure(data: data, [], "images/000006.png is 32x32 but images/000000.png is 16x16", "one size")
        // All one size, but not the model's.
        let config = dir.appendingPathComponent("size32.json")
        try Self.tinyConfig.replacingOccurrences(of: "\"imageSize\": 16", with: "\"imageSize\": 32").write(to: config, atomically: true, encoding: .utf8)
        try expectTrainFailure(data: try copy(\.data, as: "data16"), ["--config", config.path], "16×16", "set model.imageSize to match")
    }

    // MARK: - train: the manifest

    func testManifestThatDoesNotParse() throws {
        let data = try copy(\.data)
        try Data("{\"format\": \"diffuse-dataset-manifest/1\", \"images\": [".utf8).write(to: data.appendingPathComponent("manifest.json"))
        try expectTrainFailure(data: data, [], "manifest.json does not parse")
        try Data("{\"images\": 7}".utf8).write(to: data.appendingPathComponent("manifest.json"))
        try expectTrainFailure(data: data, [], "manifest.json does not parse")
        try FileManager.default.removeItem(at: data.appendingPathComponent("manifest.json"))
        try expectTrainFailure(data: data, [], "no manifest at", "source, license and consent")
    }

    func testManifestMissesImages() throws {
        let data = try copy(\.data)
        let url = data.appendingPathComponent("manifest.json")
        var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var images = try XCTUnwrap(manifest["images"] as? [[String: Any]])
        images.removeAll { ["images/000002.png", "images/000004.png"].contains($0["file_name"] as? String) }
        manifest["images"] = images
        try JSONSerialization.data(withJSONObject: manifest).write(to: url)
        try expectTrainFailure(data: data, [], "manifest.json misses 2 image(s): images/000002.png, images/000004.png")
    }

    func testUnlicensedImagesNeedTheFlag() throws {
        let data = try copy(\.data)
        let url = data.appendingPathComponent("manifest.json")
        var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        manifest["defaults"] = [String: Any]()
        manifest["images"] = try XCTUnwrap(manifest["images"] as? [[String: Any]]).map { ["file_name": $0["file_name"]!] }
        try JSONSerialization.data(withJSONObject: manifest).write(to: url)
        try expectTrainFailure(data: data, [], "8 image(s) have no license", "--allow-unlicensed")
    }

    // MARK: - train: config and flags

    func testConfigWithImpossibleValues() throws {
        let data = try copy(\.data)
        let config = dir.appendingPathComponent("bad.json")
        func write(_ text: String) throws { try text.write(to: config, atomically: true, encoding: .utf8) }
        try write(Self.tinyConfig.replacingOccurrences(of: "\"batchSize\": 4", with: "\"batchSize\": 0"))
        try expectTrainFailure(data: data, ["--config", config.path], "config: batchSize must be ≥ 1 (got 0)")
        try write(Self.tinyConfig.replacingOccurrences(of: "\"batchSize\": 4", with: "\"learningRate\": -1"))
        try expectTrainFailure(data: data, ["--config", config.path], "learningRate must be a positive number")
        try write(Self.tinyConfig.replacingOccurrences(of: "\"channels\": [16, 32]", with: "\"channels\": [16, 30]"))
        try expectTrainFailure(data: data, ["--config", config.path], "model.channels [16, 30] must all be positive multiples of model.groups 4")
        try write(Self.tinyConfig.replacingOccurrences(of: "\"attention\": [false, true]", with: "\"attention\": [true]"))
        try expectTrainFailure(data: data, ["--config", config.path], "model.attention has 1 entries")
        try write("{\"stpes\": 10}")
        try expectTrainFailure(data: data, ["--config", config.path], "unknown key \"stpes\"")
        try write("{\"steps\": \"many\"}")
        try expectTrainFailure(data: data, ["--config", config.path], "wrong type (steps)")
        try write("steps = 10")
        try expectTrainFailure(data: data, ["--config", config.path], "not a JSON object")
        try expectTrainFailure(data: data, ["--config", dir.appendingPathComponent("none.json").path], "cannot read the config file")
    }

    func testBadFlags() throws {
        let data = try copy(\.data)
        try expectTrainFailure(data: data, ["--steps", "0"], "--steps must be ≥ 1 (got 0)")
        try expectTrainFailure(data: data, ["--threads", "0"], "--threads must be ≥ 1 (got 0)")
        try expectTrainFailure(data: data, ["--steps", "many"], "The value 'many' is invalid for '--steps <steps>'")
        try expectFailure(["train", "--data", data.path, "--out", dir.appendingPathComponent("model.ckpt").path],
                          "give a .safetensors file name")
        try expectFailure(["train", "--data", data.path, "--out", dir.appendingPathComponent("m.safetensors").path,
                           "--export", dir.appendingPathComponent("m.bin").path], "--export", "give a .safetensors file name")
        try expectFailure(["train", "--out", dir.appendingPathComponent("m.safetensors").path], "Missing expected argument '--data <data>'")
        try expectFailure(["train", "--data", data.path, "--out", dir.appendingPathComponent("no/m.safetensors").path],
                          "--out", "folder", "does not exist; create it first")
        try expectFailure(["train", "--data", data.path, "--out", dir.appendingPathComponent("m.safetensors").path,
                           "--export", dir.appendingPathComponent("no/e.safetensors").path], "--export", "does not exist; create it first")
        let existing = dir.appendingPathComponent("existing.safetensors")
        try Data("keep".utf8).write(to: existing)
        try expectFailure(["train", "--data", data.path, "--out", existing.path], "already exists", "--force", "--resume")
    }

    // MARK: - train --resume

    /// A checkpoint made for another architecture: by a --config whose model section differs, or by tensors
    /// that do not fit the architecture its own metadata names.
    func testResumeFromAnotherArchitecture() throws {
        let data = try copy(\.data)
        let ckpt = try copy(\.checkpoint)
        let other = dir.appendingPathComponent("wide.json")
        try Self.tinyConfig.replacingOccurrences(of: "[16, 32]", with: "[16, 48]").write(to: other, atomically: true, encoding: .utf8)
        try expectFailure(["train", "--data", data.path, "--out", ckpt.path, "--resume", ckpt.path, "--config", other.path],
                          "the checkpoint's model differs from the config's model section")
        let zeroBatch = dir.appendingPathComponent("zero.json")
        try Self.tinyConfig.replacingOccurrences(of: "\"batchSize\": 4", with: "\"batchSize\": 0").write(to: zeroBatch, atomically: true, encoding: .utf8)
        try expectFailure(["train", "--data", data.path, "--out", ckpt.path, "--resume", ckpt.path, "--config", zeroBatch.path],
                          "config: batchSize must be ≥ 1 (got 0)")
        let relabelled = dir.appendingPathComponent("relabelled.safetensors")
        try Self.rewriteHeader(of: ckpt, to: relabelled) {
            // The config is a JSON string inside the header JSON, so its quotes are escaped.
            $0.replacingOccurrences(of: #"channels\":[16,32]"#, with: #"channels\":[16,48]"#)
        }
        try expectFailure(["train", "--data", data.path, "--out", relabelled.path, "--resume", relabelled.path],
                          "has shape", "the checkpoint was made for another architecture")
    }

    func testResumeFromSomethingElse() throws {
        let data = try copy(\.data)
        let junk = dir.appendingPathComponent("junk.safetensors")
        try Data("these are not tensors".utf8).write(to: junk)
        try expectFailure(["train", "--data", data.path, "--out", junk.path, "--resume", junk.path],
                          "cannot open the checkpoint", "pass a file written by `diffuse train`")
        let exported = try copy(\.exported)
        try expectFailure(["train", "--data", data.path, "--out", exported.path, "--resume", exported.path],
                          "not a diffuse training checkpoint")
        // A Stable Diffusion checkpoint (the tiny single-file fixture).
        let sd = fixturesRoot.appendingPathComponent("sd1.safetensors")
        try expectFailure(["train", "--data", data.path, "--out", dir.appendingPathComponent("o.safetensors").path, "--resume", sd.path],
                          "not a diffuse training checkpoint")
        try expectFailure(["train", "--data", data.path, "--out", dir.appendingPathComponent("o.safetensors").path,
                           "--resume", dir.appendingPathComponent("gone.safetensors").path], "cannot open the checkpoint")
    }

    /// A checkpoint of 16×16 images resumed on a 32×32 dataset.
    func testResumeOnDatasetOfAnotherSize() throws {
        let ckpt = try copy(\.checkpoint)
        let big = dir.appendingPathComponent("big")
        let made = try CLITests.runBinary(["make-dataset", "shapes", "--out", big.path, "--count", "2", "--size", "32"], in: dir)
        XCTAssertEqual(made.status, 0, made.stderr)
        try expectFailure(["train", "--data", big.path, "--out", ckpt.path, "--resume", ckpt.path, "--steps", "3"],
                          "the dataset's images are 32×32", "model draws 16×16", "start a new run")
    }

    // MARK: - make-dataset

    func testMakeDatasetBadArguments() throws {
        let out = dir.appendingPathComponent("new").path
        try expectFailure(["make-dataset", "faces", "--out", out, "--count", "2"], "unknown dataset kind \"faces\"", "shapes")
        try expectFailure(["make-dataset", "shapes", "--out", out, "--count", "0"], "--count must be 1…")
        try expectFailure(["make-dataset", "shapes", "--out", out, "--count", "2", "--size", "8"], "--size must be 16…1024 pixels (got 8)")
        try expectFailure(["make-dataset", "shapes", "--out", out, "--count", "2", "--size", "5000"], "--size must be 16…1024")
        try expectFailure(["make-dataset", "shapes", "--out", out, "--count", "2", "--holdout", "red banana"],
                          "cannot read held-out combination \"red banana\"")
        try expectFailure(["make-dataset", "shapes", "--out", out, "--count", "2", "--seed", "-1"], "--seed")
        try expectFailure(["make-dataset", "shapes", "--count", "2"], "Missing expected argument '--out <out>'")
        _ = try copy(\.data)
        try expectFailure(["make-dataset", "shapes", "--out", dir.appendingPathComponent("data").path, "--count", "2"],
                          "already exists and is not empty; choose a new --out folder")
        let file = dir.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        try expectFailure(["make-dataset", "shapes", "--out", file.path, "--count", "2"], file.path)
    }

    /// Rewrites a safetensors header (same length or padded with spaces, as the format allows).
    static func rewriteHeader(of source: URL, to target: URL, _ edit: (String) -> String) throws {
        let bytes = try Data(contentsOf: source)
        let n = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        let original = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        var header = edit(original)
        guard header != original else { throw CLIFixtureError("the edit changed nothing in the header") }
        guard header.utf8.count <= n else { throw CLIFixtureError("edited header grew") }
        header += String(repeating: " ", count: n - header.utf8.count)
        try (bytes.prefix(8) + Data(header.utf8) + bytes.dropFirst(8 + n)).write(to: target)
    }
}

struct CLIFixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
