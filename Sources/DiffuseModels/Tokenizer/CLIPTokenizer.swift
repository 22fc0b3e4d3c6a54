import Foundation

/// 77 ids for the CLIP text encoder, and what truncation cut off.
public struct TokenizedPrompt: Sendable, Equatable {
    /// [BOS, up to 75 tokens, EOS, pad...]: always `CLIPTokenizer.maxLength` ids.
    public var ids: [Int32]
    /// BPE tokens in the whole prompt, BOS/EOS not counted.
    public var tokenCount: Int
    /// The text of the tokens past the 75th, decoded as diffusers decodes it for its warning; nil if none.
    public var dropped: String?

    /// diffusers' warning for a truncated prompt, or nil.
    public var truncationWarning: String? {
        dropped.map {
            "The following part of your input was truncated because CLIP can only handle sequences up to "
                + "\(CLIPTokenizer.maxLength) tokens: \($0)"
        }
    }
}

/// CLIP's BPE tokenizer giving exactly the ids of transformers 5.24 `CLIPTokenizer` (tokenizers backend) as
/// diffusers' Stable Diffusion pipelines call it. Rules: see `CLIPTextSplitter` and `BytePairEncoder`.
/// Every special token (BOS, EOS and the pad token) is also cut out of the prompt text and kept as its id: SD 2's
/// pad token "!" therefore turns every "!" in a prompt into id 0, as transformers does.
/// Not covered: A1111 prompt weighting / `BREAK` syntax (the caller parses those), textual-inversion tokens.
public struct CLIPTokenizer: Sendable {
    public static let maxLength = 77
    /// Tokens between BOS and EOS in one 77-id window.
    public static let windowTokens = maxLength - 2

    public let bosTokenId: Int32
    public let eosTokenId: Int32
    public let padTokenId: Int32
    /// Token string → id.
    public let vocabulary: [String: Int32]
    private let tokens: [String]
    private let splitter: CLIPTextSplitter
    private let bpe: BytePairEncoder

    /// Builds from a vocabulary and merges in rank order. `normalizedSpecials` lists the special token strings
    /// matched in the lower-cased text (case-insensitively); the rest match the raw text exactly.
    init(vocabulary: [String: Int32], merges: [(String, String)], padTokenId: Int32,
         normalizedSpecials: Set<String> = [], source: String) throws {
        guard let bos = vocabulary["<|startoftext|>"], let eos = vocabulary["<|endoftext|>"] else {
            throw TokenizerError.corrupt(source, "the vocabulary has no <|startoftext|> or <|endoftext|> token")
        }
        var tokens = [String](repeating: "", count: Int((vocabulary.values.max() ?? -1) + 1))
        for (token, id) in vocabulary {
            guard id >= 0 else { throw TokenizerError.corrupt(source, "token '\(token)' has negative id \(id)") }
            tokens[Int(id)] = token
        }
        guard padTokenId >= 0, Int(padTokenId) < tokens.count, !tokens[Int(padTokenId)].isEmpty else {
            throw TokenizerError.unknownPadToken("id \(padTokenId)", source)
        }
        do {
            bpe = try BytePairEncoder(vocab: vocabulary, merges: merges, unknownId: eos)
        } catch {
            throw TokenizerError.corrupt(source, "merge \(error.line) ('\(error.pair)') makes a token the vocabulary lacks")
        }
        var specials: [CLIPTextSplitter.SpecialToken] = []
        for id in [bos, eos, padTokenId] where !specials.contains(where: { $0.id == id }) {
            let text = tokens[Int(id)]
            specials.append(.init(content: Array(text.unicodeScalars), id: id, normalized: normalizedSpecials.contains(text)))
        }
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.bosTokenId = bos
        self.eosTokenId = eos
        self.padTokenId = padTokenId
        splitter = CLIPTextSplitter(specials: specials)
    }

