// Reversing PNG row filters and Adam7 interlacing, and unpacking samples of any bit depth.

extension PNG {
    /// Adam7 passes: (x start, y start, x step, y step).
    static let adam7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]

    static func rowBytes(_ width: Int, _ bitsPerPixel: Int) -> Int { (width * bitsPerPixel + 7) / 8 }

    /// Exact size of the decompressed IDAT data, used to cap decompression.
    static func rawSize(_ w: Int, _ h: Int, _ bitsPerPixel: Int, interlaced: Bool) -> Int {
        guard interlaced else { return h * (rowBytes(w, bitsPerPixel) + 1) }
        var total = 0
        for (xs, ys, dx, dy) in adam7 {
            let pw = (w - xs + dx - 1) / dx, ph = (h - ys + dy - 1) / dy
            if pw > 0 && ph > 0 { total += ph * (rowBytes(pw, bitsPerPixel) + 1) }
        }
        return total
    }

    /// Samples [H, W, channels] from the decompressed, filtered scanlines.
    static func unfilter(_ raw: [UInt8], width: Int, height: Int, channels: Int, depth: Int,
                         interlaced: Bool) throws -> [UInt16] {
        guard raw.count == rawSize(width, height, channels * depth, interlaced: interlaced) else {
            throw PNGError("image data has \(raw.count) bytes, expected \(rawSize(width, height, channels * depth, interlaced: interlaced)) (corrupt file)")
        }
        var out = [UInt16](repeating: 0, count: width * height * channels)
        var offset = 0
        let passes = interlaced ? adam7 : [(0, 0, 1, 1)]
        for (xs, ys, dx, dy) in passes {
            let pw = (width - xs + dx - 1) / dx, ph = (height - ys + dy - 1) / dy
            guard pw > 0 && ph > 0 else { continue }
            let rows = try unfilterPass(raw, at: offset, width: pw, height: ph, bitsPerPixel: channels * depth)
            offset += ph * (rowBytes(pw, channels * depth) + 1)
            for y in 0..<ph {
                let rowStart = y * rowBytes(pw, channels * depth)
                for x in 0..<pw {
                    let dst = ((ys + y * dy) * width + xs + x * dx) * channels
                    for c in 0..<channels {
                        out[dst + c] = sample(rows, rowStart: rowStart, index: x * channels + c, depth: depth)
                    }
                }
            }
        }
        return out
    }

    @inline(__always)
    static func sample(_ rows: [UInt8], rowStart: Int, index: Int, depth: Int) -> UInt16 {
        switch depth {
        case 16: return UInt16(rows[rowStart + 2 * index]) << 8 | UInt16(rows[rowStart + 2 * index + 1])
        case 8: return UInt16(rows[rowStart + index])
        default:
            // Sub-byte samples are packed most significant bits first.
            let bit = index * depth
            let byte = rows[rowStart + bit / 8]
            return UInt16(byte >> UInt8(8 - depth - bit % 8)) & UInt16((1 << depth) - 1)
        }
    }

    /// Unfilters one pass; returns its rows back to back without filter bytes.
    static func unfilterPass(_ raw: [UInt8], at start: Int, width: Int, height: Int, bitsPerPixel: Int) throws -> [UInt8] {
        let stride = rowBytes(width, bitsPerPixel)
        let bpp = max(1, bitsPerPixel / 8)   // filters compare with the byte one whole pixel to the left
        var out = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let src = start + y * (stride + 1)
            let filter = Int(raw[src])
            guard filter <= 4 else { throw PNGError("row \(y) has unknown filter type \(filter) (corrupt file)") }
            let o = y * stride
            for i in 0..<stride {
                let a = i >= bpp ? Int(out[o + i - bpp]) : 0
                let b = y > 0 ? Int(out[o - stride + i]) : 0
                let c = y > 0 && i >= bpp ? Int(out[o - stride + i - bpp]) : 0
                out[o + i] = UInt8(truncatingIfNeeded: Int(raw[src + 1 + i]) + predictor(filter, a, b, c))
            }
        }
        return out
    }
}
