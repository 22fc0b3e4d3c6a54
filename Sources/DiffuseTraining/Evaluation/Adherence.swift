// Prompt adherence of a model trained by `diffuse train`: draws each prompt of three groups (one object,
// two objects in a relation, one object of a held-out colour–shape combination) with image seed = its
// index, and checks the picture with ShapesEvaluator. Images are drawn concurrently, one model copy per
// worker (a model keeps its activations between calls, so one copy cannot serve two threads).

import Diffuse
import DiffuseCore
import Dispatch
import Foundation

/// The prompts of one group and the target the issue sets for it.
public struct AdherenceGroup: Sendable {
    public var name: String
    public var target: String
    public var scenes: [ShapesScene]

    public init(name: String, target: String, scenes: [ShapesScene]) {
        self.name = name
        self.target = target
        self.scenes = scenes
    }
}

/// One prompt/seed pair and the criteria it failed (empty when it passed).
public struct AdherenceCase: Equatable, Sendable {
    public var prompt: String
    public var seed: UInt64
    public var failed: [ShapesEvaluation.Criterion]
    public var passed: Bool { failed.isEmpty }
}

public struct AdherenceResult: Sendable {
    public var group: AdherenceGroup
    public var cases: [AdherenceCase]

    public var passed: Int { cases.filter(\.passed).count }
    public var total: Int { cases.count }
    /// Percent passed, 0 for an empty group.
    public var percent: Double { total == 0 ? 0 : 100 * Double(passed) / Double(total) }
    /// How many failed images failed each criterion (one image may fail several).
    public var failureCounts: [ShapesEvaluation.Criterion: Int] {
        var counts: [ShapesEvaluation.Criterion: Int] = [:]
        for c in cases { for f in c.failed { counts[f, default: 0] += 1 } }
        return counts
    }
}

public enum Adherence {
    public static let oneObject = "one object"
    public static let relational = "two objects, relation"
    public static let heldOut = "held-out colour–shape"
    /// The bar: held-out combinations within this many points of the seen one-object prompts.
    public static let maxHeldOutGap = 10.0

    /// `count` prompts per group from scene seeds `seed`, `seed + 1`, `seed + 2` (training used other seeds).
    public static func groups(seed: UInt64, count: Int, holdout: [ColorShape] = ShapesWorld.defaultHoldout) -> [AdherenceGroup] {
        func scenes(_ g: ShapesGenerator) -> [ShapesScene] { (0..<count).map(g.scene(index:)) }
        return [
            AdherenceGroup(name: oneObject, target: "≥ 90%",
                           scenes: scenes(ShapesGenerator(seed: seed, holdout: holdout, kindWeights: [(.single, 1)]))),
            AdherenceGroup(name: relational, target: "≥ 70%",
                           scenes: scenes(ShapesGenerator(seed: seed + 1, holdout: holdout, kindWeights: [(.relation, 1)]))),
            AdherenceGroup(name: heldOut, target: "within \(Int(maxHeldOutGap)) points of one object",
                           scenes: scenes(ShapesGenerator(seed: seed + 2, holdout: holdout, policy: .only, kindWeights: [(.single, 1)]))),
        ]
    }

    /// Held-out minus seen (one-object) pass rate in points, when both groups were run.
    public static func heldOutGap(_ results: [AdherenceResult]) -> Double? {
        guard let seen = results.first(where: { $0.group.name == oneObject }),
              let held = results.first(where: { $0.group.name == heldOut }) else { return nil }
        return held.percent - seen.percent
    }

    /// Draws and checks every scene of `groups`. `progress(done, total)` is called after each image, from
    /// worker threads one at a time.
    public static func run(modelURL: URL, groups: [AdherenceGroup], steps: Int, guidance: Float, eta: Float = 0,
                           workers: Int, progress: @escaping (Int, Int) -> Void = { _, _ in }) throws -> [AdherenceResult] {
        let jobs = groups.flatMap { g in g.scenes.enumerated().map { (prompt: $1.caption, seed: UInt64($0)) } }
        let images = try draw(modelURL: modelURL, jobs: jobs, steps: steps, guidance: guidance, eta: eta, workers: workers,
                              progress: progress)
        var results: [AdherenceResult] = [], k = 0
        for g in groups {
            var cases: [AdherenceCase] = []
            for (i, scene) in g.scenes.enumerated() {
                let e = ShapesEvaluator.evaluate(scene.spec, image: images[k])
                let failed = ShapesEvaluation.Criterion.allCases.filter { e.checks[$0] == false }
                cases.append(AdherenceCase(prompt: scene.caption, seed: UInt64(i), failed: failed))
                k += 1
            }
            results.append(AdherenceResult(group: g, cases: cases))
        }
        return results
    }

    /// One picture per (prompt, seed), in order, drawn by `workers` model copies in parallel. With more than
    /// one worker the kernels run single-threaded inside each (images are the better unit of parallelism at
    /// these sizes); every image is the same whatever the worker count, as the tests check.
    public static func draw(modelURL: URL, jobs: [(prompt: String, seed: UInt64)], steps: Int, guidance: Float,
                            eta: Float = 0, workers requested: Int, progress: @escaping (Int, Int) -> Void = { _, _ in }) throws -> [RasterImage] {
        let workers = max(1, min(requested, jobs.count))
        let models = try (0..<workers).map { _ in try BuiltinModel(contentsOf: modelURL) }
        var images = [RasterImage?](repeating: nil, count: jobs.count)
        let lock = NSLock()
        var done = 0
        let savedThreads = Parallel.threads
        if workers > 1 { Parallel.threads = 1 }
        defer { Parallel.threads = savedThreads }
        images.withUnsafeMutableBufferPointer { out in
            let out = out   // each index is written by exactly one worker
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for k in stride(from: w, to: jobs.count, by: workers) {
                    let x = models[w].generate(prompt: jobs[k].prompt, seed: jobs[k].seed, steps: steps, guidance: guidance,
                                                 eta: eta)
                    out[k] = RasterImage.fromDecoded(x)[0]          // [1, 3, S, S] in [-1, 1] → 8-bit RGB
                    lock.lock(); done += 1; let d = done; progress(d, jobs.count); lock.unlock()
                }
            }
        }
        return images.map { $0! }
    }
}
