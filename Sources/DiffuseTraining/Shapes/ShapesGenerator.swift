// Procedural scenes: first what the caption will say (a `SceneSpec`), then a placement that makes it true
// with room to spare (prototypical positions, sizes well inside their bands, relations far beyond the
// minimum gap), then the caption. Deterministic: scene i of seed S depends only on (S, i).

/// The kinds of caption, for training mixes and for evaluation prompt sets.
public enum SceneKind: String, CaseIterable, Codable, Sendable {
    /// "a big red circle in the top left corner on a white background"
    case single
    /// "three small blue squares"
    case counted
    /// "a green triangle above a yellow star"
    case relation
    /// "a red circle and a blue square"
    case pair
}

public struct ShapesGenerator: Sendable {
    /// What to do with held-out colour–shape combinations.
    public enum HoldoutPolicy: String, Codable, Sendable {
        /// Training data: no object, named or not, is a held-out combination.
        case exclude
        /// Evaluation: every caption names at least one held-out combination.
        case only
        /// No constraint.
        case ignore
    }

    public var seed: UInt64
    public var holdout: Set<ColorShape>
    public var policy: HoldoutPolicy
    /// Relative frequency of each kind of caption.
    public var kindWeights: [(SceneKind, Double)]

    public static let defaultKindWeights: [(SceneKind, Double)] = [(.single, 0.45), (.counted, 0.2), (.relation, 0.25), (.pair, 0.1)]

    public init(seed: UInt64, holdout: [ColorShape] = ShapesWorld.defaultHoldout, policy: HoldoutPolicy = .exclude,
                kindWeights: [(SceneKind, Double)] = defaultKindWeights) {
        self.seed = seed
        self.holdout = Set(holdout)
        self.policy = policy
        self.kindWeights = kindWeights
    }

    /// Scene number `index`.
    public func scene(index: Int) -> ShapesScene {
        var rng = ShapesRandom(seed: seed, stream: UInt64(index))
        while true {
            let spec = sampleSpec(&rng)
            for _ in 0..<20 {
                if let scene = realize(spec, rng: &rng) { return scene }
            }
        }
    }

    // MARK: - What the caption says

    func sampleSpec(_ rng: inout ShapesRandom) -> SceneSpec {
        while true {
            var spec = draft(kind: sampleKind(&rng), rng: &rng)
            let named = spec.objects.compactMap { o in o.color.map { ColorShape($0, o.shape) } }
            let holdsOut = named.contains { holdout.contains($0) }
            if policy == .exclude && holdsOut || policy == .only && !holdsOut { continue }
            let used = Set(spec.objects.compactMap(\.color))
            if spec.background != nil { spec.background = rng.pick(ShapeColor.allCases.filter { !used.contains($0) }) }
            return spec
        }
    }

    func sampleKind(_ rng: inout ShapesRandom) -> SceneKind {
        var r = rng.unit() * kindWeights.reduce(0) { $0 + $1.1 }
        for (kind, w) in kindWeights {
            r -= w
            if r < 0 { return kind }
        }
        return kindWeights.last?.0 ?? .single
    }

    /// A spec of the given kind; the background, when mentioned, is a placeholder filled in afterwards.
    func draft(kind: SceneKind, rng: inout ShapesRandom) -> SceneSpec {
        func size(_ p: Double) -> ShapeSize? { rng.chance(p) ? rng.pick(ShapeSize.allCases) : nil }
        let mentionBackground = rng.chance(kind == .single ? 0.6 : 0.5)
        let bg: ShapeColor? = mentionBackground ? .white : nil
        switch kind {
        case .single:
            let color: ShapeColor? = rng.chance(0.95) ? rng.pick(ShapeColor.allCases) : nil
            let o = ObjectSpec(color: color, shape: rng.pick(ShapeKind.allCases), size: size(0.4),
                               count: 1, position: rng.chance(0.5) ? rng.pick(ShapePosition.allCases) : nil)
            return SceneSpec(objects: [o], background: bg)
        case .counted:
            let color: ShapeColor? = rng.chance(0.95) ? rng.pick(ShapeColor.allCases) : nil
            let o = ObjectSpec(color: color, shape: rng.pick(ShapeKind.allCases), size: size(0.4), count: 2 + rng.below(2))
            return SceneSpec(objects: [o], background: bg)
        case .relation, .pair:
            let a = ColorShape(rng.pick(ShapeColor.allCases), rng.pick(ShapeKind.allCases))
            var b = a
            while b == a { b = ColorShape(rng.pick(ShapeColor.allCases), rng.pick(ShapeKind.allCases)) }
            let objects = [a, b].map { ObjectSpec(color: $0.color, shape: $0.shape, size: size(0.2)) }
            return SceneSpec(objects: objects, relation: kind == .relation ? rng.pick(ShapeRelation.allCases) : nil, background: bg)
        }
    }

