// Building the Huffman codes the DEFLATE encoder writes: length-limited code lengths from symbol frequencies,
// canonical codes from lengths (RFC 1951 §3.2.2), and the dynamic block header that transmits the lengths.

extension Deflate {
    /// Code lengths for `freq` with no code longer than `limit`. Plain Huffman first; if that is too deep, the
    /// per-length counts are rebalanced as in JPEG (ITU T.81 Annex K.3) and the lengths are handed out again,
    /// shortest to the most frequent symbols, which keeps the code complete.
    static func huffmanLengths(_ freq: [Int], limit: Int) -> [Int] {
        var lengths = [Int](repeating: 0, count: freq.count)
        let used = freq.indices.filter { freq[$0] > 0 }
        if used.isEmpty { return lengths }
        if used.count == 1 {
            // One symbol: pair it with a dummy so the code is complete (zlib rejects an incomplete code-length code).
            lengths[used[0]] = 1
            lengths[used[0] == 0 ? 1 : 0] = 1
            return lengths
        }
        // Two-queue Huffman over symbols sorted by frequency; nodes record their parent to read depths back.
        let leaves = used.sorted { (freq[$0], $0) < (freq[$1], $1) }
        let n = leaves.count
        var weight = leaves.map { freq[$0] } + [Int](repeating: 0, count: n - 1)
        var parent = [Int](repeating: -1, count: 2 * n - 1)
        var leafNext = 0, nodeNext = n, nodeEnd = n
        func pick() -> Int {
            if leafNext < n && (nodeNext >= nodeEnd || weight[leafNext] <= weight[nodeNext]) {
                leafNext += 1; return leafNext - 1
            }
            nodeNext += 1; return nodeNext - 1
        }
        while nodeEnd < 2 * n - 1 {
            let a = pick(), b = pick()
            weight[nodeEnd] = weight[a] + weight[b]
            parent[a] = nodeEnd; parent[b] = nodeEnd
            nodeEnd += 1
        }
        var depth = [Int](repeating: 0, count: 2 * n - 1)
        for i in stride(from: 2 * n - 3, through: 0, by: -1) { depth[i] = depth[parent[i]] + 1 }
        var count = [Int](repeating: 0, count: max(limit, depth.max()!) + 1)
        for i in 0..<n { count[depth[i]] += 1 }
        // Annex K.3: move pairs of over-long codes up the tree until nothing exceeds `limit`.
        var i = count.count - 1
        while i > limit {
            while count[i] > 0 {
                var j = i - 2
                while count[j] == 0 { j -= 1 }
                count[i] -= 2; count[i - 1] += 1
                count[j + 1] += 2; count[j] -= 1
            }
            i -= 1
        }
        // Most frequent symbols (end of `leaves`) get the shortest lengths.
        var k = n - 1
        for len in 1...limit {
            for _ in 0..<count[len] { lengths[leaves[k]] = len; k -= 1 }
        }
        return lengths
    }

    static func canonicalCodes(_ lengths: [Int]) -> [Int] {
        var blCount = [Int](repeating: 0, count: 16)
        for l in lengths where l > 0 { blCount[l] += 1 }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for l in 1...15 { next[l] = code; code = (code + blCount[l]) << 1 }
        return lengths.map { l in
            guard l > 0 else { return 0 }
            defer { next[l] += 1 }
            return next[l]
        }
    }

    /// HLIT/HDIST/HCLEN, the code-length code and the run-length-coded lengths of both trees.
    struct DynamicHeader {
        var hlit: Int, hdist: Int, hclen: Int
        var clLengths: [Int]
        var runs: [(symbol: Int, extra: Int)]
        var bits: Int

        func write(_ w: inout BitWriter) {
            w.write(hlit - 257, 5); w.write(hdist - 1, 5); w.write(hclen - 4, 4)
            for i in 0..<hclen { w.write(clLengths[Inflate.codeLengthOrder[i]], 3) }
            let codes = Deflate.canonicalCodes(clLengths)
            for r in runs {
                w.writeCode(codes[r.symbol], clLengths[r.symbol])
                switch r.symbol {
                case 16: w.write(r.extra, 2)
                case 17: w.write(r.extra, 3)
                case 18: w.write(r.extra, 7)
                default: break
                }
            }
        }
    }

    static func dynamicHeader(_ lit: [Int], _ dist: [Int]) -> DynamicHeader {
        var hlit = 286
        while hlit > 257 && lit[hlit - 1] == 0 { hlit -= 1 }
        var hdist = 30
        while hdist > 1 && dist[hdist - 1] == 0 { hdist -= 1 }
        let all = Array(lit[0..<hlit]) + Array(dist[0..<hdist])
        // Runs: 16 = repeat previous 3–6 times, 17 = zeros 3–10, 18 = zeros 11–138.
        var runs: [(symbol: Int, extra: Int)] = []
        var i = 0
        while i < all.count {
            let v = all[i]
            var run = 1
            while i + run < all.count && all[i + run] == v { run += 1 }
            var left = run
            if v == 0 {
                while left >= 11 { let r = min(left, 138); runs.append((18, r - 11)); left -= r }
                if left >= 3 { runs.append((17, left - 3)); left = 0 }
            } else {
                runs.append((v, 0)); left -= 1
                while left >= 3 { let r = min(left, 6); runs.append((16, r - 3)); left -= r }
            }
            for _ in 0..<left { runs.append((v, 0)) }
            i += run
        }
        var clFreq = [Int](repeating: 0, count: 19)
        for r in runs { clFreq[r.symbol] += 1 }
        let clLengths = huffmanLengths(clFreq, limit: 7)
        var hclen = 19
        while hclen > 4 && clLengths[Inflate.codeLengthOrder[hclen - 1]] == 0 { hclen -= 1 }
        var bits = 14 + 3 * hclen
        for r in runs {
            bits += clLengths[r.symbol] + (r.symbol == 16 ? 2 : r.symbol == 17 ? 3 : r.symbol == 18 ? 7 : 0)
        }
        return DynamicHeader(hlit: hlit, hdist: hdist, hclen: hclen, clLengths: clLengths, runs: runs, bits: bits)
    }
}
