// `diffuse info MODEL`: what a model file is and what it was trained on, for any .safetensors file or
// diffusers folder. Reads headers only (memory-mapped), so it is instant even for multi-GB checkpoints.

import DiffuseModels
import Foundation

public enum ModelInfo {
    /// Key a model may carry naming its architecture (Diffuse's own models set it).
    public static let architectureKey = "diffuse.architecture"

    /// Human-readable lines: format, architecture, parameters, dtypes, then the training-data record.
    public static func describe(_ url: URL) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw DatasetError("\(url.path): no such file or folder; pass a .safetensors file or a diffusers folder")
        }
        let files = isDir.boolValue ? try safetensorsFiles(in: url) : [try SafeTensorsFile(url: url)]
        guard !files.isEmpty else { throw DatasetError("\(url.path) holds no .safetensors files; pass a diffusers folder or a .safetensors file") }
        var lines = ["model: \(url.path)", "format: " + (isDir.boolValue ? "diffusers folder (\(files.count) safetensors files)" : "safetensors file")]
        lines.append("architecture: " + architecture(url, isFolder: isDir.boolValue, files: files))
        let tensors = files.flatMap(\.tensors)
        let params = tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        lines.append("parameters: \(formatCount(params)) in \(tensors.count) tensors")
        if isDir.boolValue {
            for f in files {
                let p = f.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
                lines.append("  \(relative(f.url, to: url)): \(formatCount(p))")
            }
        }
        var dtypes: [String: Int] = [:]
        for t in tensors { dtypes[t.dtypeName, default: 0] += 1 }
        lines.append("dtypes: " + dtypes.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) tensors)" }.joined(separator: ", "))
        lines += provenance(files.map(\.metadata))
        return lines
    }

    /// The training-data lines from the first file carrying a manifest hash.
    static func provenance(_ metadata: [[String: String]]) -> [String] {
        guard let m = metadata.first(where: { $0[ProvenanceKey.manifestSHA256] != nil }) else { return ["training data: unknown"] }
        var lines = ["training data: " + (m[ProvenanceKey.name].map { "\"\($0)\", " } ?? "") + "\(m[ProvenanceKey.count] ?? "?") images",
                     "  manifest sha256: \(m[ProvenanceKey.manifestSHA256]!)"]
        if let json = m[ProvenanceKey.summary], let s = try? JSONDecoder().decode(DatasetManifest.Summary.self, from: Data(json.utf8)) {
            func row(_ title: String, _ counts: [String: Int]) -> String {
                "  \(title): " + counts.sorted { $0.value > $1.value || $0.value == $1.value && $0.key < $1.key }
                    .map { "\($0.key) (\($0.value))" }.joined(separator: "; ")
            }
            lines += [row("licenses", s.licenses), row("sources", s.sources), row("consent", s.consent)]
        } else if let json = m[ProvenanceKey.summary] {
            lines.append("  summary: \(json)")
        }
        return lines
    }

    static func architecture(_ url: URL, isFolder: Bool, files: [SafeTensorsFile]) -> String {
        if let own = files.lazy.compactMap({ $0.metadata[architectureKey] }).first { return own }
        var parts: [String] = []
        if isFolder, let data = FileManager.default.contents(atPath: url.appendingPathComponent("model_index.json").path),
           let index = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let name = index["_class_name"] as? String {
            parts.append(name)
        }
        if let checkpoint = try? loadCheckpoint(at: url) {
            parts.append("Stable Diffusion \(checkpoint.family == .sd1 ? "1.x" : "2.x") (family \(checkpoint.family.rawValue))")
        }
        return parts.isEmpty ? "unknown (not a Stable Diffusion checkpoint Diffuse recognises)" : parts.joined(separator: ", ")
    }

    /// *.safetensors in the folder and its immediate sub-folders (the diffusers layout), sorted.
    static func safetensorsFiles(in folder: URL) throws -> [SafeTensorsFile] {
        let fm = FileManager.default
        var urls: [URL] = []
        let top = (try? fm.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        for entry in top {
            if entry.pathExtension == "safetensors" { urls.append(entry) }
            if let inner = try? fm.contentsOfDirectory(at: entry, includingPropertiesForKeys: nil) {
                urls += inner.filter { $0.pathExtension == "safetensors" }
            }
        }
        return try urls.sorted { $0.path < $1.path }.map { try SafeTensorsFile(url: $0) }
    }

    static func relative(_ file: URL, to folder: URL) -> String {
        let base = folder.standardizedFileURL.path + "/", path = file.standardizedFileURL.path
        return path.hasPrefix(base) ? String(path.dropFirst(base.count)) : file.lastPathComponent
    }

    /// 1234 → "1,234"; 1234567 → "1.23 M (1,234,567)".
    static func formatCount(_ n: Int) -> String {
        var digits = String(n), grouped = ""
        while digits.count > 3 { grouped = "," + digits.suffix(3) + grouped; digits.removeLast(3) }
        grouped = digits + grouped
        if n >= 1_000_000_000 { return String(format: "%.2f B", Double(n) / 1e9) + " (\(grouped))" }
        if n >= 1_000_000 { return String(format: "%.2f M", Double(n) / 1e6) + " (\(grouped))" }
        return grouped
    }
}