    /// BPE ids of the whole prompt, without BOS/EOS and untruncated.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for piece in splitter.split(text) {
            switch piece {
            case .special(let id): ids.append(id)
            case .word(let word): bpe.encode(word: word, into: &ids)
            }
        }
        return ids
    }

    /// diffusers' `tokenizer(prompt, padding="max_length", max_length=77, truncation=True)`: the first 75 tokens.
    public func tokenize(_ prompt: String) -> TokenizedPrompt {
        let ids = encode(prompt)
        let kept = Array(ids.prefix(Self.windowTokens))
        let dropped = ids.count > Self.windowTokens ? decode(Array(ids[Self.windowTokens...])) : nil
        return TokenizedPrompt(ids: window(kept), tokenCount: ids.count, dropped: dropped)
    }

    /// A1111-style long prompt: every window of up to 75 tokens becomes its own 77 ids (encode each window and
    /// concatenate the hidden states). See `chunks(of:commaBacktrack:)`. An empty prompt gives one window.
    public func tokenizeChunked(_ prompt: String, commaBacktrack: Int = 20) -> [[Int32]] {
        chunks(of: encode(prompt), commaBacktrack: commaBacktrack)
    }

    /// Splits BPE ids into 77-id windows as A1111's `sd_hijack_clip.py` does (its documented rule, option
    /// `comma_padding_backtrack`, default 20): windows of 75 tokens, except that when a window is full and the
    /// next token is not a comma, the tokens after the window's last comma move to the next window if that comma
    /// is at most `commaBacktrack` tokens back (0 = fixed 75-token windows). Each window is
    /// [BOS, tokens, EOS, pad...]; A1111 pads with EOS and then sets everything after the first EOS to the pad
    /// token, which is the same unless the prompt itself contains "<|endoftext|>".
    public func chunks(of ids: [Int32], commaBacktrack: Int = 20) -> [[Int32]] {
        let comma = vocabulary[",</w>"]
        var chunks: [[Int32]] = []
        var chunk: [Int32] = []
        var lastComma = -1
        for token in ids {
            if token == comma {
                lastComma = chunk.count
            } else if commaBacktrack > 0, chunk.count == Self.windowTokens, lastComma >= 0,
                      chunk.count - lastComma <= commaBacktrack {
                let moved = Array(chunk[(lastComma + 1)...])
                chunks.append(window(Array(chunk[...lastComma])))
                chunk = moved
                lastComma = -1
            }
            if chunk.count == Self.windowTokens {
                chunks.append(window(chunk))
                chunk = []
                lastComma = -1
            }
            chunk.append(token)
        }
        if !chunk.isEmpty || chunks.isEmpty { chunks.append(window(chunk)) }
        return chunks
    }

    /// [BOS, tokens (≤ 75), EOS, pad...] // [77]
    private func window(_ tokens: [Int32]) -> [Int32] {
        var out = [bosTokenId] + tokens + [eosTokenId]
        out += [Int32](repeating: padTokenId, count: Self.maxLength - out.count)
        return out
    }

    /// Text of ids as transformers' CLIPTokenizer decodes it (special tokens kept): the token strings joined,
    /// byte characters turned back into UTF-8 (invalid sequences become U+FFFD), "</w>" → " ", then trimmed of
    /// whitespace as Python's `str.strip()`.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokens.count {
            for c in tokens[Int(id)].unicodeScalars {
                if let b = BytePairEncoder.characterBytes[c] { bytes.append(b) } else { bytes += Array(String(c).utf8) }
            }
        }
        let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "</w>", with: " ")
        let scalars = Array(text.unicodeScalars)
        guard let first = scalars.firstIndex(where: { !Self.isPythonSpace($0) }),
              let last = scalars.lastIndex(where: { !Self.isPythonSpace($0) }) else { return "" }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[first...last])
        return String(view)
    }

    /// Python's `str.isspace()` (bidirectional classes WS/B/S or category Zs).
    private static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