    // MARK: - A picture that makes it true

    /// Border margin and the smallest gap between two objects' boxes (units of the side): at 64 pixels the
    /// gap is 3 pixels, so anti-aliased edges of neighbours never touch.
    static let margin = 0.03, gap = 0.05

    func realize(_ spec: SceneSpec, rng: inout ShapesRandom) -> ShapesScene? {
        let named = Set(spec.objects.compactMap(\.color))
        let background = spec.background ?? rng.pick(ShapeColor.allCases.filter { !named.contains($0) })
        var placed: [PlacedObject] = []
        for (index, o) in spec.objects.enumerated() {
            for _ in 0..<o.count {
                let color = o.color ?? rng.pick(ShapeColor.allCases.filter {
                    $0 != background && !(policy == .exclude && holdout.contains(ColorShape($0, o.shape)))
                })
                let extent = sampleExtent(o.size, &rng)
                guard let centre = place(extent: extent, position: o.position, spec: spec, index: index,
                                         placed: placed, rng: &rng) else { return nil }
                placed.append(PlacedObject(color: color, shape: o.shape, cx: centre.x, cy: centre.y, extent: extent, specIndex: index))
            }
        }
        return ShapesScene(caption: ShapesCaption.caption(spec, rng: &rng), spec: spec, background: background, objects: placed)
    }

    /// Extents well inside their bands: small ≤ 0.19 (< 1/5), big ≥ 0.36 (> 1/3), unnamed in between.
    func sampleExtent(_ size: ShapeSize?, _ rng: inout ShapesRandom) -> Double {
        switch size {
        case .small: return rng.uniform(0.15, 0.19)
        case .big: return rng.uniform(0.36, 0.45)
        case nil: return rng.uniform(0.22, 0.30)
        }
    }

    /// A centre for a box of side `extent` that keeps the margins, the gaps and the spec's position or
    /// relation, or nil after many tries.
    func place(extent: Double, position: ShapePosition?, spec: SceneSpec, index: Int, placed: [PlacedObject],
               rng: inout ShapesRandom) -> (x: Double, y: Double)? {
        let lo = extent / 2 + Self.margin, hi = 1 - extent / 2 - Self.margin
        let (xr, yr) = Self.prototypicalRanges(position, lo: lo, hi: hi)
        for _ in 0..<200 {
            let c = (x: rng.uniform(xr.lowerBound, xr.upperBound), y: rng.uniform(yr.lowerBound, yr.upperBound))
            if placed.contains(where: { !Self.apart($0, c, extent) }) { continue }
            if let relation = spec.relation, index == 1, let subject = placed.first(where: { $0.specIndex == 0 }) {
                guard Self.clearly(relation, subject: (subject.cx, subject.cy), object: c) else { continue }
            }
            return c
        }
        return nil
    }

    /// Centre ranges that put a position well inside its band: sides end 0.05 short of the 40% line and
    /// keep to the middle along the other axis, so "on the left" never reads as "top left".
    static func prototypicalRanges(_ p: ShapePosition?, lo: Double, hi: Double) -> (ClosedRange<Double>, ClosedRange<Double>) {
        let inner = ShapesWorld.sideBand - 0.05, mid = ShapesWorld.centerBand - 0.05
        let near = lo...max(lo, inner), far = min(hi, 1 - inner)...hi
        let middle = max(lo, 0.3)...min(hi, 0.7), centre = (0.5 - mid)...(0.5 + mid), any = lo...hi
        switch p {
        case nil: return (any, any)
        case .left: return (near, middle)
        case .right: return (far, middle)
        case .top: return (middle, near)
        case .bottom: return (middle, far)
        case .center: return (centre, centre)
        case .topLeft: return (near, near)
        case .topRight: return (far, near)
        case .bottomLeft: return (near, far)
        case .bottomRight: return (far, far)
        }
    }

    /// Boxes separated by at least `gap` along some axis.
    static func apart(_ o: PlacedObject, _ c: (x: Double, y: Double), _ extent: Double) -> Bool {
        let reach = (o.extent + extent) / 2 + gap
        return abs(o.cx - c.x) >= reach || abs(o.cy - c.y) >= reach
    }

    /// A relation with room to spare: centres 0.25 apart along its axis, at most half that along the other.
    static func clearly(_ r: ShapeRelation, subject a: (x: Double, y: Double), object b: (x: Double, y: Double)) -> Bool {
        guard r.holds(subject: a, object: b, minGap: 0.25) else { return false }
        let along = r == .leftOf || r == .rightOf ? abs(b.x - a.x) : abs(b.y - a.y)
        let across = r == .leftOf || r == .rightOf ? abs(b.y - a.y) : abs(b.x - a.x)
        return across <= along / 2
    }
}
