// Captions in plain English, with variations, for a scene spec. Every caption parses back to its spec
// (`PromptParser`), which the tests check over thousands of scenes.

enum ShapesCaption {
    static func caption(_ spec: SceneSpec, rng: inout ShapesRandom) -> String {
        var phrases = spec.objects.map { nounPhrase($0, rng: &rng) }
        var sentence: String
        if let relation = spec.relation, phrases.count == 2 {
            sentence = phrases[0] + " " + rng.pick(relationPhrases(relation)) + " " + phrases[1]
        } else {
            sentence = phrases.removeFirst()
            for p in phrases { sentence += " and " + p }
        }
        guard let bg = spec.background else { return sentence }
        if rng.chance(0.75) { return sentence + " on " + article(bg.rawValue) + " background" }
        return article(bg.rawValue) + " background with " + sentence
    }

    static func nounPhrase(_ o: ObjectSpec, rng: inout ShapesRandom) -> String {
        var words: [String] = []
        if let size = o.size { words.append(size.rawValue) }
        if let color = o.color { words.append(color.rawValue) }
        words.append(o.count == 1 ? o.shape.rawValue : o.shape.plural)
        var phrase = words.joined(separator: " ")
        switch o.count {
        case 1: phrase = rng.chance(0.15) ? "one " + phrase : article(phrase)
        case 2: phrase = "two " + phrase
        default: phrase = "three " + phrase
        }
        if let p = o.position { phrase += " " + rng.pick(positionPhrases(p)) }
        return phrase
    }

    /// "a red circle", "an orange star".
    static func article(_ phrase: String) -> String {
        ("aeiou".contains(phrase.first ?? "x") ? "an " : "a ") + phrase
    }

    static func positionPhrases(_ p: ShapePosition) -> [String] {
        switch p {
        case .left, .right: return ["on the \(p.rawValue)", "at the \(p.rawValue)"]
        case .top, .bottom: return ["at the \(p.rawValue)"]
        case .center: return ["in the center", "in the middle"]
        case .topLeft, .topRight, .bottomLeft, .bottomRight: return ["in the \(p.rawValue) corner", "at the \(p.rawValue)"]
        }
    }

    static func relationPhrases(_ r: ShapeRelation) -> [String] {
        switch r {
        case .leftOf, .rightOf: return [r.rawValue, "to the " + r.rawValue]
        case .above, .below: return [r.rawValue]
        }
    }
}
