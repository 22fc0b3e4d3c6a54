// PNG decoding for init images and metadata: every standard color type and bit depth (gray 1/2/4/8/16,
// gray+alpha 8/16, RGB 8/16, RGBA 8/16, palette 1/2/4/8 with tRNS), all five filters, Adam7 interlacing,
// CRC checks, and tEXt / zTXt / iTXt text.

import Foundation

/// A decoded PNG: samples at their stored depth, palette already expanded to RGB (or RGBA with tRNS).
public struct PNGImage: Sendable {
    public var width: Int
    public var height: Int
    public var bitDepth: Int          // of `samples`: 1, 2, 4, 8 or 16 (8 for expanded palettes)
    public var colorType: Int         // as stored in IHDR: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
    public var channels: Int          // of `samples`: 1...4
    public var samples: [UInt16]      // [H, W, channels]
    public var text: [(keyword: String, text: String)]

    /// The first text entry with this keyword (e.g. "parameters").
    public func text(_ keyword: String) -> String? { text.first { $0.keyword == keyword }?.text }

    /// 8-bit RGB as Pillow's `Image.convert("RGB")` gives it, which is what diffusers' img2img preprocessing
    /// sees: alpha is dropped (not composited), gray is replicated, 1/2/4-bit gray is scaled to 0...255,
    /// 16-bit color keeps the high byte, and 16-bit gray ("I;16") is clipped to 255 — Pillow's own quirk.
    public func rgb() -> RasterImage {
        let n = width * height
        var px = [UInt8](repeating: 0, count: n * 3)
        let colorChannels = channels >= 3 ? 3 : 1
        for i in 0..<n {
            for c in 0..<3 {
                let s = samples[i * channels + (colorChannels == 3 ? c : 0)]
                px[i * 3 + c] = to8(s, gray16: colorType == 0)
            }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: px)
    }

    private func to8(_ s: UInt16, gray16: Bool) -> UInt8 {
        switch bitDepth {
        case 16: return gray16 ? UInt8(min(s, 255)) : UInt8(s >> 8)
        case 8: return UInt8(s)
        default: return UInt8(Int(s) * 255 / ((1 << bitDepth) - 1))
        }
    }
}

extension PNG {
    /// Reads a PNG file; every failure is a `PNGError` whose description names the file.
    public static func read(contentsOf url: URL) throws -> PNGImage {
        let data = try readFile(url)
        do { return try decode(data) } catch let e as PNGError {
            throw PNGError("\(url.path): \(e.description)")
        }
    }

