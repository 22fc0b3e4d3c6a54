// `diffuse evaluate`: prompt adherence of a model trained by `diffuse train` (the built-in one by default),
// measured by the shapes evaluator on prompts and seeds the training data did not use.

import ArgumentParser
import Diffuse
import DiffuseTraining
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prompt adherence of the built-in (or a trained) shapes model.",
        discussion: """
        Three groups of prompts from the shapes world (scene seed --seed, never the training seed): one object,
        two objects in a relation, and one object whose colour–shape combination was held out of training.
        Each prompt is drawn with image seed = its index, checked by the evaluator (shape, colour, count,
        position/relation, background), and the pass rate per group is printed, then one JSON line.
        """)

    @Option(name: [.short, .long], help: "A model written by `diffuse train` (default: the built-in model).")
    var model: String?

    @Option(parsing: .unconditional, help: "Prompts per group.")
    var count: Int = 100

    @Option(parsing: .unconditional, help: "Scene seed for the prompts (the built-in model was trained on seed 1).")
    var seed: UInt64 = 1000

    @Option(parsing: .unconditional, help: "Denoising steps.")
    var steps: Int = BuiltinGeneration.defaultSteps

    @Option(parsing: .unconditional, help: "Guidance scale.")
    var cfgScale: Double = Double(BuiltinGeneration.defaultGuidance)

    func run() throws {
        guard (1...100_000).contains(count), (1...1000).contains(steps), cfgScale >= 0 else {
            throw GenerationError("--count must be 1…100000, --steps 1…1000 and --cfg-scale ≥ 0")
        }
        guard let path = model ?? BuiltinModel.bundledURL?.path else {
            throw GenerationError("the built-in model is missing from this installation; give --model")
        }
        let m = try BuiltinModel(contentsOf: URL(fileURLWithPath: path))
        let groups: [(String, ShapesGenerator)] = [
            ("one object", ShapesGenerator(seed: seed, kindWeights: [(.single, 1)])),
            ("two objects, relation", ShapesGenerator(seed: seed + 1, kindWeights: [(.relation, 1)])),
            ("held-out colour–shape", ShapesGenerator(seed: seed + 2, policy: .only, kindWeights: [(.single, 1)])),
        ]
        var json: [String: Any] = ["model": path, "count": count, "steps": steps, "cfg_scale": cfgScale]
        let start = Date()
        for (name, generator) in groups {
            var passed = 0
            for i in 0..<count {
                let scene = generator.scene(index: i)
                let image = m.generate(prompt: scene.caption, seed: UInt64(i), steps: steps, guidance: Float(cfgScale))
                let side = image.shape[3]
                var unit = [Float](repeating: 0, count: side * side * 3)
                for c in 0..<3 { for p in 0..<(side * side) { unit[p * 3 + c] = image.data[c * side * side + p] / 2 + 0.5 } }
                if ShapesEvaluator.evaluate(scene.spec, rgb: unit, width: side, height: side).passed { passed += 1 }
            }
            let rate = Double(passed) / Double(count)
            print(String(format: "%-24@ %4d / %4d  %5.1f%%", name as NSString, passed, count, 100 * rate))
            json[name] = rate
        }
        json["seconds"] = Date().timeIntervalSince(start)
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
