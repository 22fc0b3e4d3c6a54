import Foundation

/// Normalisation and pre-tokenisation of transformers' `CLIPTokenizer` (tokenizers backend, transformers 5.24 /
/// tokenizers 0.23), in the order that library applies them:
/// 1. added (special) tokens are cut out first: those marked `normalized: false` on the raw text, the others on
///    the normalised text (see `SpecialToken`);
/// 2. normaliser: NFC, then every run of `\s` becomes one space, then per-character lower-casing (full case
///    mapping, no context: "İ" → "i̇", "Σ" → "σ" even word-finally);
/// 3. split regex `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
///    keeping the matches and dropping the rest (whitespace), tried left to right at each position;
/// 4. the byte-level pre-tokeniser's GPT-2 regex then splits each piece again; on the pieces of step 3 this only
///    changes the two literal special strings, which become "<|", the letters, and "|>".
/// Character classes are those of the Oniguruma engine tokenizers uses, Unicode 16.0: `\s` is U+0009–000D,
/// U+0085 and the Zs/Zl/Zp categories; scalars Swift knows from a later Unicode version count as unassigned.
/// Lower-casing is Rust's `char::to_lowercase`, whose tables (Unicode 17) match Swift 6.3's.
struct CLIPTextSplitter: Sendable {
    /// A special token's text, its id, and whether it is matched in the normalised (lower-cased) text.
    struct SpecialToken: Sendable {
        var content: [Unicode.Scalar]
        var id: Int32
        var normalized: Bool
    }

    /// A piece of the prompt: either a special token's id or a word for BPE.
    enum Piece: Equatable {
        case special(Int32)
        case word(String)
    }

    var specials: [SpecialToken]

    func split(_ text: String) -> [Piece] {
        var out: [Piece] = []
        let raw = specials.filter { !$0.normalized }
        let normalised = specials.filter { $0.normalized }
        for part in Self.cut(Array(text.unicodeScalars), on: raw) {
            switch part {
            case .special(let id): out.append(.special(id))
            case .text(let scalars):
                let normal = Self.normalize(scalars)
                for inner in Self.cut(normal, on: normalised) {
                    switch inner {
                    case .special(let id): out.append(.special(id))
                    case .text(let s): Self.preTokenize(s, into: &out)
                    }
                }
            }
        }
        return out
    }

    private enum Part {
        case special(Int32)
        case text([Unicode.Scalar])
    }

    /// Leftmost-longest matching of the special tokens, as tokenizers' added-vocabulary Aho-Corasick does.
    private static func cut(_ s: [Unicode.Scalar], on tokens: [SpecialToken]) -> [Part] {
        if tokens.isEmpty { return [.text(s)] }
        let byLength = tokens.sorted { $0.content.count > $1.content.count }
        var parts: [Part] = []
        var start = 0, i = 0
        while i < s.count {
            if let hit = byLength.first(where: { matches($0.content, in: s, at: i) }) {
                if start < i { parts.append(.text(Array(s[start..<i]))) }
                parts.append(.special(hit.id))
                i += hit.content.count
                start = i
            } else {
                i += 1
            }
        }
        if start < s.count { parts.append(.text(Array(s[start...]))) }
        return parts
    }

    private static func matches(_ needle: [Unicode.Scalar], in s: [Unicode.Scalar], at i: Int) -> Bool {
        guard !needle.isEmpty, i + needle.count <= s.count else { return false }
        for k in 0..<needle.count where s[i + k] != needle[k] { return false }
        return true
    }

    /// NFC, whitespace runs → " ", lower-case.
    static func normalize(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var nfc = scalars
        if scalars.contains(where: { !$0.isASCII }) {
            var text = String.UnicodeScalarView()
            text.append(contentsOf: scalars)
            nfc = Array(String(text).precomposedStringWithCanonicalMapping.unicodeScalars)
        }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(nfc.count)
        var inSpace = false
        for c in nfc {
            if UnicodeClass.isWhitespace(c) {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            UnicodeClass.appendLowercase(c, to: &out)
        }
        return out
    }

    private static let literals: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }
    private static let contractions: [[Unicode.Scalar]] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
        .map { Array($0.unicodeScalars) }

    /// The split regex of step 3 (+ step 4 for the literals), applied to normalised text.
    static func preTokenize(_ s: [Unicode.Scalar], into out: inout [Piece]) {
        func emit(_ r: Range<Int>) {
            var v = String.UnicodeScalarView()
            v.append(contentsOf: s[r])
            out.append(.word(String(v)))
        }
        var i = 0
        while i < s.count {
            let c = s[i]
            if UnicodeClass.isWhitespace(c) { i += 1; continue }
            if let lit = literals.first(where: { matches($0, in: s, at: i) }) {
                // GPT-2's regex in the byte-level step splits the literal into "<|", letters, "|>".
                emit(i..<(i + 2)); emit((i + 2)..<(i + lit.count - 2)); emit((i + lit.count - 2)..<(i + lit.count))
                i += lit.count
            } else if let con = contractions.first(where: { matches($0, in: s, at: i) }) {
                emit(i..<(i + con.count))
                i += con.count
            } else if UnicodeClass.isLetter(c) {
                var j = i + 1
                while j < s.count, UnicodeClass.isLetter(s[j]) { j += 1 }
                emit(i..<j)
                i = j
            } else if UnicodeClass.isNumber(c) {
                emit(i..<(i + 1))
                i += 1
            } else {
                var j = i + 1
                while j < s.count, !UnicodeClass.isWhitespace(s[j]), !UnicodeClass.isLetter(s[j]),
                      !UnicodeClass.isNumber(s[j]) { j += 1 }
                emit(i..<j)
                i = j
            }
        }
    }
}

/// The character classes of tokenizers' regex engine (Oniguruma, Unicode 16.0) and Rust's `char::to_lowercase`
/// (Unicode 17, as Swift's own tables). Checked over every code point by TokenizerFileTests.
enum UnicodeClass {
    /// Scalars assigned after Unicode 16.0 are unassigned to the oracle's regex engine (neither letter nor number).
    private static func isKnown(_ c: Unicode.Scalar) -> Bool {
        guard let age = c.properties.age else { return false }
        return age.major < 16 || (age.major == 16 && age.minor == 0)
    }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 { return (0x09...0x0D).contains(v) || v == 0x20 }
        if v == 0x85 { return true }
        switch c.properties.generalCategory {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 { return (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return isKnown(c)
        default: return false
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 { return (0x30...0x39).contains(v) }
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return isKnown(c)
        default: return false
        }
    }

    static func appendLowercase(_ c: Unicode.Scalar, to out: inout [Unicode.Scalar]) {
        if c.isASCII {
            out.append((0x41...0x5A).contains(c.value) ? Unicode.Scalar(c.value + 0x20)! : c)
        } else if c.properties.changesWhenLowercased {
            out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
        } else {
            out.append(c)
        }
    }
}
