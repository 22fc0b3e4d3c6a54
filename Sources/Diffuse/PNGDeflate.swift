// zlib / DEFLATE compression (RFC 1950/1951) for PNG IDAT: LZ77 with hash chains and lazy matching, then per
// block the cheapest of dynamic Huffman, fixed Huffman or stored. Written from the RFCs, no system zlib.

/// LSB-first bit writer.
struct BitWriter {
    var out: [UInt8] = []
    var bits: UInt64 = 0
    var count = 0

    @inline(__always)
    mutating func write(_ value: Int, _ n: Int) {
        bits |= UInt64(value) << UInt64(count)
        count += n
        while count >= 8 { out.append(UInt8(truncatingIfNeeded: bits)); bits >>= 8; count -= 8 }
    }

    /// Writes a Huffman code, which DEFLATE stores most-significant bit first.
    @inline(__always)
    mutating func writeCode(_ code: Int, _ n: Int) {
        var rev = 0, c = code
        for _ in 0..<n { rev = rev << 1 | (c & 1); c >>= 1 }
        write(rev, n)
    }

    mutating func alignToByte() { if count > 0 { write(0, 8 - count) } }
}

public enum Deflate {
    /// How hard LZ77 searches: longer chains find longer matches, more slowly.
    public struct Level: Sendable {
        public var maxChain: Int
        public var niceLength: Int
        public static let fast = Level(maxChain: 8, niceLength: 32)
        public static let standard = Level(maxChain: 64, niceLength: 128)
        public static let best = Level(maxChain: 1024, niceLength: 258)
        public init(maxChain: Int, niceLength: Int) { self.maxChain = maxChain; self.niceLength = niceLength }
    }

    /// A zlib stream: header 0x78 0x9C (deflate, 32 KiB window), DEFLATE blocks, big-endian Adler-32.
    public static func zlib(_ data: [UInt8], level: Level = .standard) -> [UInt8] {
        var w = BitWriter()
        w.out.reserveCapacity(data.count / 2 + 64)
        w.out = [0x78, 0x9C]
        compress(data, level: level, into: &w)
        w.alignToByte()
        let a = Adler32.checksum(data)
        w.out += [UInt8(a >> 24), UInt8(a >> 16 & 0xFF), UInt8(a >> 8 & 0xFF), UInt8(a & 0xFF)]
        return w.out
    }

    // Token: a literal byte (< 256) or a match `1 << 31 | length << 16 | distance`.
    static let blockTokens = 1 << 16

    static func compress(_ data: [UInt8], level: Level, into w: inout BitWriter) {
        let tokens = lz77(data, level: level)
        var start = 0, byteStart = 0
        repeat {
            let end = min(tokens.count, start + blockTokens)
            var byteEnd = byteStart
            for t in tokens[start..<end] { byteEnd += t >> 31 != 0 ? Int(t >> 16 & 0x1FF) : 1 }
            writeBlock(tokens[start..<end], raw: data[byteStart..<byteEnd], last: end == tokens.count, into: &w)
            start = end
            byteStart = byteEnd
        } while start < tokens.count
    }

    // MARK: LZ77

    static func lz77(_ data: [UInt8], level: Level) -> [UInt32] {
        let n = data.count
        var tokens: [UInt32] = []
        tokens.reserveCapacity(n / 2)
        let hashBits = 15, window = 32768
        var head = [Int32](repeating: -1, count: 1 << hashBits)
        var prev = [Int32](repeating: -1, count: window)
        data.withUnsafeBufferPointer { d in
            @inline(__always) func hash(_ i: Int) -> Int {
                (Int(d[i]) << 10 ^ Int(d[i + 1]) << 5 ^ Int(d[i + 2])) & ((1 << hashBits) - 1)
            }
            @inline(__always) func insert(_ i: Int) {
                guard i + 2 < n else { return }
                let h = hash(i)
                prev[i & (window - 1)] = head[h]
                head[h] = Int32(i)
            }
            // Longest match for position i among earlier positions with the same hash.
            func longest(_ i: Int) -> (len: Int, dist: Int) {
                guard i + 2 < n else { return (0, 0) }
                var best = 2, bestDist = 0
                var cand = Int(head[hash(i)])
                let maxLen = min(258, n - i)
                var chain = level.maxChain
                while cand >= 0 && i - cand <= window && chain > 0 {
                    if d[cand + best] == d[i + best] {
                        var l = 0
                        while l < maxLen && d[cand + l] == d[i + l] { l += 1 }
                        if l > best { best = l; bestDist = i - cand; if l >= min(maxLen, level.niceLength) { break } }
                    }
                    let p = Int(prev[cand & (window - 1)])
                    if p >= cand { break }   // stale slot reused by a later position
                    cand = p
                    chain -= 1
                }
                return best >= 3 ? (best, bestDist) : (0, 0)
            }
            var i = 0
            while i < n {
                var m = longest(i)
                // Lazy matching: if the next position has a longer match, emit a literal here instead.
                if m.len > 0 && m.len < level.niceLength && i + 1 < n {
                    insert(i)
                    let next = longest(i + 1)
                    if next.len > m.len {
                        tokens.append(UInt32(d[i]))
                        i += 1
                        m = next
                    } else {
                        tokens.append(1 << 31 | UInt32(m.len) << 16 | UInt32(m.dist))
                        for k in 1..<m.len { insert(i + k) }
                        i += m.len
                        continue
                    }
                }
                if m.len > 0 {
                    tokens.append(1 << 31 | UInt32(m.len) << 16 | UInt32(m.dist))
                    for k in 0..<m.len { insert(i + k) }
                    i += m.len
                } else {
                    tokens.append(UInt32(d[i]))
                    insert(i)
                    i += 1
                }
            }
        }
        return tokens
    }

