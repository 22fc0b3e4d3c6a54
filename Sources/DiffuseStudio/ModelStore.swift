// Models are chosen by name from one folder (`--models DIR`): a diffusers folder (with model_index.json) or a
// `.safetensors` file directly inside it. A client's name is only ever matched against that listing, never
// turned into a path. Loaded pipelines are kept in a small LRU, since a real SD model takes GBs of memory.

import Diffuse
import DiffuseModels
import Foundation

public struct ModelInfo: Sendable, Equatable {
    /// Folder name, or file name without `.safetensors`.
    public var name: String
    /// The file or folder name as listed (A1111's title without the hash).
    public var fileName: String
    public var url: URL
}

public final class ModelStore: @unchecked Sendable {
    public let folder: URL
    public let capacity: Int
    private let lock = NSLock()
    /// Most recently used last.
    private var loaded: [(name: String, pipeline: StableDiffusionPipeline)] = []
    private var hashes: [String: String] = [:]
    private var sha256s: [String: String] = [:]

    public init(folder: URL, capacity: Int = 2) {
        self.folder = folder
        self.capacity = max(1, capacity)
    }

    /// The models in the folder, sorted by name.
    public func list() -> [ModelInfo] {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
        var out: [ModelInfo] = []
        for fileName in names where !fileName.hasPrefix(".") {
            let url = folder.appendingPathComponent(fileName)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                guard fm.fileExists(atPath: url.appendingPathComponent("model_index.json").path) else { continue }
                out.append(ModelInfo(name: fileName, fileName: fileName, url: url))
            } else if fileName.lowercased().hasSuffix(".safetensors") {
                out.append(ModelInfo(name: String(fileName.dropLast(12)), fileName: fileName, url: url))
            }
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Finds a model by name, file name, or A1111 title (`name.safetensors [hash]`).
    public func resolve(_ requested: String) throws -> ModelInfo {
        var key = requested.trimmingCharacters(in: .whitespaces)
        if key.hasSuffix("]"), let open = key.lastIndex(of: "[") {
            key = key[..<open].trimmingCharacters(in: .whitespaces)
        }
        let models = list()
        if let m = models.first(where: { $0.name == key || $0.fileName == key }) { return m }
        let known = models.map(\.name).joined(separator: ", ")
        throw StudioError(.notFound, "unknown model '\(requested)' (available: \(known.isEmpty ? "none" : known))",
                          param: "model")
    }

    /// The first model in the folder, for requests that name none.
    public func defaultModel() throws -> ModelInfo {
        guard let first = list().first else {
            throw StudioError(.serviceUnavailable, "no models in \(folder.lastPathComponent): put a diffusers folder or a .safetensors file there")
        }
        return first
    }

    /// The loaded pipeline (loading it and evicting the least recently used one when full) and its A1111 hash.
    public func pipeline(for model: ModelInfo) throws -> (StableDiffusionPipeline, String) {
        lock.lock()
        if let i = loaded.firstIndex(where: { $0.name == model.name }) {
            let entry = loaded.remove(at: i)
            loaded.append(entry)
            let hash = hashes[model.name] ?? ""
            lock.unlock()
            return (entry.pipeline, hash)
        }
        lock.unlock()
        // Loading happens outside the lock: only the job worker loads, and listings must not wait for it.
        let pipeline = try StableDiffusionPipeline(contentsOf: model.url)
        let sha = try sha256Hex(ofFileAt: pipeline.checkpoint.hashedFileURL)
        lock.lock()
        defer { lock.unlock() }
        loaded.removeAll { $0.name == model.name }
        loaded.append((model.name, pipeline))
        if loaded.count > capacity { loaded.removeFirst(loaded.count - capacity) }
        sha256s[model.name] = sha
        hashes[model.name] = String(sha.prefix(10))
        return (pipeline, String(sha.prefix(10)))
    }

    /// Names of the models in memory, least recently used first.
    public var loadedNames: [String] { lock.withLock { loaded.map(\.name) } }

    /// The SHA-256 of a model's hashed file once it has been loaded (A1111 lists unhashed models with null).
    public func sha256(of name: String) -> String? { lock.withLock { sha256s[name] } }
}
