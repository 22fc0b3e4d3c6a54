// manifest.json: for every image of a dataset, where it came from, under which licence, and what consent
// covers it. Its hash and a summary travel into every model trained on the dataset (`provenanceMetadata`).

import DiffuseModels
import Foundation

public struct DatasetManifest: Codable, Equatable, Sendable {
    /// Provenance of one image; fields left out fall back to the manifest's `defaults`.
    public struct Entry: Codable, Equatable, Sendable {
        public var fileName: String
        public var source: String?
        public var license: String?
        public var consent: String?

        public init(fileName: String, source: String? = nil, license: String? = nil, consent: String? = nil) {
            self.fileName = fileName
            self.source = source
            self.license = license
            self.consent = consent
        }

        enum CodingKeys: String, CodingKey {
            case fileName = "file_name", source, license, consent
        }
    }

    public struct Defaults: Codable, Equatable, Sendable {
        public var source: String?
        public var license: String?
        public var consent: String?

        public init(source: String? = nil, license: String? = nil, consent: String? = nil) {
            self.source = source
            self.license = license
            self.consent = consent
        }
    }

    public static let currentFormat = "diffuse-dataset-manifest/1"

    public var format: String
    public var name: String?
    public var description: String?
    public var defaults: Defaults?
    /// How the images were made, for generated datasets (generator, seed, size, held-out combinations…).
    public var generator: [String: String]?
    public var images: [Entry]

    public init(name: String? = nil, description: String? = nil, defaults: Defaults? = nil,
                generator: [String: String]? = nil, images: [Entry]) {
        self.format = Self.currentFormat
        self.name = name
        self.description = description
        self.defaults = defaults
        self.generator = generator
        self.images = images
    }

    /// Reads and decodes manifest.json; every failure is one line naming the file.
    public static func read(contentsOf url: URL) throws -> DatasetManifest {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DatasetError("no manifest at \(url.path): a dataset needs manifest.json giving each image's source, license and consent (see docs/DATASET.md)")
        }
        do {
            return try JSONDecoder().decode(DatasetManifest.self, from: data)
        } catch let error as DecodingError {
            throw DatasetError("\(url.path) does not parse: \(describe(error))")
        } catch {
            throw DatasetError("\(url.path) does not parse: \(error.localizedDescription)")
        }
    }

    /// The entry's source, license and consent with defaults applied.
    public func resolved(_ e: Entry) -> (source: String?, license: String?, consent: String?) {
        (nonEmpty(e.source) ?? nonEmpty(defaults?.source), nonEmpty(e.license) ?? nonEmpty(defaults?.license),
         nonEmpty(e.consent) ?? nonEmpty(defaults?.consent))
    }

    private func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return s
    }

    /// The manifest as sorted-key JSON without whitespace, images in file-name order: the same bytes for
    /// the same content however the file was formatted, so the hash identifies the content.
    public func canonicalBytes() -> [UInt8] {
        var copy = self
        copy.images.sort { $0.fileName < $1.fileName }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, optionals and arrays of them cannot fail.
        return Array((try? encoder.encode(copy)) ?? Data())
    }

    /// SHA-256 of `canonicalBytes()`, hex.
    public func sha256() -> String {
        var hasher = SHA256()
        hasher.update(canonicalBytes())
        return SHA256.hex(hasher.finalize())
    }

    /// Image counts per source, license and consent (after defaults; missing ones counted as "none").
    public struct Summary: Codable, Equatable, Sendable {
        public var count: Int
        public var sources: [String: Int]
        public var licenses: [String: Int]
        public var consent: [String: Int]
    }

    public func summary() -> Summary {
        var s = Summary(count: images.count, sources: [:], licenses: [:], consent: [:])
        for e in images {
            let r = resolved(e)
            s.sources[r.source ?? "none", default: 0] += 1
            s.licenses[r.license ?? "none", default: 0] += 1
            s.consent[r.consent ?? "none", default: 0] += 1
        }
        return s
    }

    /// Keys for a model's safetensors `__metadata__` (all values strings, as the format requires).
    public func provenanceMetadata() -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let summaryJSON = (try? encoder.encode(summary())).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        var m = [
            ProvenanceKey.manifestSHA256: sha256(),
            ProvenanceKey.summary: summaryJSON,
            ProvenanceKey.count: String(images.count),
        ]
        if let name { m[ProvenanceKey.name] = name }
        return m
    }
}

/// The `__metadata__` keys a trained model carries about its data.
public enum ProvenanceKey {
    public static let manifestSHA256 = "diffuse.dataset.manifest_sha256"
    public static let summary = "diffuse.dataset.summary"
    public static let count = "diffuse.dataset.count"
    public static let name = "diffuse.dataset.name"
}

/// A decoding error as one line: what is wrong and where in the JSON.
func describe(_ error: DecodingError) -> String {
    func path(_ c: DecodingError.Context) -> String {
        let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return p.isEmpty ? "" : " at \(p)"
    }
    switch error {
    case .keyNotFound(let key, let c): return "missing \"\(key.stringValue)\"\(path(c))"
    case .typeMismatch(_, let c), .valueNotFound(_, let c): return "wrong type\(path(c)): \(c.debugDescription)"
    case .dataCorrupted(let c):
        let underlying = (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return "invalid JSON\(path(c)): \(underlying ?? c.debugDescription)"
    @unknown default: return "\(error)"
    }
}