    // MARK: Huffman blocks

    static let lengthCode: [UInt16] = {   // match length 3...258 → literal/length symbol 257...285
        var t = [UInt16](repeating: 0, count: 259)
        for (i, base) in Inflate.lengthBase.enumerated() {
            for l in base..<(base + (1 << Inflate.lengthExtra[i])) where l <= 258 { t[l] = UInt16(257 + i) }
        }
        t[258] = 285
        return t
    }()

    @inline(__always)
    static func distCode(_ d: Int) -> Int {
        // Codes 0–3 are distances 1–4; after that each pair of codes covers one doubling.
        if d <= 4 { return d - 1 }
        let b = (Int.bitWidth - 1) - (d - 1).leadingZeroBitCount   // floor(log2(d - 1))
        return 2 * b + ((d - 1) >> (b - 1) & 1)
    }

    static let fixedLitLengths = (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 }
    static let fixedDistLengths = [Int](repeating: 5, count: 30)

    static func writeBlock(_ tokens: ArraySlice<UInt32>, raw: ArraySlice<UInt8>, last: Bool, into w: inout BitWriter) {
        var litFreq = [Int](repeating: 0, count: 286), distFreq = [Int](repeating: 0, count: 30)
        for t in tokens {
            if t >> 31 != 0 {
                litFreq[Int(lengthCode[Int(t >> 16 & 0x1FF)])] += 1
                distFreq[distCode(Int(t & 0xFFFF))] += 1
            } else {
                litFreq[Int(t)] += 1
            }
        }
        litFreq[256] = 1
        let litLengths = huffmanLengths(litFreq, limit: 15)
        var distLengths = huffmanLengths(distFreq, limit: 15)
        if distLengths.allSatisfy({ $0 == 0 }) { distLengths[0] = 1 }   // some decoders reject an empty tree
        let header = dynamicHeader(litLengths, distLengths)
        let dynamicBits = 3 + header.bits + payloadBits(litFreq, distFreq, litLengths, distLengths)
        let fixedBits = 3 + payloadBits(litFreq, distFreq, fixedLitLengths, fixedDistLengths)
        let storedBits = 3 + (8 - (w.count + 3) % 8) % 8 + 32 * ((raw.count + 65534) / 65535 + (raw.isEmpty ? 1 : 0))
            + 8 * raw.count
        if storedBits <= min(dynamicBits, fixedBits) {
            writeStored(raw, last: last, into: &w)
        } else if fixedBits <= dynamicBits {
            w.write(last ? 1 : 0, 1); w.write(1, 2)
            writeTokens(tokens, litLengths: fixedLitLengths, distLengths: fixedDistLengths, into: &w)
        } else {
            w.write(last ? 1 : 0, 1); w.write(2, 2)
            header.write(&w)
            writeTokens(tokens, litLengths: litLengths, distLengths: distLengths, into: &w)
        }
    }

    static func writeStored(_ raw: ArraySlice<UInt8>, last: Bool, into w: inout BitWriter) {
        var start = raw.startIndex
        repeat {
            let end = min(raw.endIndex, start + 65535)
            w.write(last && end == raw.endIndex ? 1 : 0, 1); w.write(0, 2)
            w.alignToByte()
            let len = end - start
            w.write(len, 16); w.write(~len & 0xFFFF, 16)
            w.out.append(contentsOf: raw[start..<end])
            start = end
        } while start < raw.endIndex
    }

    static func payloadBits(_ litFreq: [Int], _ distFreq: [Int], _ litLengths: [Int], _ distLengths: [Int]) -> Int {
        var bits = 0
        for (s, f) in litFreq.enumerated() where f > 0 {
            bits += f * (litLengths[s] + (s > 256 ? Inflate.lengthExtra[s - 257] : 0))
        }
        for (s, f) in distFreq.enumerated() where f > 0 { bits += f * (distLengths[s] + Inflate.distExtra[s]) }
        return bits
    }

    static func writeTokens(_ tokens: ArraySlice<UInt32>, litLengths: [Int], distLengths: [Int], into w: inout BitWriter) {
        let lit = canonicalCodes(litLengths), dist = canonicalCodes(distLengths)
        for t in tokens {
            if t >> 31 == 0 { w.writeCode(lit[Int(t)], litLengths[Int(t)]); continue }
            let len = Int(t >> 16 & 0x1FF), d = Int(t & 0xFFFF)
            let ls = Int(lengthCode[len]), ds = distCode(d)
            w.writeCode(lit[ls], litLengths[ls])
            w.write(len - Inflate.lengthBase[ls - 257], Inflate.lengthExtra[ls - 257])
            w.writeCode(dist[ds], distLengths[ds])
            w.write(d - Inflate.distBase[ds], Inflate.distExtra[ds])
        }
        w.writeCode(lit[256], litLengths[256])
    }
}
