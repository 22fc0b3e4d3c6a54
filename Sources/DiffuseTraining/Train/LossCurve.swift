import Diffuse
import Foundation

/// The loss curve as a PNG: per-step losses (light gray) and their moving average (blue) against the
/// step, y from 0 to the largest average, on a white canvas with axes. No text: the caption that goes
/// with it (steps, final loss) is printed by the CLI and written in the model card.
public enum LossCurve {
    public static func render(_ losses: [Float], width: Int = 640, height: Int = 320) -> RasterImage {
        var px = [UInt8](repeating: 255, count: width * height * 3)
        let margin = 24, plotW = width - 2 * margin, plotH = height - 2 * margin
        func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let i = (y * width + x) * 3
            px[i] = c.0; px[i + 1] = c.1; px[i + 2] = c.2
        }
        for x in margin...(margin + plotW) { set(x, margin + plotH, (0, 0, 0)) }
        for y in margin...(margin + plotH) { set(margin, y, (0, 0, 0)) }
        let finite = losses.filter { $0.isFinite }
        guard finite.count >= 2 else { return RasterImage(width: width, height: height, channels: 3, pixels: px) }
        let window = max(1, finite.count / 50)
        var smooth: [Float] = [], acc: Float = 0
        for (i, l) in finite.enumerated() {
            acc += l
            if i >= window { acc -= finite[i - window] }
            smooth.append(acc / Float(min(i + 1, window)))
        }
        let top = max(smooth.max() ?? 1, 1e-6)
        func point(_ i: Int, _ v: Float) -> (Int, Int) {
            let x = margin + i * plotW / (finite.count - 1)
            let y = margin + plotH - Int((min(v, top) / top * Float(plotH)).rounded())
            return (x, y)
        }
        for (series, colour) in [(finite, (200 as UInt8, 200 as UInt8, 200 as UInt8)), (smooth, (30, 80, 200))] {
            var last = point(0, series[0])
            for i in 1..<series.count {
                let p = point(i, series[i])
                line(last, p) { set($0, $1, colour) }
                last = p
            }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: px)
    }

    public static func write(_ losses: [Float], to url: URL) throws {
        try PNG.writeAtomically(try PNG.encode(render(losses)), to: url, overwrite: true)
    }

    /// Bresenham's line from a to b.
    private static func line(_ a: (Int, Int), _ b: (Int, Int), _ plot: (Int, Int) -> Void) {
        var (x, y) = a
        let dx = abs(b.0 - x), dy = -abs(b.1 - y), sx = x < b.0 ? 1 : -1, sy = y < b.1 ? 1 : -1
        var err = dx + dy
        while true {
            plot(x, y)
            if x == b.0 && y == b.1 { return }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }
}
