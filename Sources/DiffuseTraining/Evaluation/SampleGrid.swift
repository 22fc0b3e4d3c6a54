// A sample grid for the docs: a fixed list of prompts (rows) × seeds (columns), each cell scaled up with
// nearest neighbour so the pixels stay visible, framed green where the evaluator passed it and red where it
// did not. The prompt text is not drawn into the picture; `legend` gives it as text.

import Diffuse
import Foundation

public struct SampleGrid: Sendable {
    /// Rows, top to bottom: what each one exercises, then the prompt. Every prompt is a scene of the
    /// shapes vocabulary that follows the world's conventions (background unlike every object colour).
    public static let rows: [(kind: String, prompt: String)] = [
        ("one object", "a red circle on a white background"),
        ("one object, size and position", "a big green square in the top left corner on a black background"),
        ("one object, position", "a small orange triangle at the bottom on a blue background"),
        ("two objects, relation", "a yellow star above a blue circle on a white background"),
        ("two objects, relation", "a pink square left of a green triangle on a gray background"),
        ("count", "two small blue squares on a white background"),
        ("count", "three purple circles on a yellow background"),
        ("held-out colour–shape", "a red star on a white background"),
        ("held-out colour–shape", "a blue triangle on a yellow background"),
    ]

    /// Cells are scaled up by a whole factor to at least this many pixels a side.
    public static let minCellSide = 128
    /// Frame around each cell; its colour is the evaluator's verdict.
    static let border = 3
    static let pass: [UInt8] = [40, 170, 70], fail: [UInt8] = [210, 40, 40], gutter: [UInt8] = [255, 255, 255]

    public var prompts: [String]
    public var seeds: [UInt64]
    /// [row][column] picture and whether it passed.
    public var cells: [[(image: RasterImage, passed: Bool)]]

    /// Draws every row's prompt with every seed and evaluates each picture.
    public static func make(modelURL: URL, seeds: [UInt64], steps: Int, guidance: Float, eta: Float = 0, workers: Int,
                            prompts: [String] = rows.map(\.prompt)) throws -> SampleGrid {
        let jobs = prompts.flatMap { p in seeds.map { (prompt: p, seed: $0) } }
        let images = try Adherence.draw(modelURL: modelURL, jobs: jobs, steps: steps, guidance: guidance, eta: eta,
                                        workers: workers)
        let cells = try prompts.enumerated().map { r, prompt in
            try seeds.indices.map { c -> (image: RasterImage, passed: Bool) in
                let image = images[r * seeds.count + c]
                return (image, try ShapesEvaluator.evaluate(prompt: prompt, image: image).passed)
            }
        }
        return SampleGrid(prompts: prompts, seeds: seeds, cells: cells)
    }

    /// The grid as one RGB picture: [rows·(cell + 2·border + gap) + gap] high.
    public func render() -> RasterImage {
        let side = cells.first?.first?.image.width ?? 1
        let scale = max(1, (Self.minCellSide + side - 1) / side)
        let cell = side * scale, gap = 4, frame = cell + 2 * Self.border
        let width = seeds.count * (frame + gap) + gap, height = prompts.count * (frame + gap) + gap
        var px = [UInt8](repeating: 0, count: width * height * 3)
        func set(_ x: Int, _ y: Int, _ rgb: ArraySlice<UInt8>) {
            let o = (y * width + x) * 3
            px[o] = rgb[rgb.startIndex]; px[o + 1] = rgb[rgb.startIndex + 1]; px[o + 2] = rgb[rgb.startIndex + 2]
        }
        for y in 0..<height { for x in 0..<width { set(x, y, Self.gutter[...]) } }
        for (r, row) in cells.enumerated() {
            for (c, entry) in row.enumerated() {
                let x0 = gap + c * (frame + gap), y0 = gap + r * (frame + gap)
                let verdict = (entry.passed ? Self.pass : Self.fail)[...]
                for y in 0..<frame { for x in 0..<frame { set(x0 + x, y0 + y, verdict) } }
                let image = entry.image
                for y in 0..<cell {
                    for x in 0..<cell {
                        let o = ((y / scale) * image.width + x / scale) * 3
                        set(x0 + Self.border + x, y0 + Self.border + y, image.pixels[o..<(o + 3)])
                    }
                }
            }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: px)
    }

    /// What the rows and columns are, one row per line, for a text file beside the PNG.
    public func legend() -> String {
        let kinds = Dictionary(Self.rows.map { ($0.prompt, $0.kind) }, uniquingKeysWith: { a, _ in a })
        var lines = ["Sample grid: rows are prompts (top to bottom), columns are image seeds "
            + seeds.map(String.init).joined(separator: ", ") + ".",
            "Frame: green = the evaluator found the prompt satisfied, red = it did not.", ""]
        for (r, prompt) in prompts.enumerated() {
            let passed = cells[r].filter(\.passed).count
            lines.append("row \(r + 1): \(prompt)  [\(kinds[prompt] ?? "custom"); \(passed)/\(seeds.count) passed]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The legend's path for a grid written to `png`: same name, .txt.
    public static func legendURL(for png: URL) -> URL { png.deletingPathExtension().appendingPathExtension("txt") }
}
