import Foundation
import XCTest
import Diffuse
import DiffuseModels
@testable import DiffuseTraining

/// The adherence run, the sample grid and the Markdown report, on a tiny model trained for a few steps
/// (its pictures are noise; what is tested is the bookkeeping, the layout and the determinism).
final class AdherenceTests: XCTestCase {
    var folder: URL!
    var modelURL: URL!

    override func setUpWithError() throws {
        folder = try scratchFolder("adherence")
        let data = try shapesDataset(folder.appendingPathComponent("data"), count: 8, size: 16)
        let trainer = try Trainer(config: tinyTrainConfig(steps: 3), dataset: data)
        try trainer.run(data)
        modelURL = folder.appendingPathComponent("model.safetensors")
        try BuiltinModel.export(trainer, to: modelURL)
        try TrainingCheckpoint.save(trainer, to: folder.appendingPathComponent("ckpt.safetensors"))
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func testGridPromptsAreScenesOfTheVocabulary() throws {
        let held = Set(ShapesWorld.defaultHoldout)
        XCTAssertGreaterThanOrEqual(SampleGrid.rows.count, 8)
        for (kind, prompt) in SampleGrid.rows {
            let parse = PromptParser.parse(prompt)
            XCTAssertEqual(parse.unknownWords, [], prompt)
            let spec = try XCTUnwrap(parse.spec, "\(prompt): \(parse.problems)")
            let background = try XCTUnwrap(spec.background, "every row names its background: \(prompt)")
            XCTAssertFalse(spec.objects.contains { $0.color == background }, "background unlike the objects: \(prompt)")
            let combos = spec.objects.compactMap { o in o.color.map { ColorShape($0, o.shape) } }
            XCTAssertEqual(combos.contains(where: held.contains), kind.hasPrefix("held-out"), prompt)
            if kind.hasPrefix("two objects") { XCTAssertNotNil(spec.relation, prompt) }
            if kind == "count" { XCTAssertGreaterThan(spec.objectCount, 1, prompt) }
        }
        for kind in ["one object", "two objects, relation", "count", "held-out colour–shape"] {
            XCTAssertTrue(SampleGrid.rows.contains { $0.kind == kind }, "a row of kind \(kind)")
        }
    }

    /// One worker with multi-threaded kernels and two workers with single-threaded ones draw the same
    /// pictures, byte for byte: the evaluation's numbers do not depend on the machine's core count.
    func testDrawingIsTheSameWithAnyWorkerCount() throws {
        let jobs = [("a red circle", UInt64(0)), ("two blue squares", 1), ("a star above a circle", 2)].map { (prompt: $0.0, seed: $0.1) }
        let one = try Adherence.draw(modelURL: modelURL, jobs: jobs, steps: 3, guidance: 4, workers: 1)
        let two = try Adherence.draw(modelURL: modelURL, jobs: jobs, steps: 3, guidance: 4, workers: 2)
        XCTAssertEqual(one, two)
        let direct = try BuiltinModel(contentsOf: modelURL).generate(prompt: jobs[1].prompt, seed: 1, steps: 3, guidance: 4)
        XCTAssertEqual(one[1], RasterImage.fromDecoded(direct)[0], "the picture `diffuse generate -s 1` draws")
        XCTAssertNotEqual(one[0], one[1])
    }

    func testRunCountsEveryCaseAndItsFailures() throws {
        let groups = Adherence.groups(seed: 50, count: 3)
        XCTAssertEqual(groups.map(\.name), [Adherence.oneObject, Adherence.relational, Adherence.heldOut])
        let held = Set(ShapesWorld.defaultHoldout)
        for scene in groups[2].scenes {
            XCTAssertTrue(scene.spec.objects.contains { o in o.color.map { held.contains(ColorShape($0, o.shape)) } ?? false }, scene.caption)
        }
        XCTAssertTrue(groups[1].scenes.allSatisfy { $0.spec.relation != nil })
        var calls = 0
        let results = try Adherence.run(modelURL: modelURL, groups: groups, steps: 3, guidance: 4, workers: 2) { done, total in
            calls += 1
            XCTAssertEqual(total, 9)
            XCTAssertLessThanOrEqual(done, total)
        }
        XCTAssertEqual(calls, 9)
        let images = try Adherence.draw(modelURL: modelURL, jobs: groups.flatMap { $0.scenes.enumerated().map { ($1.caption, UInt64($0)) } },
                                        steps: 3, guidance: 4, workers: 1)
        for (g, r) in results.enumerated() {
            XCTAssertEqual(r.total, 3)
            XCTAssertEqual(r.cases.map(\.prompt), groups[g].scenes.map(\.caption))
            XCTAssertEqual(r.cases.map(\.seed), [0, 1, 2])
            for (i, c) in r.cases.enumerated() {
                let e = ShapesEvaluator.evaluate(groups[g].scenes[i].spec, image: images[g * 3 + i])
                XCTAssertEqual(c.passed, e.passed)
                XCTAssertEqual(Set(c.failed), Set(e.checks.filter { !$0.value }.keys))
            }
        }
    }

    func testGridLayout() throws {
        let seeds: [UInt64] = [0, 1, 2, 3]
        let prompts = Array(SampleGrid.rows.map(\.prompt).prefix(2))
        let grid = try SampleGrid.make(modelURL: modelURL, seeds: seeds, steps: 3, guidance: 4, workers: 2, prompts: prompts)
        let png = grid.render()
        // 16 px cells scaled ×8 to 128 (the smallest whole factor reaching 128), 3 px frame, 4 px gaps.
        let frame = 128 + 6, pitch = frame + 4
        XCTAssertEqual(png.width, 4 * pitch + 4)
        XCTAssertEqual(png.height, 2 * pitch + 4)
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(png.pixels[((y * png.width + x) * 3)..<((y * png.width + x) * 3 + 3)]) }
        for r in 0..<2 {
            for c in 0..<4 {
                let (x0, y0) = (4 + c * pitch, 4 + r * pitch)
                let cell = grid.cells[r][c]
                XCTAssertEqual(pixel(x0, y0), cell.passed ? SampleGrid.pass : SampleGrid.fail)
                for (sx, sy) in [(0, 0), (5, 9), (15, 15)] {
                    let o = (sy * 16 + sx) * 3
                    let want = Array(cell.image.pixels[o..<(o + 3)])
                    XCTAssertEqual(pixel(x0 + 3 + sx * 8, y0 + 3 + sy * 8), want, "nearest neighbour: first pixel of the block")
                    XCTAssertEqual(pixel(x0 + 3 + sx * 8 + 7, y0 + 3 + sy * 8 + 7), want, "and its last")
                }
                let direct = try BuiltinModel(contentsOf: modelURL).generate(prompt: prompts[r], seed: seeds[c], steps: 3, guidance: 4)
                XCTAssertEqual(cell.image, RasterImage.fromDecoded(direct)[0], "row = prompt, column = seed")
            }
        }
        XCTAssertEqual(pixel(0, 0), SampleGrid.gutter)
        let legend = grid.legend()
        XCTAssertTrue(legend.contains("columns are image seeds 0, 1, 2, 3"), legend)
        XCTAssertTrue(legend.contains("row 2: \(prompts[1])  [one object, size and position; "), legend)
        XCTAssertEqual(SampleGrid.legendURL(for: URL(fileURLWithPath: "/d/samples.png")).path, "/d/samples.txt")
    }

