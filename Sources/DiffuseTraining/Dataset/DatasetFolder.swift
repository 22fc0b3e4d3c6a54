// A training dataset on disk: PNG images (any sub-folders), a caption for each — metadata.jsonl in the
// Hugging Face imagefolder convention ({"file_name": …, "text": …} per line) or a .txt beside each image —
// and manifest.json with each image's provenance. Opening validates everything up front, so a training
// run never starts on a folder it would stop on later; each problem is one line naming the file.

import Diffuse
import Foundation

public struct DatasetFolder: Sendable {
    public struct Item: Sendable {
        /// Path relative to the folder, "/"-separated.
        public var fileName: String
        public var url: URL
        public var caption: String
        public var source: String?
        public var license: String?
        public var consent: String?
        /// The line's "scene" object from metadata.jsonl, as JSON text (generated datasets' ground truth).
        public var sceneJSON: String?
    }

    public static let imageExtensions: Set<String> = ["png"]
    /// Image formats someone might put in a folder that Diffuse cannot decode.
    static let otherImageExtensions: Set<String> = ["jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]

    public let url: URL
    public let manifest: DatasetManifest
    public let items: [Item]
    public let width: Int
    public let height: Int

    /// Opens and validates a dataset folder. `allowUnlicensed` accepts images whose manifest entry (and
    /// the defaults) give no license; without it they are refused by name.
    public init(url: URL, allowUnlicensed: Bool = false) throws {
        let files = try Self.listFiles(url)
        let images = files.filter { Self.imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
        if let other = files.first(where: { Self.otherImageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }) {
            throw DatasetError("\(url.path)/\(other): only PNG images are supported; convert it to PNG")
        }
        guard !images.isEmpty else {
            throw DatasetError("dataset folder \(url.path) has no .png images; make one with `diffuse make-dataset shapes --out \(url.path)`")
        }
        let captions = try Self.captions(in: url, files: files, images: Set(images))
        let manifest = try DatasetManifest.read(contentsOf: url.appendingPathComponent("manifest.json"))
        let entries = try Self.match(manifest, images: images, folder: url)
        var items: [Item] = []
        var unlicensed: [String] = []
        for name in images.sorted() {
            guard let caption = captions[name] else {
                throw DatasetError("image \(name) has no caption: add \((name as NSString).deletingPathExtension).txt beside it or a line in metadata.jsonl")
            }
            let p = manifest.resolved(entries[name]!)
            if p.license == nil { unlicensed.append(name) }
            items.append(Item(fileName: name, url: url.appendingPathComponent(name), caption: caption.text,
                              source: p.source, license: p.license, consent: p.consent, sceneJSON: caption.scene))
        }
        if !unlicensed.isEmpty && !allowUnlicensed {
            throw DatasetError("\(unlicensed.count) image(s) have no license in manifest.json: \(Self.list(unlicensed)); add a license (or a default one) or pass --allow-unlicensed")
        }
        (width, height) = try Self.checkImages(items)
        self.url = url
        self.manifest = manifest
        self.items = items
    }

    /// The item's image as 8-bit RGB.
    public func image(at index: Int) throws -> RasterImage {
        try PNG.read(contentsOf: items[index].url).rgb()
    }

    /// Keys for a trained model's safetensors `__metadata__`: manifest hash, summary, count.
    public func provenanceMetadata() -> [String: String] { manifest.provenanceMetadata() }

    // MARK: - Validation steps

    /// Every regular file under the folder (relative paths), hidden ones skipped.
    static func listFiles(_ url: URL) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw DatasetError("dataset folder \(url.path) does not exist")
        }
        guard isDir.boolValue else { throw DatasetError("\(url.path) is a file; pass the dataset folder that holds the images") }
        guard let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey],
                                                          options: [.skipsHiddenFiles]) else {
            throw DatasetError("cannot read dataset folder \(url.path)")
        }
        let base = url.standardizedFileURL.resolvingSymlinksInPath().path
        var files: [String] = []
        for case let file as URL in walker where (try? file.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true {
            let full = file.standardizedFileURL.resolvingSymlinksInPath().path
            files.append(full.hasPrefix(base + "/") ? String(full.dropFirst(base.count + 1)) : file.lastPathComponent)
        }
        return files.sorted()
    }

    /// Captions by image name, from metadata.jsonl when present, else from .txt files beside the images.
    static func captions(in url: URL, files: [String], images: Set<String>) throws -> [String: (text: String, scene: String?)] {
        if files.contains("metadata.jsonl") { return try jsonlCaptions(url.appendingPathComponent("metadata.jsonl"), images: images) }
        var out: [String: (String, String?)] = [:]
        for txt in files where (txt as NSString).pathExtension.lowercased() == "txt" {
            let stem = (txt as NSString).deletingPathExtension
            guard let image = images.first(where: { ($0 as NSString).deletingPathExtension == stem }) else {
                throw DatasetError("caption without image: \(txt) has no \(stem).png beside it")
            }
            guard let text = try? String(contentsOf: url.appendingPathComponent(txt), encoding: .utf8) else {
                throw DatasetError("caption \(txt) is not UTF-8 text")
            }
            out[image] = (text.trimmingCharacters(in: .whitespacesAndNewlines), nil)
        }
        return out
    }

    static func jsonlCaptions(_ url: URL, images: Set<String>) throws -> [String: (text: String, scene: String?)] {
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
            throw DatasetError("cannot read \(url.path) as UTF-8 text")
        }
        var out: [String: (String, String?)] = [:]
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any],
                  let name = object["file_name"] as? String, let caption = object["text"] as? String else {
                throw DatasetError("metadata.jsonl line \(n + 1) is not a JSON object with string \"file_name\" and \"text\"")
            }
            guard images.contains(name) else {
                throw DatasetError("caption without image: metadata.jsonl line \(n + 1) names \(name), which is not in the folder")
            }
            let scene = object["scene"].flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
            out[name] = (caption, scene.flatMap { String(data: $0, encoding: .utf8) })
        }
        return out
    }

    /// The manifest entry of every image; the manifest must cover every image and name no others.
    static func match(_ manifest: DatasetManifest, images: [String], folder: URL) throws -> [String: DatasetManifest.Entry] {
        var entries: [String: DatasetManifest.Entry] = [:]
        for e in manifest.images {
            guard entries[e.fileName] == nil else { throw DatasetError("manifest.json lists \(e.fileName) twice") }
            entries[e.fileName] = e
        }
        let present = Set(images)
        let missing = images.filter { entries[$0] == nil }
        if !missing.isEmpty {
            throw DatasetError("manifest.json misses \(missing.count) image(s): \(list(missing)); give each image its source, license and consent")
        }
        if let extra = manifest.images.first(where: { !present.contains($0.fileName) }) {
            throw DatasetError("manifest.json lists \(extra.fileName), which is not in \(folder.path)")
        }
        return entries
    }

    /// Decodes every image once: each must be a PNG of the first one's size.
    static func checkImages(_ items: [Item]) throws -> (Int, Int) {
        var size: (Int, Int)?
        for item in items {
            let image: PNGImage
            do { image = try PNG.read(contentsOf: item.url) } catch {
                throw DatasetError("image \(item.fileName) does not decode: \(String(describing: error).replacingOccurrences(of: item.url.path + ": ", with: ""))")
            }
            if let (w, h) = size, (w, h) != (image.width, image.height) {
                throw DatasetError("image \(item.fileName) is \(image.width)x\(image.height) but \(items[0].fileName) is \(w)x\(h); all images of a dataset must have one size")
            }
            size = size ?? (image.width, image.height)
        }
        return size!
    }

    /// The first few names, then how many more.
    static func list(_ names: [String], limit: Int = 5) -> String {
        let shown = names.prefix(limit).joined(separator: ", ")
        return names.count > limit ? "\(shown) and \(names.count - limit) more" : shown
    }
}
