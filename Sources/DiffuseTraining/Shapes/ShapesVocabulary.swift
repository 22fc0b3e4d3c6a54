// The words of the "shapes" world and the conventions that make a caption true of its picture in one obvious
// way (issue 4, part 3). The generator, the captioner, the prompt parser and the evaluator all read these
// constants, so "big" or "on the left" means the same thing when drawing and when checking.

/// The ten colours. Fixed sRGB values, pairwise at least ~85 apart (Euclidean, 0…255 per channel) so that
/// the nearest palette colour of a flat region is never in doubt.
public enum ShapeColor: String, CaseIterable, Codable, Sendable {
    case red, orange, yellow, green, blue, purple, pink, white, black, gray

    public var rgb: (r: UInt8, g: UInt8, b: UInt8) {
        switch self {
        case .red: return (220, 30, 30)
        case .orange: return (245, 130, 0)
        case .yellow: return (245, 230, 40)
        case .green: return (30, 160, 50)
        case .blue: return (30, 70, 220)
        case .purple: return (130, 40, 180)
        case .pink: return (255, 140, 200)
        case .white: return (255, 255, 255)
        case .black: return (0, 0, 0)
        case .gray: return (128, 128, 128)
        }
    }

    /// The palette colour nearest to an RGB value (squared Euclidean distance).
    public static func nearest(r: Float, g: Float, b: Float) -> ShapeColor {
        allCases.min { $0.distanceSquared(r, g, b) < $1.distanceSquared(r, g, b) }!
    }

    func distanceSquared(_ r: Float, _ g: Float, _ b: Float) -> Float {
        let c = rgb
        let dr = Float(c.r) - r, dg = Float(c.g) - g, db = Float(c.b) - b
        return dr * dr + dg * dg + db * db
    }
}

public enum ShapeKind: String, CaseIterable, Codable, Sendable {
    case circle, square, triangle, star

    public var plural: String { rawValue + "s" }
}

public enum ShapeSize: String, CaseIterable, Codable, Sendable {
    case small, big
}

/// Where in the picture an object's centre lies (bounding-box centre, in units of the image side).
public enum ShapePosition: String, CaseIterable, Codable, Sendable {
    case left, right, top, bottom, center
    case topLeft = "top left", topRight = "top right", bottomLeft = "bottom left", bottomRight = "bottom right"

    /// Whether a centre (x to the right, y downwards, both 0…1) satisfies the convention, with `slack`
    /// added to each band (0 when generating; the evaluator allows a little for estimation error).
    public func holds(x: Double, y: Double, slack: Double = 0) -> Bool {
        let side = ShapesWorld.sideBand + slack, mid = ShapesWorld.centerBand + slack
        let isLeft = x <= side, isRight = x >= 1 - side, isTop = y <= side, isBottom = y >= 1 - side
        switch self {
        case .left: return isLeft
        case .right: return isRight
        case .top: return isTop
        case .bottom: return isBottom
        case .center: return abs(x - 0.5) <= mid && abs(y - 0.5) <= mid
        case .topLeft: return isTop && isLeft
        case .topRight: return isTop && isRight
        case .bottomLeft: return isBottom && isLeft
        case .bottomRight: return isBottom && isRight
        }
    }
}

/// "A <relation> B", about the centres of A and B.
public enum ShapeRelation: String, CaseIterable, Codable, Sendable {
    case leftOf = "left of", rightOf = "right of", above, below

    /// Holds when the centres are at least `minGap` apart along the relation's axis, in the right direction,
    /// and further apart along it than along the other axis. Coordinates: x right, y down, units of the side.
    public func holds(subject a: (x: Double, y: Double), object b: (x: Double, y: Double),
                      minGap: Double = ShapesWorld.relationMinGap) -> Bool {
        let dx = b.x - a.x, dy = b.y - a.y   // > 0: subject is left of / above the object
        switch self {
        case .leftOf: return dx >= minGap && dx > abs(dy)
        case .rightOf: return -dx >= minGap && -dx > abs(dy)
        case .above: return dy >= minGap && dy > abs(dx)
        case .below: return -dy >= minGap && -dy > abs(dx)
        }
    }
}

/// The world conventions, in units of the image side.
public enum ShapesWorld {
    /// "big": the bounding box spans at least a third of the side.
    public static let bigMinSpan = 1.0 / 3.0
    /// "small": the bounding box spans at most a fifth of the side.
    public static let smallMaxSpan = 1.0 / 5.0
    /// "left"/"right"/"top"/"bottom": the centre lies in the outer 40%.
    public static let sideBand = 0.4
    /// "center": the centre lies within 15% of the middle along both axes.
    public static let centerBand = 0.15
    /// A relation needs the centres at least this far apart along its axis.
    public static let relationMinGap = 0.1
    /// At most this many objects in a picture.
    public static let maxObjects = 3
    /// Held out of the training data by default: every colour and every shape still appears elsewhere.
    public static let defaultHoldout: [ColorShape] = [
        ColorShape(.red, .star), ColorShape(.blue, .triangle), ColorShape(.yellow, .circle), ColorShape(.purple, .square),
    ]
}

/// A colour–shape combination, as in "red star".
public struct ColorShape: Hashable, Codable, Sendable, CustomStringConvertible {
    public var color: ShapeColor
    public var shape: ShapeKind

    public init(_ color: ShapeColor, _ shape: ShapeKind) {
        self.color = color
        self.shape = shape
    }

    public var description: String { "\(color.rawValue) \(shape.rawValue)" }

    /// Parses "red star, blue triangle" (commas or semicolons between pairs); an empty string gives [].
    public static func parseList(_ text: String) throws -> [ColorShape] {
        try text.split(whereSeparator: { $0 == "," || $0 == ";" }).compactMap { part in
            let words = part.split(separator: " ").map { $0.lowercased() }
            if words.isEmpty { return nil }
            guard words.count == 2, let c = ShapeColor(rawValue: words[0]),
                  let s = ShapeKind(rawValue: words[1]) ?? ShapeKind.allCases.first(where: { $0.plural == words[1] }) else {
                throw DatasetError("cannot read held-out combination \"\(part.trimmingCharacters(in: .whitespaces))\": write a colour and a shape, e.g. \"red star, blue triangle\"")
            }
            return ColorShape(c, s)
        }
    }
}