    /// The report of known results: every number checked against what it must say.
    func testReportOfKnownResults() throws {
        func result(_ name: String, target: String, passed: Int, failures: [[ShapesEvaluation.Criterion]]) -> AdherenceResult {
            let ok = (0..<passed).map { AdherenceCase(prompt: "p\($0)", seed: UInt64($0), failed: []) }
            let bad = failures.enumerated().map { AdherenceCase(prompt: "bad \($0)", seed: UInt64(100 + $0), failed: $1) }
            return AdherenceResult(group: AdherenceGroup(name: name, target: target, scenes: []), cases: ok + bad)
        }
        let results = [
            result(Adherence.oneObject, target: "≥ 90%", passed: 9, failures: [[.shape]]),
            result(Adherence.relational, target: "≥ 70%", passed: 6, failures: [[.relation], [.relation, .color], [.count, .shape], [.relation]]),
            result(Adherence.heldOut, target: "within 10 points of one object", passed: 8, failures: [[.color], [.color, .background]]),
        ]
        XCTAssertEqual(results[1].failureCounts, [.relation: 3, .color: 1, .count: 1, .shape: 1])
        XCTAssertEqual(try XCTUnwrap(Adherence.heldOutGap(results)), -10, accuracy: 1e-9, "80% − 90%")
        let model = try EvaluatedModel(url: modelURL, metadata: try BuiltinModel(contentsOf: modelURL).metadata)
        let md = AdherenceReport.markdown(results, model: model, command: "diffuse evaluate --count 10", settings: "DDIM, 20 steps",
                                          seconds: 12, date: Date(timeIntervalSince1970: 1_795_000_000))
        for line in ["| one object | 9 | 10 | 90.0% | ≥ 90% | yes |",
                     "| two objects, relation | 6 | 10 | 60.0% | ≥ 70% | no |",
                     "| held-out colour–shape | 8 | 10 | 80.0% | within 10 points of one object | yes |",
                     "Held-out − seen gap: -10.0 points",
                     "| group | failed | count | shape | color | size | position | relation | background |",
                     "| one object | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 0 |",
                     "| two objects, relation | 4 | 1 | 1 | 1 | 0 | 0 | 3 | 0 |",
                     "| held-out colour–shape | 2 | 0 | 0 | 2 | 0 | 0 | 0 | 1 |",
                     "  - \"bad 1\", seed 101: relation, color",
                     "```sh\ndiffuse evaluate --count 10\n```",
                     "| SHA-256 | `\(try sha256Hex(ofFileAt: modelURL))` |",
                     "| training | 3 steps, ",
                     "| date | 2026-11-18 ",
                     "| sampling | DDIM, 20 steps |"] {
            XCTAssertTrue(md.contains(line), "expected “\(line)” in:\n\(md)")
        }
    }

    /// Training steps and time come from an exported model's keys or a checkpoint's training state.
    func testModelFacts() throws {
        for name in ["model.safetensors", "ckpt.safetensors"] {
            let url = folder.appendingPathComponent(name)
            let m = try EvaluatedModel(url: url, metadata: try BuiltinModel(contentsOf: url).metadata)
            XCTAssertEqual(m.trainingSteps, 3, name)
            XCTAssertNotNil(m.trainingSeconds, name)
            XCTAssertEqual(m.sha256.count, 64)
            XCTAssertNotNil(m.architecture)
        }
    }
}
