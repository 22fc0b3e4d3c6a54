// Writes a generated shapes dataset in the folder format `DatasetFolder` reads: images/NNNNNN.png,
// metadata.jsonl (file_name, text, and the scene record), manifest.json (CC0, synthetic). Written into a
// sibling ".partial" folder and renamed at the end, so an interrupted run leaves no half dataset behind
// and an existing folder is never touched.

import Diffuse
import Foundation

public struct ShapesDatasetOptions: Sendable {
    public var count: Int
    public var size: Int
    public var seed: UInt64
    public var holdout: [ColorShape]

    public init(count: Int, size: Int = 64, seed: UInt64 = 0, holdout: [ColorShape] = ShapesWorld.defaultHoldout) {
        self.count = count
        self.size = size
        self.seed = seed
        self.holdout = holdout
    }

    public static let maxCount = 10_000_000
    public static let sizes = 16...1024

    public func validate() throws {
        guard (1...Self.maxCount).contains(count) else { throw DatasetError("--count must be 1…\(Self.maxCount) (got \(count))") }
        guard Self.sizes.contains(size) else {
            throw DatasetError("--size must be \(Self.sizes.lowerBound)…\(Self.sizes.upperBound) pixels (got \(size))")
        }
    }
}

public enum ShapesDataset {
    public static let license = "CC0-1.0"
    public static let source = "diffuse make-dataset shapes (procedurally generated)"
    public static let consent = "not applicable: synthetic images drawn by a program; no people, no third-party works"

    /// Generates the dataset into `folder`, which must not exist (or be an empty folder).
    public static func write(to folder: URL, options: ShapesDatasetOptions, progress: ((Int) -> Void)? = nil) throws {
        try options.validate()
        let fm = FileManager.default
        if fm.fileExists(atPath: folder.path) {
            let contents = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? ["?"]
            guard contents.isEmpty else { throw DatasetError("\(folder.path) already exists and is not empty; choose a new --out folder") }
            try fm.removeItem(at: folder)
        }
        let partial = folder.deletingLastPathComponent().appendingPathComponent(folder.lastPathComponent + ".partial")
        try? fm.removeItem(at: partial)
        do {
            try fm.createDirectory(at: partial.appendingPathComponent("images"), withIntermediateDirectories: true)
        } catch {
            throw DatasetError("cannot create \(partial.path): \(error.localizedDescription)")
        }
        do {
            try writeContents(partial, options: options, progress: progress)
            try fm.moveItem(at: partial, to: folder)
        } catch {
            try? fm.removeItem(at: partial)
            throw error
        }
    }

    static func writeContents(_ dir: URL, options: ShapesDatasetOptions, progress: ((Int) -> Void)?) throws {
        let generator = ShapesGenerator(seed: options.seed, holdout: options.holdout, policy: .exclude)
        let digits = max(6, String(options.count - 1).count)
        func name(_ i: Int) -> String { "images/" + String(repeating: "0", count: max(0, digits - String(i).count)) + String(i) + ".png" }
        var lines = [String](repeating: "", count: options.count)
        let chunk = 256
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for start in stride(from: 0, to: options.count, by: chunk) {
            let end = min(options.count, start + chunk)
            let results = UnsafeMutableBufferPointer<Result<String, Error>?>.allocate(capacity: end - start)
            results.initialize(repeating: nil)
            defer { results.deallocate() }
            DispatchQueue.concurrentPerform(iterations: end - start) { k in
                let i = start + k
                results[k] = Result {
                    let scene = generator.scene(index: i)
                    let png = try PNG.encode(ShapesRenderer.render(scene, size: options.size))
                    try Data(png).write(to: dir.appendingPathComponent(name(i)))
                    let record = MetadataLine(fileName: name(i), text: scene.caption, scene: scene)
                    return String(decoding: try encoder.encode(record), as: UTF8.self)
                }
            }
            for k in 0..<(end - start) { lines[start + k] = try results[k]!.get() }
            progress?(end)
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent("metadata.jsonl"))
        let manifest = DatasetManifest(
            name: "shapes", description: "Captioned scenes of flat coloured shapes drawn by Diffuse's generator; see docs/DATASET.md.",
            defaults: .init(source: source, license: license, consent: consent),
            generator: ["generator": "diffuse shapes 1", "seed": String(options.seed), "size": String(options.size),
                        "count": String(options.count), "holdout": options.holdout.map(\.description).joined(separator: ", "),
                        "supersampling": String(ShapesRenderer.defaultSupersampling)],
            images: (0..<options.count).map { DatasetManifest.Entry(fileName: name($0)) })
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try pretty.encode(manifest).write(to: dir.appendingPathComponent("manifest.json"))
    }

    struct MetadataLine: Encodable {
        var fileName: String
        var text: String
        var scene: ShapesScene
        enum CodingKeys: String, CodingKey { case fileName = "file_name", text, scene }
    }
}
