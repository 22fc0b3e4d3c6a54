import Foundation

/// Why a tokenizer could not be made. Each description is one line naming the file and what to do.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case corrupt(String, String)
    case unknownPadToken(String, String)
    case missingBuiltinMerges

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "tokenizer file not found: \(path) (a diffusers model needs tokenizer/vocab.json and merges.txt, or tokenizer.json)"
        case .corrupt(let path, let what):
            return "tokenizer file \(path) is not a valid CLIP tokenizer file: \(what); replace it with the model's original file"
        case .unknownPadToken(let token, let source):
            return "pad token \(token) from \(source) is not in the CLIP vocabulary; fix pad_token in the tokenizer config"
        case .missingBuiltinMerges:
            return "the built-in CLIP merges (clip-merges.txt) are missing from the DiffuseModels resource bundle; reinstall the package"
        }
    }
}

extension CLIPTokenizer {
    /// SD 1.x pads with <|endoftext|>.
    public static let sd1PadTokenId: Int32 = 49407
    /// SD 2.x (OpenCLIP) pads with "!".
    public static let sd2PadTokenId: Int32 = 0

    /// A model's tokenizer/vocab.json and tokenizer/merges.txt. Special tokens match the prompt text exactly
    /// (as `CLIPTokenizer(vocab, merges)` does); `normalizedSpecialTokens` lists those matched case-insensitively.
    public init(vocabURL: URL, mergesURL: URL, padTokenId: Int32 = sd1PadTokenId,
                normalizedSpecialTokens: Set<String> = []) throws {
        let vocab = try Self.readVocabulary(vocabURL)
        let merges = try Self.readMerges(mergesURL)
        try self.init(vocabulary: vocab, merges: merges, padTokenId: padTokenId,
                      normalizedSpecials: normalizedSpecialTokens, source: mergesURL.path)
    }

    /// The CLIP ViT-L/14 vocabulary every SD 1.x/2.x checkpoint uses, for single-file checkpoints (which carry no
    /// tokenizer). Only the merges ship with the package; the vocabulary follows from them (the 256 byte
    /// characters, the same with "</w>", each merge's result, then <|startoftext|> and <|endoftext|>).
    public static func builtin(padTokenId: Int32 = sd1PadTokenId) throws -> CLIPTokenizer {
        guard let url = Bundle.module.url(forResource: "clip-merges", withExtension: "txt") else {
            throw TokenizerError.missingBuiltinMerges
        }
        let merges = try readMerges(url)
        return try CLIPTokenizer(vocabulary: vocabulary(fromMerges: merges), merges: merges,
                                 padTokenId: padTokenId, source: url.path)
    }

    /// The vocabulary CLIP's merges define (scripts/fixtures/vocab.py builds it the same way).
    public static func vocabulary(fromMerges merges: [(String, String)]) -> [String: Int32] {
        let chars = BytePairEncoder.byteOrder.map { BytePairEncoder.byteCharacters[$0] }
        let all = chars + chars.map { $0 + "</w>" } + merges.map { $0.0 + $0.1 } + ["<|startoftext|>", "<|endoftext|>"]
        var vocab: [String: Int32] = [:]
        for (id, token) in all.enumerated() where vocab[token] == nil { vocab[token] = Int32(id) }
        return vocab
    }

    /// A diffusers `tokenizer/` folder: tokenizer.json if present (what transformers 5 saves), else vocab.json +
    /// merges.txt; the pad token and which special tokens match case-insensitively come from its configs.
    public init(tokenizerFolder folder: URL) throws {
        let json = folder.appendingPathComponent("tokenizer.json")
        let vocab: [String: Int32], merges: [(String, String)]
        var normalized: Set<String>
        if FileManager.default.fileExists(atPath: json.path) {
            (vocab, merges, normalized) = try Self.readTokenizerJSON(json)
        } else {
            vocab = try Self.readVocabulary(folder.appendingPathComponent("vocab.json"))
            merges = try Self.readMerges(folder.appendingPathComponent("merges.txt"))
            normalized = []
        }
        let config = try TokenizerConfig(folder: folder)
        if !FileManager.default.fileExists(atPath: json.path) { normalized = config.normalizedSpecials }
        guard let pad = vocab[config.padToken] else { throw TokenizerError.unknownPadToken("'\(config.padToken)'", folder.path) }
        try self.init(vocabulary: vocab, merges: merges, padTokenId: pad, normalizedSpecials: normalized, source: folder.path)
    }

    /// The pad token id a diffusers `tokenizer/` folder declares: special_tokens_map.json's `pad_token`, else
    /// tokenizer_config.json's, else <|endoftext|>; its id from vocab.json (or tokenizer.json).
    public static func padTokenId(inTokenizerFolder folder: URL) throws -> Int32 {
        let config = try TokenizerConfig(folder: folder)
        let json = folder.appendingPathComponent("tokenizer.json")
        let vocab = FileManager.default.fileExists(atPath: json.path)
            ? try readTokenizerJSON(json).vocab : try readVocabulary(folder.appendingPathComponent("vocab.json"))
        guard let id = vocab[config.padToken] else { throw TokenizerError.unknownPadToken("'\(config.padToken)'", folder.path) }
        return id
    }

