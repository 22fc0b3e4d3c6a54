// Re-import of orphan images. `Gallery.add` makes the PNG durable before it inserts the row, so a server
// killed between the two leaves a finished image with no row. Its `parameters` chunk holds everything the
// row needs (prompt, seed, steps, sampler, cfg, size, model), so on start such a PNG gets its row back
// instead of being lost or deleted. What the chunk cannot tell (the job id, the generation time) is
// recorded as unknown: an empty job id and a duration of 0.

import Diffuse
import Foundation

extension Gallery {
    /// Adds a row for every `<id>.png` in the images folder that has none; returns how many were added.
    /// Files that are not the server's (another name, no readable `parameters` chunk) are left alone.
    func reimportOrphans() throws -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: imagesFolder.path)) ?? []
        let candidates = names.filter { $0.hasSuffix(".png") && Self.isValidID(String($0.dropLast(4))) }
        guard !candidates.isEmpty else { return 0 }
        let known = Set(try db.query("SELECT id FROM images").compactMap { $0.first?.text })
        var added = 0
        for name in candidates where !known.contains(String(name.dropLast(4))) {
            let url = imagesFolder.appendingPathComponent(name)
            guard let entry = Self.orphanEntry(id: String(name.dropLast(4)), url: url) else { continue }
            try insert(entry)
            added += 1
        }
        return added
    }

    /// The row an orphan PNG's `parameters` chunk describes; nil if it has none or lacks the seed or size.
    static func orphanEntry(id: String, url: URL) -> GalleryEntry? {
        guard let bytes = FileManager.default.contents(atPath: url.path),
              let png = try? PNG.decode(Array(bytes)), let text = png.text("parameters") else { return nil }
        let info = Infotext.parse(text)
        guard let seedText = info["Seed"], let seed = UInt64(seedText.trimmingCharacters(in: .whitespaces)),
              let steps = info.int("Steps") else { return nil }
        let modified = (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
        return GalleryEntry(
            id: id, jobId: "", created: (modified ?? Date()).timeIntervalSince1970, duration: 0,
            prompt: info.prompt, negativePrompt: info.negativePrompt, model: info["Model"] ?? "",
            modelHash: info["Model hash"] ?? "", seed: seed, steps: steps, cfgScale: info.double("CFG scale") ?? 0,
            sampler: info["Sampler"] ?? "", width: info.size?.width ?? png.width, height: info.size?.height ?? png.height,
            strength: info.double("Denoising strength"), infotext: text)
    }
}
