// Decides whether a picture shows what a prompt of the shapes vocabulary asks for, criterion by criterion.
// The picture must hold exactly the objects the prompt describes (the world's captions describe every
// object), each with the named shape, colour, size and position, the relation between them, and the named
// background. Detected objects are matched to the prompt's objects by the assignment that agrees best.

import Diffuse

public struct ShapesEvaluation: Sendable {
    public enum Criterion: String, CaseIterable, Sendable {
        case count, shape, color, size, position, relation, background
    }

    /// One entry per criterion the prompt constrains (count and shape always; the others when named).
    public var checks: [Criterion: Bool]
    public var background: ShapeColor
    public var detected: [DetectedObject]
    /// The detected object matched to each object the prompt asks for (spec order, counts expanded), nil
    /// where nothing was left to match.
    public var matches: [DetectedObject?]

    /// Every constrained criterion holds.
    public var passed: Bool { checks.values.allSatisfy { $0 } }

    /// "count ✓ shape ✗ …" in criterion order, for reports.
    public var summary: String {
        Criterion.allCases.compactMap { c in checks[c].map { "\(c.rawValue) \($0 ? "ok" : "FAIL")" } }.joined(separator: ", ")
    }
}

public enum ShapesEvaluator {
    /// Tolerances beyond the conventions for measurement error: a hundredth of the side is under a pixel
    /// at 64×64; 0.02 allows for blur in generated pictures.
    public static let sizeSlack = 0.02, positionSlack = 0.02

    /// Parses the prompt and evaluates; a prompt outside the vocabulary is an error naming the problem.
    public static func evaluate(prompt: String, image: RasterImage) throws -> ShapesEvaluation {
        let parse = PromptParser.parse(prompt)
        guard let spec = parse.spec else {
            let why = parse.problems.first ?? "it is not a scene of the shapes vocabulary"
            throw DatasetError("cannot evaluate \"\(prompt)\": \(why)")
        }
        return evaluate(spec, image: image)
    }

    /// `rgb`: [H, W, 3] floats in 0…1 (a decoded model output).
    public static func evaluate(_ spec: SceneSpec, rgb: [Float], width: Int, height: Int) -> ShapesEvaluation {
        evaluate(spec, image: RasterImage(unitFloats: rgb, width: width, height: height))
    }

    public static func evaluate(_ spec: SceneSpec, image: RasterImage) -> ShapesEvaluation {
        let (background, detected) = ShapeDetection.detect(image)
        let slots = spec.objects.enumerated().flatMap { i, o in Array(repeating: (i, o), count: o.count) }
        let matches = bestAssignment(slots: slots, spec: spec, detected: Array(detected.prefix(8)))
        var checks: [ShapesEvaluation.Criterion: Bool] = [:]
        checks[.count] = detected.count == slots.count
        let pairs = zip(slots, matches).map { ($0.1, $1) }
        checks[.shape] = pairs.allSatisfy { o, d in d?.shape == o.shape }
        if spec.objects.contains(where: { $0.color != nil }) {
            checks[.color] = pairs.allSatisfy { o, d in o.color == nil || d?.color == o.color }
        }
        if spec.objects.contains(where: { $0.size != nil }) {
            checks[.size] = pairs.allSatisfy { o, d in o.size == nil || d.map { sizeHolds(o.size!, $0) } == true }
        }
        if spec.objects.contains(where: { $0.position != nil }) {
            checks[.position] = pairs.allSatisfy { o, d in o.position == nil || d.map { positionHolds(o.position!, $0) } == true }
        }
        if let relation = spec.relation {
            checks[.relation] = relationHolds(relation, slots: slots, matches: matches)
        }
        if let bg = spec.background { checks[.background] = background == bg }
        return ShapesEvaluation(checks: checks, background: background, detected: detected, matches: matches)
    }

    static func sizeHolds(_ size: ShapeSize, _ d: DetectedObject) -> Bool {
        switch size {
        case .small: return d.span <= ShapesWorld.smallMaxSpan + sizeSlack
        case .big: return d.span >= ShapesWorld.bigMinSpan - sizeSlack
        }
    }

    static func positionHolds(_ p: ShapePosition, _ d: DetectedObject) -> Bool {
        p.holds(x: d.cx, y: d.cy, slack: positionSlack)
    }

    /// Every (subject, object) pair of matched objects satisfies the relation.
    static func relationHolds(_ r: ShapeRelation, slots: [(Int, ObjectSpec)], matches: [DetectedObject?]) -> Bool {
        let subjects = zip(slots, matches).filter { $0.0.0 == 0 }.map(\.1)
        let objects = zip(slots, matches).filter { $0.0.0 == 1 }.map(\.1)
        return subjects.allSatisfy { s in
            objects.allSatisfy { o in
                guard let s, let o else { return false }
                return r.holds(subject: (s.cx, s.cy), object: (o.cx, o.cy))
            }
        }
    }

    /// The injective slot → detected assignment with the most agreement (shape and colour weigh most).
    /// At most 3 slots and 8 candidates: 336 assignments, trivial.
    static func bestAssignment(slots: [(Int, ObjectSpec)], spec: SceneSpec, detected: [DetectedObject]) -> [DetectedObject?] {
        var best: [DetectedObject?] = Array(repeating: nil, count: slots.count), bestScore = -1
        var current: [Int?] = []
        func score() -> Int {
            var s = 0
            for (k, choice) in current.enumerated() {
                guard let j = choice else { continue }
                let o = slots[k].1, d = detected[j]
                if d.shape == o.shape { s += 4 }
                if o.color == nil || d.color == o.color { s += 4 }
                if o.size.map({ sizeHolds($0, d) }) ?? true { s += 1 }
                if o.position.map({ positionHolds($0, d) }) ?? true { s += 1 }
            }
            if let r = spec.relation, relationHolds(r, slots: slots, matches: current.map { $0.map { detected[$0] } }) { s += 1 }
            return s
        }
        func search(_ k: Int, _ used: Set<Int>) {
            if k == slots.count {
                let s = score()
                if s > bestScore { bestScore = s; best = current.map { $0.map { detected[$0] } } }
                return
            }
            var any = false
            for j in detected.indices where !used.contains(j) {
                any = true
                current.append(j); search(k + 1, used.union([j])); current.removeLast()
            }
            if !any { current.append(nil); search(k + 1, used); current.removeLast() }
        }
        search(0, [])
        return best
    }
}