    // MARK: - Files

    static func readData(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenizerError.missingFile(url.path) }
        do { return try Data(contentsOf: url) } catch {
            throw TokenizerError.corrupt(url.path, "cannot be read (\(error.localizedDescription))")
        }
    }

    static func readJSONObject(_ url: URL) throws -> [String: Any] {
        let data = try readData(url)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError.corrupt(url.path, "not a JSON object")
        }
        return object
    }

    static func vocabulary(from object: [String: Any], source: String) throws -> [String: Int32] {
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(object.count)
        for (token, value) in object {
            guard let id = (value as? NSNumber)?.int32Value, id >= 0 else {
                throw TokenizerError.corrupt(source, "token '\(token)' has no integer id")
            }
            vocab[token] = id
        }
        if vocab.isEmpty { throw TokenizerError.corrupt(source, "the vocabulary is empty") }
        return vocab
    }

    static func readVocabulary(_ url: URL) throws -> [String: Int32] {
        try vocabulary(from: readJSONObject(url), source: url.path)
    }

    /// merges.txt: an optional "#version" line, then one "left right" pair per line in rank order.
    static func readMerges(_ url: URL) throws -> [(String, String)] {
        guard let text = String(data: try readData(url), encoding: .utf8) else {
            throw TokenizerError.corrupt(url.path, "not UTF-8 text")
        }
        var merges: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || (n == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.corrupt(url.path, "line \(n + 1) is not two symbols separated by one space")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        if merges.isEmpty { throw TokenizerError.corrupt(url.path, "it has no merges") }
        return merges
    }

    /// tokenizer.json (tokenizers' format): model.vocab, model.merges ("a b" strings or [a, b] pairs) and the
    /// added tokens marked `normalized`.
    static func readTokenizerJSON(_ url: URL) throws
        -> (vocab: [String: Int32], merges: [(String, String)], normalized: Set<String>) {
        let object = try readJSONObject(url)
        guard let model = object["model"] as? [String: Any], let vocabObject = model["vocab"] as? [String: Any],
              let mergeList = model["merges"] as? [Any] else {
            throw TokenizerError.corrupt(url.path, "no BPE model with vocab and merges")
        }
        var vocab = try vocabulary(from: vocabObject, source: url.path)
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeList.count)
        for (n, entry) in mergeList.enumerated() {
            let parts = (entry as? [String]) ?? (entry as? String).map { $0.split(separator: " ").map(String.init) } ?? []
            guard parts.count == 2 else { throw TokenizerError.corrupt(url.path, "merge \(n + 1) is not a pair") }
            merges.append((parts[0], parts[1]))
        }
        var normalized: Set<String> = []
        for case let token as [String: Any] in object["added_tokens"] as? [Any] ?? [] {
            guard let content = token["content"] as? String, let id = (token["id"] as? NSNumber)?.int32Value else { continue }
            vocab[content] = id
            if token["normalized"] as? Bool == true { normalized.insert(content) }
        }
        return (vocab, merges, normalized)
    }
}

/// The special-token settings of a transformers tokenizer folder without tokenizer.json, resolved as
/// transformers 5.24's `from_pretrained` does: special_tokens_map.json's entries override tokenizer_config.json's;
/// an `added_tokens_decoder` decides which tokens are `normalized`; otherwise the bos, eos, unk, pad entries do,
/// in that order, the later winning for the same text (a plain string counts as not normalized).
struct TokenizerConfig {
    var padToken = "<|endoftext|>"
    var normalizedSpecials: Set<String> = []

    init(folder: URL) throws {
        let configURL = folder.appendingPathComponent("tokenizer_config.json")
        let mapURL = folder.appendingPathComponent("special_tokens_map.json")
        let fm = FileManager.default
        let config = fm.fileExists(atPath: configURL.path) ? try CLIPTokenizer.readJSONObject(configURL) : [:]
        let map = fm.fileExists(atPath: mapURL.path) ? try CLIPTokenizer.readJSONObject(mapURL) : [:]
        var flags: [String: Bool] = [:]
        for key in ["bos_token", "eos_token", "unk_token", "pad_token"] {
            guard let entry = map[key] ?? config[key] else { continue }
            if let text = entry as? String {
                flags[text] = false
                if key == "pad_token" { padToken = text }
            } else if let dict = entry as? [String: Any], let text = dict["content"] as? String {
                flags[text] = dict["normalized"] as? Bool ?? false
                if key == "pad_token" { padToken = text }
            } else {
                throw TokenizerError.corrupt(map[key] != nil ? mapURL.path : configURL.path, "\(key) is neither a string nor a token object")
            }
        }
        if let decoder = config["added_tokens_decoder"] as? [String: Any] {
            flags = [:]
            for case let token as [String: Any] in decoder.values {
                if let text = token["content"] as? String { flags[text] = token["normalized"] as? Bool ?? false }
            }
        }
        normalizedSpecials = Set(flags.filter { $0.value }.keys)
    }
}
