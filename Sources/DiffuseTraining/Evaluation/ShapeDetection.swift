// Finds the objects of a shapes picture: the background colour, connected regions of other colours, and for
// each region its colour, shape, extent and centre.
//
// Anti-aliased (or blurry, for model outputs) edges are blends bg + α·(colour − bg). Rather than threshold
// them away, each region's pixels are projected onto its own bg→colour line to get α, and area, extents
// and moments are computed from α: sub-pixel accurate, which is what lets a 10-pixel star be told from a
// 10-pixel triangle at 64×64.

import Diffuse

/// Shape features that do not depend on scale. Prototype values come from the same formulas applied to
/// finely sampled ideal shapes (`ShapeDetection.prototypes`).
public struct ShapeFeatures: Equatable, Sendable {
    /// Area over bounding-box area: square 1, circle π/4, triangle 1/2, star ≈ 0.35.
    public var fill: Double
    /// Area² / (2π · polar second moment): 1 for a disc, less for anything else (square 0.955, star lower).
    public var compactness: Double
    /// (centroid y − box centre y) / height: 1/6 for an upward triangle, 0 for symmetric shapes.
    public var centroidOffset: Double
}

/// One region found in a picture. Lengths and positions in units of the image side (x of the width, y of
/// the height), x right, y down.
public struct DetectedObject: Equatable, Sendable {
    public var color: ShapeColor
    public var shape: ShapeKind
    /// Centre of the bounding box.
    public var cx: Double
    public var cy: Double
    public var width: Double
    public var height: Double
    /// Covered fraction of the image.
    public var area: Double
    public var features: ShapeFeatures
    /// The bounding box's larger side: what "small" and "big" are about.
    public var span: Double { max(width, height) }
}

public enum ShapeDetection {
    /// A pixel belongs to a region when it is this far (Euclidean, 0…255 channels) from the background:
    /// low enough that faint anti-aliased star points stay connected to their star (the palette's closest
    /// pair is ~85 apart), high enough for mild noise in generated pictures.
    static let foregroundDistance: Float = 30
    /// Regions covering less than this fraction of the picture are noise: the smallest legitimate object,
    /// a small star, covers about 0.008.
    static let minArea = 0.002

    /// The background colour and the objects, largest first.
    public static func detect(_ image: RasterImage) -> (background: ShapeColor, objects: [DetectedObject]) {
        precondition(image.channels == 3, "ShapeDetection needs RGB")
        let px = image.pixels.map(Float.init)   // [H, W, 3]
        let (bgColor, bg) = background(px, width: image.width, height: image.height)
        let labels = components(px, bg: bg, width: image.width, height: image.height)
        var objects: [DetectedObject] = []
        for region in labels {
            if let o = measure(region, px: px, bg: bg, width: image.width, height: image.height) { objects.append(o) }
        }
        return (bgColor, objects.sorted { $0.area > $1.area })
    }

    /// The palette colour most pixels of the picture's border ring are nearest to, and the per-channel
    /// median of those pixels. The border and not the whole picture: three big objects can cover more than
    /// half of it, but objects keep off the edges.
    static func background(_ px: [Float], width w: Int, height h: Int) -> (ShapeColor, [Float]) {
        let ring = max(1, min(w, h) / 32)
        let border = (0..<(w * h)).filter { i in
            let (x, y) = (i % w, i / w)
            return x < ring || y < ring || x >= w - ring || y >= h - ring
        }
        var votes = [ShapeColor: [Int]]()
        for i in border { votes[ShapeColor.nearest(r: px[i * 3], g: px[i * 3 + 1], b: px[i * 3 + 2]), default: []].append(i) }
        let (winner, members) = votes.max { $0.value.count < $1.value.count || $0.value.count == $1.value.count && $0.key.rawValue > $1.key.rawValue }!
        let median = (0..<3).map { ch -> Float in
            let values = members.map { px[$0 * 3 + ch] }.sorted()
            return values[values.count / 2]
        }
        return (winner, median)
    }

    static func distance(_ px: [Float], _ i: Int, _ c: [Float]) -> Float {
        let dr = px[i * 3] - c[0], dg = px[i * 3 + 1] - c[1], db = px[i * 3 + 2] - c[2]
        return (dr * dr + dg * dg + db * db).squareRoot()
    }

    /// 8-connected regions of foreground pixels, each a list of pixel indices.
    static func components(_ px: [Float], bg: [Float], width w: Int, height h: Int) -> [[Int]] {
        let foreground = (0..<(w * h)).map { distance(px, $0, bg) > foregroundDistance }
        var seen = [Bool](repeating: false, count: w * h)
        var regions: [[Int]] = []
        for start in 0..<(w * h) where foreground[start] && !seen[start] {
            var region: [Int] = [], stack = [start]
            seen[start] = true
            while let i = stack.popLast() {
                region.append(i)
                let (x, y) = (i % w, i / w)
                for dy in -1...1 {
                    for dx in -1...1 {
                        let nx = x + dx, ny = y + dy
                        guard nx >= 0, ny >= 0, nx < w, ny < h else { continue }
                        let j = ny * w + nx
                        if foreground[j] && !seen[j] { seen[j] = true; stack.append(j) }
                    }
                }
            }
            regions.append(region)
        }
        return regions
    }

