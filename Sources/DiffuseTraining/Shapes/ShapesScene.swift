// What a caption says (`SceneSpec`) and what a picture holds (`ShapesScene`). A generated image's record
// carries both, so training and the evaluator have the ground truth without reading pixels.

/// One noun phrase of a caption: "two small blue squares", "a red circle in the top left corner".
public struct ObjectSpec: Codable, Equatable, Hashable, Sendable {
    /// nil when the caption names no colour ("a circle").
    public var color: ShapeColor?
    public var shape: ShapeKind
    /// nil when the caption says neither "small" nor "big".
    public var size: ShapeSize?
    /// 1…3 objects of this description.
    public var count: Int
    public var position: ShapePosition?

    public init(color: ShapeColor?, shape: ShapeKind, size: ShapeSize? = nil, count: Int = 1, position: ShapePosition? = nil) {
        self.color = color
        self.shape = shape
        self.size = size
        self.count = count
        self.position = position
    }
}

/// Everything a caption asserts. With a relation, `objects` has two entries: objects[0] <relation> objects[1].
public struct SceneSpec: Codable, Equatable, Sendable {
    public var objects: [ObjectSpec]
    public var relation: ShapeRelation?
    /// nil when the caption does not name the background.
    public var background: ShapeColor?

    public init(objects: [ObjectSpec], relation: ShapeRelation? = nil, background: ShapeColor? = nil) {
        self.objects = objects
        self.relation = relation
        self.background = background
    }

    /// How many objects the picture must hold.
    public var objectCount: Int { objects.reduce(0) { $0 + $1.count } }
}

/// One drawn object. Coordinates in units of the image side, x right, y down; (cx, cy) is the centre of the
/// square box of side `extent` the shape is drawn in (its bounding box's centre: see `ShapesRenderer`).
public struct PlacedObject: Codable, Equatable, Sendable {
    public var color: ShapeColor
    public var shape: ShapeKind
    public var cx: Double
    public var cy: Double
    public var extent: Double
    /// Which entry of the spec's `objects` this object realises.
    public var specIndex: Int

    public init(color: ShapeColor, shape: ShapeKind, cx: Double, cy: Double, extent: Double, specIndex: Int) {
        self.color = color
        self.shape = shape
        self.cx = cx
        self.cy = cy
        self.extent = extent
        self.specIndex = specIndex
    }
}

/// A generated picture: its caption, what the caption asserts, and the exact scene drawn.
public struct ShapesScene: Codable, Equatable, Sendable {
    public var caption: String
    public var spec: SceneSpec
    public var background: ShapeColor
    public var objects: [PlacedObject]

    public init(caption: String, spec: SceneSpec, background: ShapeColor, objects: [PlacedObject]) {
        self.caption = caption
        self.spec = spec
        self.background = background
        self.objects = objects
    }
}
