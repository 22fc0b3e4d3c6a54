// Models are chosen by name: `builtin` (the shapes model shipped inside Diffuse, the default) and whatever is
// in the models folder (`--models DIR`): a diffusers folder (with model_index.json) or a `.safetensors` file
// directly inside it (a Stable Diffusion checkpoint, or a model written by `diffuse train`). A client's name
// is only ever matched against that listing, never turned into a path. Loaded models are kept in a small LRU,
// since a real SD model takes GBs of memory.

import Diffuse
import DiffuseModels
import DiffuseTraining
import Foundation

public enum ModelKind: String, Sendable {
    /// Latent diffusion through `StableDiffusionPipeline`.
    case stableDiffusion = "stable-diffusion"
    /// A pixel-space model of `diffuse train` (the built-in one included): DDIM only, one image size.
    case trained
}

public struct ModelInfo: Sendable, Equatable {
    /// Folder name, or file name without `.safetensors`; `builtin` for the bundled model.
    public var name: String
    /// The file or folder name as listed (A1111's title without the hash).
    public var fileName: String
    public var url: URL
    public var kind: ModelKind
    /// The one image size a trained model draws (nil for Stable Diffusion, whose size is free).
    public var imageSize: Int?
}

/// A model in memory.
public enum LoadedModel {
    case stableDiffusion(StableDiffusionPipeline)
    case trained(BuiltinModel)
}

public final class ModelStore: @unchecked Sendable {
    /// The name the bundled shapes model is served under.
    public static let builtinName = "builtin"
    public let folder: URL?
    public let builtinURL: URL?
    public let capacity: Int
    private let lock = NSLock()
    /// Most recently used last.
    private var loaded: [(name: String, model: LoadedModel)] = []
    private var sha256s: [String: String] = [:]
    /// A .safetensors file's image size when it is a `diffuse train` model (nil: not one), by path and
    /// modification date (reading every header on every listing would cost a file open per model per request).
    private var trainedCache: [String: (Date, Int?)] = [:]

    /// `folder` nil: only the built-in model. `builtinURL` nil: no built-in model (the tests' choice).
    public init(folder: URL?, capacity: Int = 2, builtinURL: URL? = BuiltinModel.bundledURL) {
        self.folder = folder
        self.capacity = max(1, capacity)
        self.builtinURL = builtinURL
    }

    /// The built-in model first, then the folder's models sorted by name.
    public func list() -> [ModelInfo] {
        var out: [ModelInfo] = []
        if let builtinURL {
            out.append(ModelInfo(name: Self.builtinName, fileName: Self.builtinName, url: builtinURL, kind: .trained,
                                 imageSize: trainedImageSize(builtinURL)))
        }
        guard let folder else { return out }
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
        var found: [ModelInfo] = []
        for fileName in names where !fileName.hasPrefix(".") {
            let url = folder.appendingPathComponent(fileName)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                guard fm.fileExists(atPath: url.appendingPathComponent("model_index.json").path) else { continue }
                found.append(ModelInfo(name: fileName, fileName: fileName, url: url, kind: .stableDiffusion))
            } else if fileName.lowercased().hasSuffix(".safetensors") {
                let side = trainedImageSize(url)
                found.append(ModelInfo(name: String(fileName.dropLast(12)), fileName: fileName, url: url,
                                       kind: side != nil ? .trained : .stableDiffusion, imageSize: side))
            }
        }
        // The built-in name stays the built-in model's: a folder entry with that name is not reachable by it.
        found.removeAll { $0.name == Self.builtinName && builtinURL != nil }
        return out + found.sorted { $0.name < $1.name }
    }

    /// The image size in a `diffuse train` model's stored config; nil for any other file.
    private func trainedImageSize(_ url: URL) -> Int? {
        let modified = (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate ?? .distantPast
        if let cached = lock.withLock({ trainedCache[url.path] }), cached.0 == modified { return cached.1 }
        var side: Int?
        if let file = try? SafeTensorsFile(url: url), let json = file.metadata[TrainingCheckpoint.configKey],
           let config = try? JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8)) {
            side = config.model.imageSize
        }
        lock.withLock { trainedCache[url.path] = (modified, side) }
        return side
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

    /// The model for requests that name none: the built-in one, else the first in the folder.
    public func defaultModel() throws -> ModelInfo {
        guard let first = list().first else {
            throw StudioError(.serviceUnavailable, "no models in \(folder?.lastPathComponent ?? "the models folder"): put a diffusers folder or a .safetensors file there")
        }
        return first
    }

    /// The loaded model (loading it and evicting the least recently used one when full) and its A1111 hash.
    public func load(_ model: ModelInfo) throws -> (LoadedModel, String) {
        if let hit: (LoadedModel, String) = lock.withLock({
            guard let i = loaded.firstIndex(where: { $0.name == model.name }) else { return nil }
            let entry = loaded.remove(at: i)
            loaded.append(entry)
            return (entry.model, String((sha256s[model.name] ?? "").prefix(10)))
        }) { return hit }
        // Loading happens outside the lock: listings must not wait for a multi-GB read.
        let value: LoadedModel
        let hashed: URL
        switch model.kind {
        case .stableDiffusion:
            let pipeline = try StableDiffusionPipeline(contentsOf: model.url)
            (value, hashed) = (.stableDiffusion(pipeline), pipeline.checkpoint.hashedFileURL)
        case .trained:
            do { value = .trained(try BuiltinModel(contentsOf: model.url)) } catch {
                throw StudioError(.internalServerError, "cannot load model '\(model.name)': \(error)")
            }
            hashed = model.url
        }
        let sha = try sha256Hex(ofFileAt: hashed)
        lock.lock()
        defer { lock.unlock() }
        loaded.removeAll { $0.name == model.name }
        loaded.append((model.name, value))
        if loaded.count > capacity { loaded.removeFirst(loaded.count - capacity) }
        sha256s[model.name] = sha
        return (value, String(sha.prefix(10)))
    }

    /// A trained (pixel-space) model, loaded if needed.
    public func trainedModel(_ model: ModelInfo) throws -> BuiltinModel {
        guard case .trained(let m) = try load(model).0 else {
            throw StudioError(.internalServerError, "model '\(model.name)' is not a trained pixel-space model")
        }
        return m
    }

    /// Names of the models in memory, least recently used first.
    public var loadedNames: [String] { lock.withLock { loaded.map(\.name) } }

    /// The SHA-256 of a model's hashed file once it has been loaded (A1111 lists unhashed models with null).
    public func sha256(of name: String) -> String? { lock.withLock { sha256s[name] } }
}
