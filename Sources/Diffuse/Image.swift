// 8-bit interleaved images and the conversions between them and the pipeline's float tensors, matching what
// diffusers' VaeImageProcessor does: postprocess `(x * 255).round()` of an image in [0, 1], and for img2img
// `x / 255 * 2 - 1`.

import DiffuseCore

/// An 8-bit image, row-major, channels interleaved (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
public struct RasterImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]   // [H, W, C]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "RasterImage: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Images of a decoded tensor, as diffusers' `numpy_to_pil` makes them: the decoder output x in [-1, 1] is
    /// mapped by `postprocess` to (x / 2 + 0.5).clamp(0, 1), then `(v * 255).round()` (round half to even, as
    /// numpy) to uint8. `tensor` is the VAE output [B, 3, H, W] in [-1, 1].
    public static func fromDecoded(_ tensor: Tensor) -> [RasterImage] {
        precondition(tensor.rank == 4 && tensor.shape[1] == 3, "fromDecoded: expected [B, 3, H, W], got \(tensor.shape)")
        let (b, h, w) = (tensor.shape[0], tensor.shape[2], tensor.shape[3])
        let plane = h * w
        return (0..<b).map { n in
            var px = [UInt8](repeating: 0, count: plane * 3)
            tensor.withUnsafe { t in
                for c in 0..<3 {
                    let base = (n * 3 + c) * plane
                    for i in 0..<plane {
                        // diffusers computes in float32: x * 0.5 + 0.5, clamp, * 255, round.
                        let v = min(max(t[base + i] * 0.5 + 0.5, 0), 1)
                        px[i * 3 + c] = UInt8((v * 255).rounded(.toNearestOrEven))
                    }
                }
            }
            return RasterImage(width: w, height: h, channels: 3, pixels: px)
        }
    }

    /// An RGB image from floats [H, W, 3] already in [0, 1] (diffusers' `numpy_to_pil`, clamped for safety).
    public init(unitFloats: [Float], width: Int, height: Int) {
        precondition(unitFloats.count == width * height * 3, "RasterImage: \(unitFloats.count) floats for \(width)x\(height)x3")
        self.init(width: width, height: height, channels: 3,
                  pixels: unitFloats.map { UInt8((min(max($0, 0), 1) * 255).rounded(.toNearestOrEven)) })
    }

    /// The img2img input tensor [1, 3, H, W] in [-1, 1]: `pil_to_numpy` (/ 255) then `normalize` (2x - 1).
    /// Needs an RGB image (see `PNGImage.rgb()` for Pillow's convert("RGB") rules).
    public func normalizedTensor() -> Tensor {
        precondition(channels == 3, "normalizedTensor needs an RGB image, got \(channels) channels")
        let plane = width * height
        return Tensor(shape: [1, 3, height, width]) { out in
            for i in 0..<plane {
                for c in 0..<3 { out[c * plane + i] = Float(pixels[i * 3 + c]) / 255 * 2 - 1 }
            }
        }
    }
}
