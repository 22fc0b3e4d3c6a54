// `diffuse make-dataset shapes …` and `diffuse info MODEL`.

import ArgumentParser
import DiffuseTraining
import Foundation

struct MakeDataset: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-dataset",
        abstract: "Generate a captioned training dataset (today: the procedural \"shapes\" world, CC0).",
        discussion: """
        Writes images/NNNNNN.png, metadata.jsonl (file_name, text, scene) and manifest.json into --out, which \
        must not exist yet. Image i depends only on --seed and i. Held-out colour–shape combinations never \
        appear in the images (default: \(ShapesWorld.defaultHoldout.map(\.description).joined(separator: ", "))); \
        pass --holdout "" to hold out nothing. See docs/DATASET.md.
        """)

    @Argument(help: "Which dataset: shapes.")
    var kind: String

    @Option(help: "Output folder (must not exist, or be empty).")
    var out: String

    @Option(parsing: .unconditional, help: "Number of images.")
    var count: Int

    @Option(parsing: .unconditional, help: "Image side in pixels.")
    var size: Int = 64

    @Option(parsing: .unconditional, help: "Seed (0…2^64-1).")
    var seed: UInt64 = 0

    @Option(help: "Colour–shape combinations to leave out, e.g. \"red star, blue triangle\".")
    var holdout: String?

    func run() throws {
        guard kind == "shapes" else { throw DatasetError("unknown dataset kind \"\(kind)\"; the one available is: shapes") }
        let options = ShapesDatasetOptions(count: count, size: size, seed: seed,
                                           holdout: try holdout.map(ColorShape.parseList) ?? ShapesWorld.defaultHoldout)
        let url = URL(fileURLWithPath: out)
        let start = Date()
        try ShapesDataset.write(to: url, options: options) { done in
            if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\r\(done)/\(options.count) images".utf8)) }
        }
        if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        let folder = try DatasetFolder(url: url)
        print("wrote \(options.count) images (\(size)x\(size)) to \(url.path) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        print("manifest sha256: \(folder.manifest.sha256())")
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's architecture, parameters, dtypes and training-data provenance.")

    @Argument(help: "A .safetensors file or a diffusers folder.")
    var model: String

    func run() throws {
        for line in try ModelInfo.describe(URL(fileURLWithPath: model)) { print(line) }
    }
}
