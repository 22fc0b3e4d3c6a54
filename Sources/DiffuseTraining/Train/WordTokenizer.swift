import Foundation

/// Word-level tokenizer for captions in a closed vocabulary (the generated shapes dataset): lowercase,
/// split on anything that is not a letter or digit, one id per known word. Ids 0 and 1 are reserved:
/// 0 pads (an empty caption is all padding, the unconditional input for classifier-free guidance) and
/// 1 stands for any unknown word.
public struct WordTokenizer: Sendable, Equatable {
    public static let pad = 0, unknown = 1
    public let words: [String]
    public let maxTokens: Int
    private let index: [String: Int]

    public init(words: [String], maxTokens: Int) {
        self.words = words
        self.maxTokens = maxTokens
        var index: [String: Int] = [:]
        for (i, w) in words.enumerated() where index[w] == nil { index[w] = i + 2 }
        self.index = index
    }

    /// Vocabulary size including the two reserved ids.
    public var count: Int { words.count + 2 }

    public static func split(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// The sorted distinct words of `captions` (what a new model's vocabulary is built from).
    public static func vocabulary(of captions: [String]) -> [String] {
        Array(Set(captions.flatMap(split))).sorted()
    }

    /// Ids padded (or cut) to `maxTokens`.
    public func encode(_ text: String) -> [Int] {
        var ids = Self.split(text).prefix(maxTokens).map { index[$0] ?? Self.unknown }
        ids += Array(repeating: Self.pad, count: maxTokens - ids.count)
        return ids
    }

    /// Words of `text` past the first `maxTokens`, which `encode` drops (for a truncation warning).
    public func droppedWords(in text: String) -> [String] {
        Array(Self.split(text).dropFirst(maxTokens))
    }

    /// Words of `text` the vocabulary does not contain (for the "unknown words" warning).
    public func unknownWords(in text: String) -> [String] {
        Self.split(text).filter { index[$0] == nil }
    }
}
