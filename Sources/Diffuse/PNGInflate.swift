// zlib (RFC 1950) / DEFLATE (RFC 1951) decompression: stored, fixed-Huffman and dynamic-Huffman blocks.
// Used to read PNG init images and iTXt/zTXt text; written from the RFCs, no system zlib.

/// What went wrong while reading a PNG or its compressed data; one line, meant for the user.
public struct PNGError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// LSB-first bit reader over the compressed bytes.
struct BitReader {
    let bytes: [UInt8]
    var pos = 0          // next byte to load into `bits`
    var bits: UInt64 = 0
    var count = 0        // valid bits in `bits`

    init(_ bytes: [UInt8], start: Int = 0) { self.bytes = bytes; pos = start }

    mutating func need(_ n: Int) throws {
        while count < n {
            guard pos < bytes.count else { throw PNGError("compressed data ends early (truncated file?)") }
            bits |= UInt64(bytes[pos]) << UInt64(count)
            pos += 1
            count += 8
        }
    }

    /// Loads as many bytes as fit without failing at the end of input (for table lookups).
    mutating func fill() {
        while count <= 56 && pos < bytes.count {
            bits |= UInt64(bytes[pos]) << UInt64(count)
            pos += 1
            count += 8
        }
    }

    mutating func read(_ n: Int) throws -> Int {
        if n == 0 { return 0 }
        try need(n)
        let v = Int(bits & ((1 << UInt64(n)) - 1))
        bits >>= UInt64(n)
        count -= n
        return v
    }

    mutating func alignToByte() {
        let drop = count % 8
        bits >>= UInt64(drop)
        count -= drop
    }

    /// Byte offset of the first unconsumed byte (after `alignToByte`).
    var bytePosition: Int { pos - count / 8 }
}

/// A canonical Huffman code as a single lookup table indexed by the next `maxLength` input bits
/// (bit-reversed, because DEFLATE packs codes MSB-first into an LSB-first stream).
struct HuffmanDecoder {
    var table: [UInt32]   // (symbol << 4) | length; 0 = no code
    var maxLength: Int

    init(lengths: [Int]) throws {
        maxLength = max(1, lengths.max() ?? 1)
        var blCount = [Int](repeating: 0, count: 16)
        for l in lengths where l > 0 { blCount[l] += 1 }
        var left = 1
        for l in 1...15 {
            left = left * 2 - blCount[l]
            if left < 0 { throw PNGError("compressed data has an over-subscribed Huffman code (corrupt file)") }
        }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for l in 1...15 { next[l] = code; code = (code + blCount[l]) << 1 }
        table = [UInt32](repeating: 0, count: 1 << maxLength)
        for (sym, l) in lengths.enumerated() where l > 0 {
            let c = next[l]; next[l] += 1
            var rev = 0
            for i in 0..<l where c & (1 << i) != 0 { rev |= 1 << (l - 1 - i) }
            var i = rev
            while i < table.count { table[i] = UInt32(sym << 4 | l); i += 1 << l }
        }
    }

    func decode(_ r: inout BitReader) throws -> Int {
        r.fill()
        let e = table[Int(r.bits & UInt64((1 << maxLength) - 1))]
        let len = Int(e & 15)
        guard len > 0, len <= r.count else {
            throw PNGError(r.count < maxLength && len == 0 ? "compressed data ends early (truncated file?)"
                           : "compressed data has an invalid Huffman code (corrupt file)")
        }
        r.bits >>= UInt64(len)
        r.count -= len
        return Int(e >> 4)
    }
}

public enum Inflate {
    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                             67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                           1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// Decompresses a zlib stream (2-byte header, DEFLATE data, Adler-32 trailer), checking header and checksum.
    /// `limit` caps the output so a hostile file cannot claim gigabytes.
    public static func zlib(_ data: [UInt8], limit: Int = 1 << 30) throws -> [UInt8] {
        guard data.count >= 6 else { throw PNGError("zlib stream is too short (truncated file?)") }
        let cmf = Int(data[0]), flg = Int(data[1])
        guard cmf & 0x0F == 8, cmf >> 4 <= 7, (cmf << 8 | flg) % 31 == 0 else {
            throw PNGError("zlib stream has a bad header (corrupt file)")
        }
        guard flg & 0x20 == 0 else { throw PNGError("zlib stream uses a preset dictionary, which PNG does not allow") }
        var r = BitReader(data, start: 2)
        let out = try deflate(&r, limit: limit)
        r.alignToByte()
        let p = r.bytePosition
        guard p + 4 <= data.count else { throw PNGError("zlib stream ends before its checksum (truncated file?)") }
        let stored = UInt32(data[p]) << 24 | UInt32(data[p + 1]) << 16 | UInt32(data[p + 2]) << 8 | UInt32(data[p + 3])
        guard stored == Adler32.checksum(out) else { throw PNGError("zlib checksum mismatch (corrupt file)") }
        return out
    }

