// Draws a scene: flat fills, anti-aliased by supersampling. Each output pixel averages s×s point samples
// (a box filter over the pixel), so an edge pixel holds the exact-ish covered fraction of the object
// colour blended with the background: colour = bg + coverage·(object − bg). The evaluator undoes this
// blend to measure areas and extents below a pixel.

import Diffuse
import Foundation

/// The shapes in a unit box centred at the origin, u right, v down, both in −0.5…0.5. Every shape touches
/// all four sides of its box except the star (its height is 0.951 of its width), so the box side is the
/// bounding-box span the size conventions talk about.
public enum ShapeGeometry {
    /// Inner over outer radius of the five-pointed star. A regular pentagram has 0.382; a little fatter keeps
    /// the points visible at 10 pixels.
    public static let starInnerRatio = 0.42

    /// The star's ten vertices (outer point first, pointing up), scaled and shifted so its bounding box
    /// spans the box's width and is centred in it.
    public static let starVertices: [(u: Double, v: Double)] = {
        let outer = 0.5 / sin(0.4 * Double.pi)   // width = 2R·sin 72°
        let top = -outer, bottom = outer * cos(0.2 * Double.pi)
        let shift = -(top + bottom) / 2
        return (0..<10).map { i in
            let r = i % 2 == 0 ? outer : outer * starInnerRatio
            let angle = -Double.pi / 2 + Double(i) * Double.pi / 5
            return (r * cos(angle), r * sin(angle) + shift)
        }
    }()

    public static func contains(_ shape: ShapeKind, u: Double, v: Double) -> Bool {
        switch shape {
        case .circle: return u * u + v * v <= 0.25
        case .square: return abs(u) <= 0.5 && abs(v) <= 0.5
        case .triangle:   // apex (0, −0.5), base from (−0.5, 0.5) to (0.5, 0.5)
            return v <= 0.5 && abs(u) <= (v + 0.5) / 2
        case .star: return polygonContains(starVertices, u: u, v: v)
        }
    }

    /// Even–odd ray casting.
    static func polygonContains(_ vertices: [(u: Double, v: Double)], u: Double, v: Double) -> Bool {
        var inside = false
        var j = vertices.count - 1
        for i in 0..<vertices.count {
            let a = vertices[i], b = vertices[j]
            if (a.v > v) != (b.v > v), u < (b.u - a.u) * (v - a.v) / (b.v - a.v) + a.u { inside.toggle() }
            j = i
        }
        return inside
    }
}

public enum ShapesRenderer {
    /// Point samples per pixel along each axis.
    public static let defaultSupersampling = 4

    /// The scene as an 8-bit RGB image of `size`×`size` pixels.
    public static func render(_ scene: ShapesScene, size: Int, supersampling s: Int = defaultSupersampling) -> RasterImage {
        let bg = scene.background.rgb
        var rgb = [Float](repeating: 0, count: size * size * 3)   // [H, W, 3]
        for i in 0..<(size * size) {
            rgb[i * 3] = Float(bg.r); rgb[i * 3 + 1] = Float(bg.g); rgb[i * 3 + 2] = Float(bg.b)
        }
        for object in scene.objects { draw(object, background: scene.background, size: size, supersampling: s, into: &rgb) }
        return RasterImage(width: size, height: size, channels: 3,
                           pixels: rgb.map { UInt8(min(max($0, 0), 255).rounded()) })
    }

    /// Adds coverage·(colour − background) over the pixels of the object's box. Objects never overlap, so
    /// the sums of different objects do not interact.
    static func draw(_ o: PlacedObject, background: ShapeColor, size: Int, supersampling s: Int, into rgb: inout [Float]) {
        let side = Double(size), half = o.extent / 2
        let x0 = max(0, Int(((o.cx - half) * side).rounded(.down))), x1 = min(size - 1, Int(((o.cx + half) * side).rounded(.up)))
        let y0 = max(0, Int(((o.cy - half) * side).rounded(.down))), y1 = min(size - 1, Int(((o.cy + half) * side).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        let c = o.color.rgb, b = background.rgb
        let delta = [Float(c.r) - Float(b.r), Float(c.g) - Float(b.g), Float(c.b) - Float(b.b)]
        let samples = Double(s * s)
        for y in y0...y1 {
            for x in x0...x1 {
                var hits = 0
                for sy in 0..<s {
                    let v = ((Double(y) + (Double(sy) + 0.5) / Double(s)) / side - o.cy) / o.extent
                    for sx in 0..<s {
                        let u = ((Double(x) + (Double(sx) + 0.5) / Double(s)) / side - o.cx) / o.extent
                        if ShapeGeometry.contains(o.shape, u: u, v: v) { hits += 1 }
                    }
                }
                guard hits > 0 else { continue }
                let coverage = Float(Double(hits) / samples), p = (y * size + x) * 3
                for ch in 0..<3 { rgb[p + ch] += coverage * delta[ch] }
            }
        }
    }
}
