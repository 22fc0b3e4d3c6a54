import Diffuse
import Foundation
@testable import DiffuseTraining

/// A scratch folder removed by the caller.
func scratchFolder(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-train-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// `count` flat-coloured square or disc pictures on a plain background, with captions like
/// "a red circle on a white background": a stand-in for the generated shapes dataset.
func writeShapesFolder(_ url: URL, count: Int, size: Int) throws {
    let colours: [(String, (UInt8, UInt8, UInt8))] = [("red", (220, 30, 30)), ("blue", (30, 60, 220)), ("green", (30, 180, 60))]
    let backgrounds: [(String, (UInt8, UInt8, UInt8))] = [("white", (250, 250, 250)), ("black", (10, 10, 10))]
    for i in 0..<count {
        let (cname, c) = colours[i % 3], (bname, bg) = backgrounds[(i / 3) % 2]
        let circle = (i / 6) % 2 == 1
        var px = [UInt8](repeating: 0, count: size * size * 3)
        let r = Double(size) / 4, cx = Double(size) / 2 + Double(i % 5 - 2), cy = Double(size) / 2
        for y in 0..<size { for x in 0..<size {
            let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
            let inside = circle ? dx * dx + dy * dy <= r * r : max(abs(dx), abs(dy)) <= r
            let col = inside ? c : bg
            px[(y * size + x) * 3] = col.0; px[(y * size + x) * 3 + 1] = col.1; px[(y * size + x) * 3 + 2] = col.2
        } }
        let name = String(format: "%04d", i)
        try PNG.encode(RasterImage(width: size, height: size, channels: 3, pixels: px))
            .withUnsafeBufferPointer { try Data(buffer: $0).write(to: url.appendingPathComponent(name + ".png")) }
        try "a \(cname) \(circle ? "circle" : "square") on a \(bname) background"
            .write(to: url.appendingPathComponent(name + ".txt"), atomically: true, encoding: .utf8)
    }
}

/// A model small enough for CI: 16×16 images, two levels.
func tinyTrainConfig(steps: Int) -> TrainConfig {
    var c = TrainConfig()
    c.model.imageSize = 16; c.model.patch = 2; c.model.channels = [16, 32]; c.model.attention = [false, true]
    c.model.groups = 4; c.model.heads = 2; c.model.textDim = 16; c.model.textLayers = 1; c.model.textHeads = 2
    c.model.maxTokens = 8
    c.steps = steps; c.batchSize = 8; c.learningRate = 3e-3; c.warmupSteps = 3; c.emaDecay = 0.99
    c.logEvery = 0; c.checkpointEvery = 0; c.seed = 5
    return c
}
