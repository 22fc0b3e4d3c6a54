import Foundation

/// CLIP's byte-level BPE on one pre-tokenised word, as tokenizers' `BPE` model with `end_of_word_suffix "</w>"`:
/// the word's UTF-8 bytes become GPT-2's printable byte characters, the last one carrying "</w>"; then the pair
/// with the lowest merge rank (leftmost on ties) is merged until no ranked pair is left.
struct BytePairEncoder: Sendable {
    /// Vocabulary ids of the 256 byte characters, alone and with "</w>"; `unknownId` where the vocabulary lacks one.
    private let byteIds: [Int32]
    private let byteEndIds: [Int32]
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]
    private let cache = WordCache()

    /// `merges` in rank order; throws a description of the first merge whose parts or result are not in `vocab`.
    init(vocab: [String: Int32], merges pairs: [(String, String)], unknownId: Int32) throws(BPEError) {
        let chars = Self.byteCharacters
        byteIds = chars.map { vocab[$0] ?? unknownId }
        byteEndIds = chars.map { vocab[$0 + "</w>"] ?? unknownId }
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(pairs.count)
        for (rank, (a, b)) in pairs.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b], let im = vocab[a + b] else {
                throw BPEError(line: rank + 1, pair: "\(a) \(b)")
            }
            let key = UInt64(UInt32(bitPattern: ia)) << 32 | UInt64(UInt32(bitPattern: ib))
            // A repeated pair keeps its first (best) rank, as tokenizers does when it builds its merge map.
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: im)) }
        }
        merges = table
    }

    struct BPEError: Error {
        var line: Int
        var pair: String
    }

    /// Bytes in the order GPT-2's table lists them (printable ones first): the order of CLIP's first 256 ids.
    static let byteOrder: [Int] = {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let set = Set(printable)
        return printable + (0..<256).filter { !set.contains($0) }
    }()

    /// GPT-2's reversible byte → printable character table, indexed by byte: printable bytes stand for
    /// themselves, the others get U+0100 onwards in byte order.
    static let byteCharacters: [String] = {
        var table = [String](repeating: "", count: 256)
        for (i, b) in byteOrder.enumerated() {
            table[b] = String(Unicode.Scalar(UInt32(i < 188 ? b : 256 + i - 188))!)
        }
        return table
    }()

    /// Byte value of each byte character, for decoding.
    static let characterBytes: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (b, s) in byteCharacters.enumerated() { map[s.unicodeScalars.first!] = UInt8(b) }
        return map
    }()

    func encode(word: String, into out: inout [Int32]) {
        if let hit = cache.get(word) {
            out.append(contentsOf: hit)
            return
        }
        let ids = merge(word)
        cache.set(word, ids)
        out.append(contentsOf: ids)
    }

    private func merge(_ word: String) -> [Int32] {
        let bytes = Array(word.utf8)
        guard !bytes.isEmpty else { return [] }
        var symbols = bytes.map { byteIds[Int($0)] }
        symbols[symbols.count - 1] = byteEndIds[Int(bytes[bytes.count - 1])]
        // ranks[i] = merge of (symbols[i], symbols[i+1]), or UInt64.max when that pair has no merge.
        var ranks = (0..<max(symbols.count - 1, 0)).map { pairMerge(symbols[$0], symbols[$0 + 1]) }
        while let best = ranks.indices.min(by: { ranks[$0] < ranks[$1] }), ranks[best] != UInt64.max {
            symbols[best] = Int32(bitPattern: UInt32(truncatingIfNeeded: ranks[best]))
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            if best < ranks.count { ranks[best] = pairMerge(symbols[best], symbols[best + 1]) }
            if best > 0 { ranks[best - 1] = pairMerge(symbols[best - 1], symbols[best]) }
        }
        return symbols
    }

    private func pairMerge(_ a: Int32, _ b: Int32) -> UInt64 {
        merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))] ?? UInt64.max
    }
}

/// Words repeat across prompts (and every prompt is encoded twice by CFG callers), so BPE results are kept.
/// Bounded: cleared when it grows past `limit` words.
private final class WordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var words: [String: [Int32]] = [:]
    private let limit = 50_000

    func get(_ word: String) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return words[word]
    }

    func set(_ word: String, _ ids: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        if words.count >= limit { words.removeAll(keepingCapacity: true) }
        words[word] = ids
    }
}