    /// The region's colour (median of its more saturated half: edge blends would pull a mean towards the
    /// background), then soft coverage α over the region grown by one pixel, and features from α.
    static func measure(_ region: [Int], px: [Float], bg: [Float], width w: Int, height h: Int) -> DetectedObject? {
        let core = region.sorted { distance(px, $0, bg) > distance(px, $1, bg) }.prefix(max(1, region.count / 2))
        let c = (0..<3).map { ch -> Float in
            let v = core.map { px[$0 * 3 + ch] }.sorted()
            return v[v.count / 2]
        }
        let d = (0..<3).map { c[$0] - bg[$0] }
        let norm = d.reduce(0) { $0 + $1 * $1 }
        guard norm > 0 else { return nil }
        var grown = Set(region)
        for i in region {
            let (x, y) = (i % w, i / w)
            for dy in -1...1 { for dx in -1...1 where x + dx >= 0 && x + dx < w && y + dy >= 0 && y + dy < h { grown.insert((y + dy) * w + x + dx) } }
        }
        var alpha: [(x: Int, y: Int, a: Double)] = []
        for i in grown {
            let dot = (0..<3).reduce(Float(0)) { $0 + (px[i * 3 + $1] - bg[$1]) * d[$1] }
            let a = Double(min(max(dot / norm, 0), 1))
            if a > 0 { alpha.append((i % w, i / w, a)) }
        }
        let f = features(alpha)
        guard f.area / Double(w * h) >= minArea else { return nil }
        return DetectedObject(color: ShapeColor.nearest(r: c[0], g: c[1], b: c[2]), shape: classify(f.features),
                              cx: f.cx / Double(w), cy: f.cy / Double(h), width: f.width / Double(w), height: f.height / Double(h),
                              area: f.area / Double(w * h), features: f.features)
    }

    /// Soft measurements of a coverage map (pixel units). Width is the sum over columns of the column's
    /// largest α — exact for axis-aligned edges, close for curved ones — and the box centre is the
    /// profile's mean, so both are sub-pixel.
    static func features(_ alpha: [(x: Int, y: Int, a: Double)])
        -> (features: ShapeFeatures, area: Double, width: Double, height: Double, cx: Double, cy: Double) {
        var cols = [Int: Double](), rows = [Int: Double]()
        var area = 0.0, mx = 0.0, my = 0.0
        for p in alpha {
            cols[p.x] = max(cols[p.x] ?? 0, p.a)
            rows[p.y] = max(rows[p.y] ?? 0, p.a)
            area += p.a
            mx += p.a * (Double(p.x) + 0.5)
            my += p.a * (Double(p.y) + 0.5)
        }
        guard area > 0 else { return (ShapeFeatures(fill: 0, compactness: 0, centroidOffset: 0), 0, 0, 0, 0, 0) }
        mx /= area; my /= area
        let width = cols.values.reduce(0, +), height = rows.values.reduce(0, +)
        let cx = cols.reduce(0.0) { $0 + (Double($1.key) + 0.5) * $1.value } / width
        let cy = rows.reduce(0.0) { $0 + (Double($1.key) + 0.5) * $1.value } / height
        // Polar second moment; a pixel's own extent adds (1/12 + 1/12)·α about its centre.
        var inertia = 0.0
        for p in alpha {
            let dx = Double(p.x) + 0.5 - mx, dy = Double(p.y) + 0.5 - my
            inertia += p.a * (dx * dx + dy * dy + 1.0 / 6.0)
        }
        let f = ShapeFeatures(fill: area / (width * height), compactness: area * area / (2 * Double.pi * inertia),
                              centroidOffset: (my - cy) / height)
        return (f, area, width, height, cx, cy)
    }

    /// Features of the ideal shapes, from a 240×240 point sampling of the unit box.
    public static let prototypes: [(ShapeKind, ShapeFeatures)] = ShapeKind.allCases.map { kind in
        let n = 240
        var alpha: [(x: Int, y: Int, a: Double)] = []
        for y in 0..<n {
            for x in 0..<n where ShapeGeometry.contains(kind, u: (Double(x) + 0.5) / Double(n) - 0.5, v: (Double(y) + 0.5) / Double(n) - 0.5) {
                alpha.append((x, y, 1))
            }
        }
        return (kind, features(alpha).features)
    }

    /// How far a feature may stray before it counts as much as a different shape: the spread we see on
    /// 64×64 renders of small objects (a few hundredths) with a wide margin.
    static let featureScale = ShapeFeatures(fill: 0.08, compactness: 0.06, centroidOffset: 0.06)

    /// The prototype nearest in scaled feature space.
    public static func classify(_ f: ShapeFeatures) -> ShapeKind {
        func cost(_ p: ShapeFeatures) -> Double {
            let a = (f.fill - p.fill) / featureScale.fill
            let b = (f.compactness - p.compactness) / featureScale.compactness
            let c = (f.centroidOffset - p.centroidOffset) / featureScale.centroidOffset
            return a * a + b * b + c * c
        }
        return prototypes.min { cost($0.1) < cost($1.1) }!.0
    }
}