    /// Decompresses raw DEFLATE blocks until the final block.
    static func deflate(_ r: inout BitReader, limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(limit, r.bytes.count * 4))
        var last = false
        while !last {
            last = try r.read(1) == 1
            switch try r.read(2) {
            case 0: try stored(&r, into: &out, limit: limit)
            case 1: try huffmanBlock(&r, lit: fixedLit, dist: fixedDist, into: &out, limit: limit)
            case 2:
                let (lit, dist) = try dynamicTables(&r)
                try huffmanBlock(&r, lit: lit, dist: dist, into: &out, limit: limit)
            default: throw PNGError("compressed data uses reserved block type 3 (corrupt file)")
            }
        }
        return out
    }

    static func stored(_ r: inout BitReader, into out: inout [UInt8], limit: Int) throws {
        r.alignToByte()
        let len = try r.read(16), nlen = try r.read(16)
        guard len == ~nlen & 0xFFFF else { throw PNGError("stored block length check failed (corrupt file)") }
        // Whole bytes may still sit in the bit buffer; drain them first, then copy directly.
        var n = len
        while n > 0 && r.count >= 8 { out.append(UInt8(try r.read(8))); n -= 1 }
        guard r.pos + n <= r.bytes.count else { throw PNGError("compressed data ends early (truncated file?)") }
        out.append(contentsOf: r.bytes[r.pos..<r.pos + n])
        r.pos += n
        guard out.count <= limit else { throw PNGError("image data is larger than its header says (corrupt file)") }
    }

    static let fixedLit = try! HuffmanDecoder(lengths: (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 })
    static let fixedDist = try! HuffmanDecoder(lengths: [Int](repeating: 5, count: 30))

    static func dynamicTables(_ r: inout BitReader) throws -> (HuffmanDecoder, HuffmanDecoder) {
        let hlit = try r.read(5) + 257, hdist = try r.read(5) + 1, hclen = try r.read(4) + 4
        guard hlit <= 286, hdist <= 30 else { throw PNGError("dynamic block has too many codes (corrupt file)") }
        var clLengths = [Int](repeating: 0, count: 19)
        for i in 0..<hclen { clLengths[codeLengthOrder[i]] = try r.read(3) }
        let cl = try HuffmanDecoder(lengths: clLengths)
        var lengths: [Int] = []
        while lengths.count < hlit + hdist {
            let sym = try cl.decode(&r)
            switch sym {
            case 0..<16: lengths.append(sym)
            case 16:
                guard let prev = lengths.last else { throw PNGError("dynamic block repeats a missing length (corrupt file)") }
                lengths += [Int](repeating: prev, count: 3 + (try r.read(2)))
            case 17: lengths += [Int](repeating: 0, count: 3 + (try r.read(3)))
            default: lengths += [Int](repeating: 0, count: 11 + (try r.read(7)))
            }
        }
        guard lengths.count == hlit + hdist else { throw PNGError("dynamic block code lengths overflow (corrupt file)") }
        guard lengths[256] > 0 else { throw PNGError("dynamic block has no end-of-block code (corrupt file)") }
        return (try HuffmanDecoder(lengths: Array(lengths[0..<hlit])),
                try HuffmanDecoder(lengths: Array(lengths[hlit...])))
    }

    static func huffmanBlock(_ r: inout BitReader, lit: HuffmanDecoder, dist: HuffmanDecoder,
                             into out: inout [UInt8], limit: Int) throws {
        while true {
            let sym = try lit.decode(&r)
            if sym < 256 { out.append(UInt8(sym)); continue }
            if sym == 256 { break }
            let li = sym - 257
            guard li < 29 else { throw PNGError("compressed data has an invalid length code (corrupt file)") }
            let length = lengthBase[li] + (try r.read(lengthExtra[li]))
            let di = try dist.decode(&r)
            guard di < 30 else { throw PNGError("compressed data has an invalid distance code (corrupt file)") }
            let distance = distBase[di] + (try r.read(distExtra[di]))
            guard distance <= out.count else { throw PNGError("compressed data refers before its start (corrupt file)") }
            guard out.count + length <= limit else {
                throw PNGError("image data is larger than its header says (corrupt file)")
            }
            let start = out.count - distance
            for k in 0..<length { out.append(out[start + k]) }   // overlapping copies are the point of LZ77
        }
        guard out.count <= limit else { throw PNGError("image data is larger than its header says (corrupt file)") }
    }
}
