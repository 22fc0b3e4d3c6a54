import Diffuse
import DiffuseCore
import Foundation

/// What the trainer needs from a dataset: captioned square RGB images of one size.
public protocol TrainingDataset {
    var count: Int { get }
    /// Side of every image in pixels.
    var imageSize: Int { get }
    /// Every caption (for the tokenizer vocabulary).
    var captions: [String] { get }
    /// RGB pixels [H, W, 3] (8-bit) of example `index`.
    func pixels(at index: Int) -> [UInt8]
    /// Keys for the model's `__metadata__` saying where the data came from (empty: unknown).
    var provenance: [String: String] { get }
}

extension TrainingDataset {
    public var provenance: [String: String] { [:] }

    /// Examples as a batch [B, 3, S, S] in [-1, 1] (x / 127.5 − 1, as diffusers' image processor).
    func batch(_ indices: [Int]) -> Tensor {
        let s = imageSize, plane = s * s
        return Tensor(shape: [indices.count, 3, s, s]) { out in
            for (n, idx) in indices.enumerated() {
                let px = pixels(at: idx)
                for i in 0..<plane { for c in 0..<3 { out[(n * 3 + c) * plane + i] = Float(px[i * 3 + c]) / 127.5 - 1 } }
            }
        }
    }
}

/// A validated `DatasetFolder` (captions, manifest, licences checked there) decoded into memory as 8-bit
/// RGB — 12 KB an image at 64×64, so every step reads memory, not PNGs — plus the provenance keys that go
/// into every checkpoint's `__metadata__`.
public struct LoadedDataset: TrainingDataset {
    public let captions: [String]
    public let imageSize: Int
    public let provenance: [String: String]
    private let images: [[UInt8]]

    public init(_ folder: DatasetFolder) throws {
        guard folder.width == folder.height else {
            throw TrainingError("\(folder.url.path): images are \(folder.width)×\(folder.height); training needs square images")
        }
        images = try folder.items.indices.map { try folder.image(at: $0).pixels }
        captions = folder.items.map(\.caption)
        imageSize = folder.width
        provenance = folder.provenanceMetadata()
    }

    public var count: Int { images.count }
    public func pixels(at index: Int) -> [UInt8] { images[index] }
}
