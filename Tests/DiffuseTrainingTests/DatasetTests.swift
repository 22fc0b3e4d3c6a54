import XCTest
import Diffuse
import DiffuseModels
@testable import DiffuseTraining

final class DatasetTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-dataset-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    // MARK: - Helpers

    func writePNG(_ name: String, side: Int = 8, in dir: URL) throws {
        let image = RasterImage(width: side, height: side, channels: 3, pixels: [UInt8](repeating: 100, count: side * side * 3))
        try Data(PNG.encode(image)).write(to: dir.appendingPathComponent(name))
    }

    func write(_ text: String, _ name: String, in dir: URL) throws {
        try Data(text.utf8).write(to: dir.appendingPathComponent(name))
    }

    func writeManifest(_ names: [String], license: String? = "CC0-1.0", in dir: URL) throws {
        let m = DatasetManifest(defaults: .init(source: "test", license: license, consent: "synthetic"),
                                images: names.map { DatasetManifest.Entry(fileName: $0) })
        try JSONEncoder().encode(m).write(to: dir.appendingPathComponent("manifest.json"))
    }

    /// A valid folder: two images, .txt captions, manifest.
    func validFolder() throws -> URL {
        let dir = root.appendingPathComponent("valid")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for n in ["a", "b"] {
            try writePNG("\(n).png", in: dir)
            try write("a red circle \(n)\n", "\(n).txt", in: dir)
        }
        try writeManifest(["a.png", "b.png"], in: dir)
        return dir
    }

    func assertError(_ dir: URL, allowUnlicensed: Bool = false, contains needles: [String], line: UInt = #line) {
        XCTAssertThrowsError(try DatasetFolder(url: dir, allowUnlicensed: allowUnlicensed), line: line) { error in
            let message = "\(error)"
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", line: line)
            for n in needles { XCTAssertTrue(message.contains(n), "\"\(message)\" should mention \(n)", line: line) }
        }
    }

    // MARK: - Loading

    func testValidFolderWithTxtCaptions() throws {
        let folder = try DatasetFolder(url: try validFolder())
        XCTAssertEqual(folder.items.map(\.fileName), ["a.png", "b.png"])
        XCTAssertEqual(folder.items.map(\.caption), ["a red circle a", "a red circle b"])
        XCTAssertEqual(folder.items[0].license, "CC0-1.0")
        XCTAssertEqual(folder.items[0].consent, "synthetic")
        XCTAssertEqual(folder.width, 8)
        XCTAssertEqual(try folder.image(at: 1).pixels.count, 8 * 8 * 3)
    }

    func testValidFolderWithMetadataJSONL() throws {
        let dir = try validFolder()
        for n in ["a", "b"] { try FileManager.default.removeItem(at: dir.appendingPathComponent("\(n).txt")) }
        try write("{\"file_name\": \"a.png\", \"text\": \"one\"}\n\n{\"file_name\": \"b.png\", \"text\": \"two\", \"scene\": {\"k\": 1}}\n", "metadata.jsonl", in: dir)
        let folder = try DatasetFolder(url: dir)
        XCTAssertEqual(folder.items.map(\.caption), ["one", "two"])
        XCTAssertEqual(folder.items[1].sceneJSON, "{\"k\":1}")
    }

    func testMissingEmptyAndFileFolders() throws {
        assertError(root.appendingPathComponent("nope"), contains: ["does not exist"])
        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        assertError(empty, contains: ["no .png images", empty.path])
        try write("x", "file", in: root)
        assertError(root.appendingPathComponent("file"), contains: ["is a file"])
    }

    func testImageThatDoesNotDecode() throws {
        let dir = try validFolder()
        try write("not a png at all", "b.png", in: dir)
        assertError(dir, contains: ["b.png does not decode", "not a PNG"])
    }

    func testUnsupportedImageFormat() throws {
        let dir = try validFolder()
        try write("jpeg", "c.jpg", in: dir)
        assertError(dir, contains: ["c.jpg", "only PNG"])
    }

    func testCaptionWithoutImage() throws {
        let dir = try validFolder()
        try write("orphan", "c.txt", in: dir)
        assertError(dir, contains: ["caption without image", "c.txt"])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("c.txt"))
        try write("{\"file_name\": \"a.png\", \"text\": \"x\"}\n{\"file_name\": \"zz.png\", \"text\": \"y\"}\n", "metadata.jsonl", in: dir)
        assertError(dir, contains: ["caption without image", "line 2", "zz.png"])
        try write("{\"file_name\": 3}\n", "metadata.jsonl", in: dir)
        assertError(dir, contains: ["metadata.jsonl line 1"])
    }

    func testImageWithoutCaption() throws {
        let dir = try validFolder()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("b.txt"))
        assertError(dir, contains: ["b.png has no caption"])
    }

    func testMismatchedSizes() throws {
        let dir = try validFolder()
        try writePNG("b.png", side: 16, in: dir)
        assertError(dir, contains: ["b.png is 16x16", "a.png is 8x8"])
    }

    func testManifestProblems() throws {
        let dir = try validFolder()
        try writeManifest(["a.png"], in: dir)
        assertError(dir, contains: ["misses 1 image", "b.png"])
        try writeManifest(["a.png", "b.png", "c.png"], in: dir)
        assertError(dir, contains: ["lists c.png", "not in"])
        try write("{\"format\": \"x\", \"images\": [", "manifest.json", in: dir)
        assertError(dir, contains: ["manifest.json does not parse"])
        try write("{\"format\": \"x\", \"images\": [{\"source\": \"s\"}]}", "manifest.json", in: dir)
        assertError(dir, contains: ["manifest.json does not parse", "file_name"])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("manifest.json"))
        assertError(dir, contains: ["no manifest", "manifest.json"])
    }

    func testUnlicensedImagesAreRefusedByNameUnlessAllowed() throws {
        let dir = try validFolder()
        let m = DatasetManifest(defaults: .init(source: "web"), images: [
            .init(fileName: "a.png", license: "CC-BY-4.0"), .init(fileName: "b.png", license: " "),
        ])
        try JSONEncoder().encode(m).write(to: dir.appendingPathComponent("manifest.json"))
        assertError(dir, contains: ["1 image(s) have no license", "b.png", "--allow-unlicensed"])
        let folder = try DatasetFolder(url: dir, allowUnlicensed: true)
        XCTAssertEqual(folder.items.map(\.license), ["CC-BY-4.0", nil])
        XCTAssertEqual(folder.manifest.summary().licenses, ["CC-BY-4.0": 1, "none": 1])
    }

    // MARK: - Provenance

    func testManifestHashIsCanonical() throws {
        let a = DatasetManifest(name: "n", defaults: .init(license: "CC0-1.0"), images: [.init(fileName: "b.png"), .init(fileName: "a.png")])
        var b = a
        b.images.reverse()
        XCTAssertEqual(a.sha256(), b.sha256(), "order of entries does not change the content")
        let pretty = JSONEncoder()
        pretty.outputFormatting = .prettyPrinted
        let reread = try JSONDecoder().decode(DatasetManifest.self, from: pretty.encode(a))
        XCTAssertEqual(reread.sha256(), a.sha256(), "formatting does not change the content")
        var c = a
        c.images[0].license = "CC-BY-4.0"
        XCTAssertNotEqual(c.sha256(), a.sha256())
        XCTAssertEqual(a.sha256().count, 64)
        // The hash is SHA-256 of the canonical bytes (checked against the standard test vector elsewhere).
        var h = SHA256()
        h.update(a.canonicalBytes())
        XCTAssertEqual(SHA256.hex(h.finalize()), a.sha256())
        XCTAssertTrue(String(decoding: a.canonicalBytes(), as: UTF8.self).hasPrefix("{\"defaults\":{\"license\":\"CC0-1.0\"},\"format\""))
    }

    func testProvenanceMetadataAndModelInfo() throws {
        let folder = try DatasetFolder(url: try validFolder())
        let meta = folder.provenanceMetadata()
        XCTAssertEqual(meta[ProvenanceKey.count], "2")
        XCTAssertEqual(meta[ProvenanceKey.manifestSHA256], folder.manifest.sha256())
        let summary = try JSONDecoder().decode(DatasetManifest.Summary.self, from: Data(meta[ProvenanceKey.summary]!.utf8))
        XCTAssertEqual(summary.sources, ["test": 2])
        XCTAssertEqual(summary.licenses, ["CC0-1.0": 2])

        let model = root.appendingPathComponent("tiny.safetensors")
        try SafeTensorsWriter.write(tensors: [("w", Tensor(shape: [3, 4], data: Array(repeating: 1, count: 12)))],
                                    metadata: meta.merging([ModelInfo.architectureKey: "test net"]) { $1 }, to: model)
        let lines = try ModelInfo.describe(model)
        XCTAssertTrue(lines.contains("architecture: test net"), "\(lines)")
        XCTAssertTrue(lines.contains("parameters: 12 in 1 tensors"), "\(lines)")
        XCTAssertTrue(lines.contains("training data: 2 images"), "\(lines)")
        XCTAssertTrue(lines.contains("  manifest sha256: \(folder.manifest.sha256())"), "\(lines)")
        XCTAssertTrue(lines.contains("  licenses: CC0-1.0 (2)"), "\(lines)")
    }

    func testModelInfoWithoutProvenance() throws {
        let lines = try ModelInfo.describe(fixturesRoot.appendingPathComponent("sd1"))
        XCTAssertTrue(lines.contains("training data: unknown"), "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("architecture: StableDiffusionPipeline") && $0.contains("sd1") }, "\(lines)")
        XCTAssertTrue(lines.contains("dtypes: BF16 (52 tensors), F16 (448 tensors)"), "\(lines)")
        let single = try ModelInfo.describe(fixturesRoot.appendingPathComponent("sd2.safetensors"))
        XCTAssertTrue(single.contains("training data: unknown"))
        XCTAssertTrue(single.contains { $0.contains("family sd2") }, "\(single)")
        XCTAssertThrowsError(try ModelInfo.describe(root.appendingPathComponent("none"))) { XCTAssertTrue("\($0)".contains("no such file")) }
    }

    // MARK: - Generated dataset

    func testShapesDatasetRoundTrip() throws {
        let out = root.appendingPathComponent("shapes")
        try ShapesDataset.write(to: out, options: ShapesDatasetOptions(count: 30, size: 32, seed: 4))
        let folder = try DatasetFolder(url: out)
        XCTAssertEqual(folder.items.count, 30)
        XCTAssertEqual([folder.width, folder.height], [32, 32])
        XCTAssertEqual(Set(folder.items.compactMap(\.license)), ["CC0-1.0"])
        let generator = ShapesGenerator(seed: 4)
        for (i, item) in folder.items.enumerated() {
            let scene = try JSONDecoder().decode(ShapesScene.self, from: Data(item.sceneJSON!.utf8))
            XCTAssertEqual(scene, generator.scene(index: i))
            XCTAssertEqual(item.caption, scene.caption)
            XCTAssertEqual(try folder.image(at: i), ShapesRenderer.render(scene, size: 32))
        }
        XCTAssertEqual(folder.manifest.generator?["seed"], "4")
        // Same options, same bytes: the manifest hash identifies the dataset.
        let again = root.appendingPathComponent("shapes2")
        try ShapesDataset.write(to: again, options: ShapesDatasetOptions(count: 30, size: 32, seed: 4))
        XCTAssertEqual(try DatasetFolder(url: again).manifest.sha256(), folder.manifest.sha256())
        // Never overwrites.
        XCTAssertThrowsError(try ShapesDataset.write(to: out, options: ShapesDatasetOptions(count: 5))) {
            XCTAssertTrue("\($0)".contains("already exists"))
        }
        XCTAssertEqual(try DatasetFolder(url: out).items.count, 30)
        XCTAssertThrowsError(try ShapesDataset.write(to: root.appendingPathComponent("x"), options: ShapesDatasetOptions(count: 0))) {
            XCTAssertTrue("\($0)".contains("--count"))
        }
    }
}