    /// The whole file, with the system's reason (strerror) when it cannot be read.
    static func readFile(_ url: URL) throws -> [UInt8] {
        func fail(_ reason: String) -> PNGError { PNGError("cannot read \(url.path): \(reason)") }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue { throw fail("it is a folder") }
        guard let f = fopen(url.path, "rb") else { throw fail(String(cString: strerror(errno))) }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n > 0 { out += chunk[0..<n] }
            if n < chunk.count {
                if ferror(f) != 0 { throw fail(String(cString: strerror(errno))) }
                return out
            }
        }
    }

    /// The largest image we accept (pixels): bigger than any SD input, small enough to never exhaust memory.
    public static let maxPixels = 1 << 26

    public static func decode(_ bytes: [UInt8]) throws -> PNGImage {
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw PNGError("not a PNG file") }
        var pos = 8
        var header: (w: Int, h: Int, depth: Int, type: Int, interlace: Int)?
        var palette: [UInt8] = [], alpha: [UInt8] = []
        var idat: [UInt8] = []
        var text: [(keyword: String, text: String)] = []
        var sawEnd = false
        while !sawEnd {
            guard pos + 12 <= bytes.count else { throw PNGError("file ends before IEND (truncated file?)") }
            let len = Int(bytes.bigEndian32(at: pos))
            let type = String(decoding: bytes[pos + 4..<pos + 8], as: UTF8.self)
            guard len < 1 << 31, pos + 12 + len <= bytes.count else { throw PNGError("chunk \(type) runs past the end of the file (truncated file?)") }
            let data = Array(bytes[pos + 8..<pos + 8 + len])
            guard CRC32.checksum(bytes[pos + 4..<pos + 8 + len]) == bytes.bigEndian32(at: pos + 8 + len) else {
                throw PNGError("chunk \(type) has a bad CRC (corrupt file)")
            }
            pos += 12 + len
            if header == nil && type != "IHDR" { throw PNGError("first chunk is \(type), not IHDR (corrupt file)") }
            switch type {
            case "IHDR": header = try parseHeader(data)
            case "PLTE": palette = data
            case "tRNS": alpha = data
            case "IDAT": idat += data
            case "IEND": sawEnd = true
            case "tEXt", "zTXt", "iTXt": if let t = try? parseText(type, data) { text.append(t) }
            default:
                // Unknown critical chunks (uppercase first letter) change how the image must be read.
                if let f = type.unicodeScalars.first, f.value >= 65, f.value <= 90 {
                    throw PNGError("unsupported critical chunk \(type)")
                }
            }
        }
        guard let h = header else { throw PNGError("no IHDR chunk") }
        guard !idat.isEmpty else { throw PNGError("no image data (IDAT)") }
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][h.type]!
        let raw = try Inflate.zlib(idat, limit: rawSize(h.w, h.h, channels * h.depth, interlaced: h.interlace == 1))
        var samples = try unfilter(raw, width: h.w, height: h.h, channels: channels, depth: h.depth,
                                   interlaced: h.interlace == 1)
        var image = PNGImage(width: h.w, height: h.h, bitDepth: h.depth, colorType: h.type, channels: channels,
                             samples: samples, text: text)
        if h.type == 3 {
            guard !palette.isEmpty, palette.count % 3 == 0 else { throw PNGError("palette image without a valid PLTE chunk") }
            let outC = alpha.isEmpty ? 3 : 4
            var expanded = [UInt16](repeating: 0, count: samples.count * outC)
            for (i, s) in samples.enumerated() {
                let k = Int(s)
                guard k * 3 + 2 < palette.count else { throw PNGError("pixel uses palette entry \(k) beyond the palette (corrupt file)") }
                for c in 0..<3 { expanded[i * outC + c] = UInt16(palette[k * 3 + c]) }
                if outC == 4 { expanded[i * 4 + 3] = k < alpha.count ? UInt16(alpha[k]) : 255 }
            }
            samples = []
            image.samples = expanded
            image.channels = outC
            image.bitDepth = 8
        }
        return image
    }

    static func parseHeader(_ d: [UInt8]) throws -> (w: Int, h: Int, depth: Int, type: Int, interlace: Int) {
        guard d.count == 13 else { throw PNGError("IHDR has the wrong length (corrupt file)") }
        let w = Int(d.bigEndian32(at: 0)), h = Int(d.bigEndian32(at: 4))
        let depth = Int(d[8]), type = Int(d[9])
        let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
        guard let depths = allowed[type], depths.contains(depth) else {
            throw PNGError("invalid color type \(type) with bit depth \(depth) (corrupt file)")
        }
        guard d[10] == 0, d[11] == 0 else { throw PNGError("unknown compression or filter method (corrupt file)") }
        guard d[12] <= 1 else { throw PNGError("unknown interlace method \(d[12]) (corrupt file)") }
        guard w > 0, h > 0 else { throw PNGError("image has zero width or height") }
        guard w * h <= maxPixels else { throw PNGError("image is \(w)x\(h), larger than the \(maxPixels)-pixel limit") }
        return (w, h, depth, type, Int(d[12]))
    }

    static func parseText(_ type: String, _ d: [UInt8]) throws -> (keyword: String, text: String) {
        guard let z = d.firstIndex(of: 0) else { throw PNGError("bad text chunk") }
        let key = String(d[0..<z].map { Character(Unicode.Scalar($0)) })
        func latin1(_ s: ArraySlice<UInt8>) -> String { String(s.map { Character(Unicode.Scalar($0)) }) }
        switch type {
        case "tEXt": return (key, latin1(d[(z + 1)...]))
        case "zTXt":
            guard z + 2 <= d.count, d[z + 1] == 0 else { throw PNGError("bad zTXt") }
            return (key, latin1(try Inflate.zlib(Array(d[(z + 2)...]), limit: 1 << 24)[...]))
        default:
            guard z + 3 <= d.count else { throw PNGError("bad iTXt") }
            let compressed = d[z + 1] == 1
            var p = z + 3
            for _ in 0..<2 {   // language tag, translated keyword
                guard let e = d[p...].firstIndex(of: 0) else { throw PNGError("bad iTXt") }
                p = e + 1
            }
            let body = compressed ? try Inflate.zlib(Array(d[p...]), limit: 1 << 24) : Array(d[p...])
            return (key, String(decoding: body, as: UTF8.self))
        }
    }
}

extension Array where Element == UInt8 {
    func bigEndian32(at i: Int) -> UInt32 {
        UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }
}
