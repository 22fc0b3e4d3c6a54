// PNG encoding (ISO/IEC 15948): 8-bit gray, gray+alpha, RGB or RGBA, each row filtered with whichever of the
// five filters gives the smallest sum of absolute byte values (libpng's default heuristic), one zlib IDAT,
// and text chunks written the way Pillow's PngInfo.add_text does: tEXt when keyword and text are Latin-1,
// otherwise an uncompressed iTXt with empty language tag and translated keyword.

import Foundation

public enum PNG {
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `image` with `text` entries (keyword, value) placed before the image data.
    public static func encode(_ image: RasterImage, text: [(String, String)] = [],
                              level: Deflate.Level = .standard) throws -> [UInt8] {
        guard (1...4).contains(image.channels) else {
            throw PNGError("cannot write a PNG with \(image.channels) channels (1 to 4 are supported)")
        }
        guard image.width > 0, image.height > 0, image.width < 1 << 31, image.height < 1 << 31 else {
            throw PNGError("cannot write a PNG of size \(image.width)x\(image.height)")
        }
        var out = signature
        var ihdr: [UInt8] = []
        ihdr.appendBigEndian(UInt32(image.width))
        ihdr.appendBigEndian(UInt32(image.height))
        let colorType: UInt8 = [0, 4, 2, 6][image.channels - 1]
        ihdr += [8, colorType, 0, 0, 0]   // depth 8, deflate, adaptive filtering, no interlace
        appendChunk("IHDR", ihdr, to: &out)
        for (key, value) in text { appendChunk(try textChunk(key, value), to: &out) }
        appendChunk("IDAT", Deflate.zlib(filterRows(image), level: level), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// tEXt for Latin-1 text, else iTXt (UTF-8), as Pillow chooses.
    static func textChunk(_ key: String, _ value: String) throws -> (String, [UInt8]) {
        guard let k = latin1(key), (1...79).contains(k.count), !k.contains(0) else {
            throw PNGError("PNG text keyword must be 1–79 Latin-1 characters (got \"\(key)\")")
        }
        if let v = latin1(value) { return ("tEXt", k + [0] + v) }
        // keyword NUL, compression flag 0, method 0, language "" NUL, translated keyword "" NUL, UTF-8 text.
        return ("iTXt", k + [0, 0, 0, 0, 0] + Array(value.utf8))
    }

    static func latin1(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        for u in s.unicodeScalars {
            guard u.value < 256 else { return nil }
            out.append(UInt8(u.value))
        }
        return out
    }

    static func appendChunk(_ chunk: (String, [UInt8]), to out: inout [UInt8]) { appendChunk(chunk.0, chunk.1, to: &out) }

    static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        out.appendBigEndian(UInt32(data.count))
        let t = Array(type.utf8)
        out += t
        out += data
        var crc = CRC32()
        crc.update(t)
        crc.update(data)
        out.appendBigEndian(crc.value)
    }

    /// Filter byte + filtered row for each row, choosing per row the filter with the smallest sum of
    /// |byte as signed|.
    static func filterRows(_ image: RasterImage) -> [UInt8] {
        let bpp = image.channels, stride = image.width * bpp
        var out = [UInt8](repeating: 0, count: image.height * (stride + 1))
        var candidate = [[UInt8]](repeating: [UInt8](repeating: 0, count: stride), count: 5)
        let zero = [UInt8](repeating: 0, count: stride)
        image.pixels.withUnsafeBufferPointer { px in
            for y in 0..<image.height {
                let row = px.baseAddress! + y * stride
                var bestType = 0, bestCost = Int.max
                zero.withUnsafeBufferPointer { z in
                    let up = y > 0 ? row - stride : z.baseAddress!
                    for f in 0..<5 {
                        var cost = 0
                        candidate[f].withUnsafeMutableBufferPointer { c in
                            for i in 0..<stride {
                                let a = i >= bpp ? Int(row[i - bpp]) : 0, b = Int(up[i]), cc = i >= bpp ? Int(up[i - bpp]) : 0
                                let v = UInt8(truncatingIfNeeded: Int(row[i]) - predictor(f, a, b, cc))
                                c[i] = v
                                cost += v < 128 ? Int(v) : 256 - Int(v)
                            }
                        }
                        if cost < bestCost { bestCost = cost; bestType = f }
                    }
                }
                let o = y * (stride + 1)
                out[o] = UInt8(bestType)
                out.replaceSubrange((o + 1)..<(o + 1 + stride), with: candidate[bestType])
            }
        }
        return out
    }

    /// The PNG filter predictors (a = left, b = up, c = up-left).
    @inline(__always)
    static func predictor(_ filter: Int, _ a: Int, _ b: Int, _ c: Int) -> Int {
        switch filter {
        case 1: return a
        case 2: return b
        case 3: return (a + b) >> 1
        case 4:
            let p = a + b - c
            let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
            return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
        default: return 0
        }
    }

    /// Writes `bytes` to `url` atomically: a temporary file in the same folder, then rename, so a failure never
    /// leaves a partial file behind. With `overwrite` false an existing file is an error.
    public static func writeAtomically(_ bytes: [UInt8], to url: URL, overwrite: Bool) throws {
        let fm = FileManager.default
        if !overwrite && fm.fileExists(atPath: url.path) {
            throw PNGError("\(url.path) already exists (use --force to overwrite)")
        }
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try Data(bytes).write(to: tmp)
        } catch {
            try? fm.removeItem(at: tmp)
            throw PNGError("cannot write \(url.path): \(describe(error))")
        }
        // rename(2) replaces the target atomically; link(2) publishes it only if the name is still free.
        let ok = overwrite ? rename(tmp.path, url.path) == 0 : link(tmp.path, url.path) == 0
        let err = errno
        try? fm.removeItem(at: tmp)
        if !ok {
            if err == EEXIST { throw PNGError("\(url.path) already exists (use --force to overwrite)") }
            throw PNGError("cannot write \(url.path): \(String(cString: strerror(err)))")
        }
    }

    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(u.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription.replacingOccurrences(of: "\n", with: " ")
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(v >> 24)); append(UInt8(v >> 16 & 0xFF)); append(UInt8(v >> 8 & 0xFF)); append(UInt8(v & 0xFF))
    }
}
