import Diffuse
import DiffuseCore
import Foundation

/// What the trainer needs from a dataset: captioned square RGB images of one size. The dataset engineer's
/// DatasetFolder (with provenance) can conform to this; `ImageCaptionFolder` is the minimal reader.
public protocol TrainingDataset {
    var count: Int { get }
    /// Side of every image in pixels.
    var imageSize: Int { get }
    /// Every caption (for the tokenizer vocabulary).
    var captions: [String] { get }
    /// RGB pixels [H, W, 3] (8-bit) of example `index`.
    func pixels(at index: Int) -> [UInt8]
}

extension TrainingDataset {
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

/// A folder of `NAME.png` images each with a `NAME.txt` caption beside it, all decoded into memory as
/// 8-bit RGB (64×64 is 12 KB an image). Fails with one line for: a missing or empty folder, an image
/// that does not decode, a caption without its image, an image without a caption, mixed or non-square sizes.
public struct ImageCaptionFolder: TrainingDataset {
    public let url: URL
    public let names: [String]
    public let captions: [String]
    public let imageSize: Int
    private let images: [[UInt8]]

    public init(_ url: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
            throw TrainingError("\(url.path): no such dataset folder; pass --data a folder of NAME.png + NAME.txt")
        }
        let files = try fm.contentsOfDirectory(atPath: url.path).sorted()
        var pngFile: [String: String] = [:]
        for f in files where f.lowercased().hasSuffix(".png") { pngFile[String(f.dropLast(4))] = f }
        let pngs = Set(pngFile.keys)
        let txts = Set(files.filter { $0.hasSuffix(".txt") }.map { String($0.dropLast(4)) })
        if let orphan = txts.subtracting(pngs).sorted().first {
            throw TrainingError("\(url.path)/\(orphan).txt: caption without an image; add \(orphan).png or remove the caption")
        }
        if let bare = pngs.subtracting(txts).sorted().first {
            throw TrainingError("\(url.path)/\(bare).png: image without a caption; add \(bare).txt beside it")
        }
        guard !pngs.isEmpty else {
            throw TrainingError("\(url.path): the dataset folder has no images; make one with `diffuse make-dataset shapes`")
        }
        var names: [String] = [], captions: [String] = [], images: [[UInt8]] = [], size: Int?
        for name in pngs.sorted() {
            let path = url.appendingPathComponent(pngFile[name]!).path
            guard let bytes = fm.contents(atPath: path) else { throw TrainingError("\(path): cannot read the image") }
            let image: RasterImage
            do { image = try PNG.decode([UInt8](bytes)).rgb() } catch {
                throw TrainingError("\(path): the image does not decode as PNG (\(error)); replace or remove it")
            }
            guard image.width == image.height, image.width == (size ?? image.width) else {
                throw TrainingError("\(path): image is \(image.width)×\(image.height) but the dataset's images are "
                    + "\(size ?? image.width)×\(size ?? image.width); all images must be square and of one size")
            }
            size = image.width
            let caption = (try? String(contentsOf: url.appendingPathComponent(name + ".txt"), encoding: .utf8)) ?? ""
            names.append(name)
            captions.append(caption.trimmingCharacters(in: .whitespacesAndNewlines))
            images.append(image.pixels)
        }
        self.url = url; self.names = names; self.captions = captions; self.images = images; self.imageSize = size!
    }

    public var count: Int { images.count }
    public func pixels(at index: Int) -> [UInt8] { images[index] }
}
