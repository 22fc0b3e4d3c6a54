// Reads a prompt written in the shapes vocabulary into the scene it asks for. Lenient about filler words
// and plural agreement, strict about meaning: a noun phrase needs a shape, two shapes need "and" or a
// relation between them. Words outside the vocabulary are reported (the built-in model warns about them:
// it has never seen them, so it cannot draw them).

public struct PromptParse: Equatable, Sendable {
    /// The scene asked for, or nil when the prompt cannot be read as one (see `problems`).
    public var spec: SceneSpec?
    /// Words outside the vocabulary, in order of appearance, without repeats.
    public var unknownWords: [String]
    /// Why the prompt is not a scene of the vocabulary (empty when `spec` is set).
    public var problems: [String]
}

public enum PromptParser {
    static let countWords: [String: Int] = ["a": 1, "an": 1, "one": 1, "two": 2, "three": 3]
    static let positionWords: [String: String] = [
        "left": "left", "right": "right", "top": "top", "bottom": "bottom", "center": "center", "centre": "center", "middle": "center",
    ]
    /// Words that carry no meaning of their own here ("on the left", "in the top left corner").
    static let fillerWords: Set<String> = ["on", "in", "at", "the", "to", "of", "corner", "side", "is", "are", "with", "and", "background"]

    /// Every word the built-in vocabulary knows.
    public static let vocabulary: Set<String> = {
        var words = fillerWords.union(countWords.keys).union(positionWords.keys).union(["above", "below"])
        words.formUnion(ShapeColor.allCases.map(\.rawValue))
        words.formUnion(ShapeKind.allCases.flatMap { [$0.rawValue, $0.plural] })
        words.formUnion(ShapeSize.allCases.map(\.rawValue))
        return words
    }()

    /// Lower-cased words; punctuation separates words and is dropped ("top-left," → "top", "left").
    public static func words(_ prompt: String) -> [String] {
        prompt.lowercased().split { !$0.isLetter && !$0.isNumber && $0 != "'" }.map(String.init)
    }

    /// Words of the prompt outside the vocabulary, without repeats.
    public static func unknownWords(in prompt: String) -> [String] {
        var seen = Set<String>()
        return words(prompt).filter { !vocabulary.contains($0) && seen.insert($0).inserted }
    }

    public static func parse(_ prompt: String) -> PromptParse {
        let unknown = unknownWords(in: prompt)
        var tokens = words(prompt).filter { vocabulary.contains($0) }
        var problems: [String] = []
        let background = extractBackground(&tokens, problems: &problems)
        var spec: SceneSpec?
        if let (relation, left, right) = splitRelation(tokens) {
            let objects = [nounPhrase(left, problems: &problems), nounPhrase(right, problems: &problems)]
            if objects.allSatisfy({ $0 != nil }) { spec = SceneSpec(objects: objects.map { $0! }, relation: relation, background: background) }
        } else {
            let parts = tokens.split(separator: "and", omittingEmptySubsequences: true).map(Array.init)
            let objects = parts.map { nounPhrase($0, problems: &problems) }
            if parts.isEmpty { problems.append("no shape named (circle, square, triangle or star)") }
            if !objects.isEmpty, objects.allSatisfy({ $0 != nil }) { spec = SceneSpec(objects: objects.map { $0! }, background: background) }
        }
        if let s = spec, s.objectCount > ShapesWorld.maxObjects {
            problems.append("\(s.objectCount) objects asked for; the shapes world has at most \(ShapesWorld.maxObjects)")
        }
        return PromptParse(spec: problems.isEmpty ? spec : nil, unknownWords: unknown, problems: problems)
    }

    /// Removes "on a <colour> background" / "a <colour> background with" and returns the colour.
    static func extractBackground(_ tokens: inout [String], problems: inout [String]) -> ShapeColor? {
        guard let at = tokens.firstIndex(of: "background") else { return nil }
        guard at > 0, let color = ShapeColor(rawValue: tokens[at - 1]) else {
            problems.append("\"background\" needs a colour before it, as in \"on a white background\"")
            return nil
        }
        var start = at - 1
        while start > 0, ["a", "an", "the", "on"].contains(tokens[start - 1]) { start -= 1 }
        var end = at + 1
        if end < tokens.count, tokens[end] == "with" { end += 1 }
        tokens.removeSubrange(start..<end)
        if tokens.contains("background") { problems.append("more than one background named") }
        return color
    }

    /// "A left of B" → (.leftOf, A, B); also "to the left of", "above", "below".
    static func splitRelation(_ tokens: [String]) -> (ShapeRelation, [String], [String])? {
        for (i, t) in tokens.enumerated() {
            var relation: ShapeRelation?
            var after = i + 1
            if t == "above" { relation = .above }
            if t == "below" { relation = .below }
            if (t == "left" || t == "right"), i + 1 < tokens.count, tokens[i + 1] == "of" {
                relation = t == "left" ? .leftOf : .rightOf
                after = i + 2
            }
            guard let r = relation else { continue }
            var before = i
            while before > 0, ["to", "the", "is", "are"].contains(tokens[before - 1]) { before -= 1 }
            return (r, Array(tokens[..<before]), Array(tokens[after...]))
        }
        return nil
    }

    /// "[count] [size] [colour] shape [position words]".
    static func nounPhrase(_ tokens: [String], problems allProblems: inout [String]) -> ObjectSpec? {
        var problems: [String] = []   // kept only when there is a shape: "no shape" is the problem otherwise
        defer { allProblems += problems }
        var count: Int?, size: ShapeSize?, color: ShapeColor?, shape: ShapeKind?
        var places = Set<String>()
        let phrase = tokens.joined(separator: " ")
        for t in tokens {
            if let n = countWords[t], shape == nil {
                if count != nil { problems.append("two counts in \"\(phrase)\"") }
                count = n
            } else if let s = ShapeSize(rawValue: t) {
                if size != nil && size != s { problems.append("both small and big in \"\(phrase)\"") }
                size = s
            } else if let c = ShapeColor(rawValue: t) {
                if color != nil && color != c { problems.append("two colours for one shape in \"\(phrase)\"; join two shapes with \"and\"") }
                color = c
            } else if let k = ShapeKind.allCases.first(where: { $0.rawValue == t || $0.plural == t }) {
                if shape != nil { problems.append("two shapes in \"\(phrase)\"; join them with \"and\" or a relation such as \"left of\"") }
                shape = k
            } else if let p = positionWords[t] {
                places.insert(p)
            }
        }
        guard let kind = shape else {
            problems = []
            problems.append(phrase.isEmpty ? "a relation needs a shape on each side" : "no shape named in \"\(phrase)\"")
            return nil
        }
        guard let position = position(places) else {
            problems.append("contradictory position in \"\(phrase)\"")
            return nil
        }
        return ObjectSpec(color: color, shape: kind, size: size, count: count ?? 1, position: position.flatMap { $0 })
    }

    /// nil: contradictory; .some(nil): no position named.
    static func position(_ words: Set<String>) -> ShapePosition?? {
        if words.isEmpty { return .some(nil) }
        if words == ["center"] { return .center }
        let h = words.intersection(["left", "right"]), v = words.intersection(["top", "bottom"])
        guard h.count <= 1, v.count <= 1, !words.contains("center") else { return nil }
        let name = [v.first, h.first].compactMap { $0 }.joined(separator: " ")
        return .some(ShapePosition(rawValue: name))
    }
}
