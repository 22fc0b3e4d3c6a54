import XCTest
import Diffuse
@testable import DiffuseTraining

final class EvaluationTests: XCTestCase {
    /// Ground truth at 64×64 over every kind of caption: the evaluator must accept the generator's own
    /// renders. 99% leaves room for a rare borderline estimate (a detail of the measurement, not of the
    /// world); the measured rate is printed.
    func testAcceptsGroundTruthRendersAt64() {
        let generator = ShapesGenerator(seed: 7, policy: .ignore)
        var passed = 0
        var failures: [ShapesEvaluation.Criterion: Int] = [:]
        let n = 600
        for i in 0..<n {
            let scene = generator.scene(index: i)
            let e = ShapesEvaluator.evaluate(scene.spec, image: ShapesRenderer.render(scene, size: 64))
            if e.passed { passed += 1 } else {
                for (c, ok) in e.checks where !ok { failures[c, default: 0] += 1 }
                if failures.values.reduce(0, +) < 8 { print("FAIL \(scene.caption): \(e.summary) \(e.detected.map { "\($0.color) \($0.shape) \($0.features)" })") }
            }
        }
        let rate = Double(passed) / Double(n)
        print("ground-truth acceptance at 64x64: \(passed)/\(n) = \(rate); failures by criterion: \(failures)")
        XCTAssertGreaterThanOrEqual(rate, 0.99)
    }

    /// Shape classification alone, every shape at the smallest size the world draws (0.15 of 64 ≈ 10 px).
    func testClassifiesSmallShapesAt64() {
        var rng = ShapesRandom(seed: 3)
        var wrong = 0
        for i in 0..<200 {
            let shape = ShapeKind.allCases[i % 4]
            let o = PlacedObject(color: .red, shape: shape, cx: rng.uniform(0.2, 0.8), cy: rng.uniform(0.2, 0.8), extent: 0.15, specIndex: 0)
            let scene = ShapesScene(caption: "", spec: SceneSpec(objects: []), background: .white, objects: [o])
            let found = ShapeDetection.detect(ShapesRenderer.render(scene, size: 64)).objects
            if found.count != 1 || found[0].shape != shape { wrong += 1 }
        }
        XCTAssertEqual(wrong, 0, "misclassified small shapes out of 200")
    }

    func testPrototypeFeatures() {
        let p = Dictionary(uniqueKeysWithValues: ShapeDetection.prototypes.map { ($0.0, $0.1) })
        // 240×240 sampling: area errors of a few 1e-3; analytic values: square 1, circle π/4, triangle 1/2.
        XCTAssertEqual(p[.square]!.fill, 1, accuracy: 0.01)
        XCTAssertEqual(p[.circle]!.fill, Double.pi / 4, accuracy: 0.01)
        XCTAssertEqual(p[.triangle]!.fill, 0.5, accuracy: 0.01)
        XCTAssertEqual(p[.triangle]!.centroidOffset, 1.0 / 6.0, accuracy: 0.01)
        XCTAssertEqual(p[.circle]!.compactness, 1, accuracy: 0.01)
        XCTAssertLessThan(p[.star]!.fill, 0.45)
    }
}
