import XCTest
import Diffuse
@testable import DiffuseTraining

final class ShapesTests: XCTestCase {
    func testPaletteColoursAreClearlyDistinct() {
        var closest = Double.infinity
        for (i, a) in ShapeColor.allCases.enumerated() {
            for b in ShapeColor.allCases[(i + 1)...] {
                let (p, q) = (a.rgb, b.rgb)
                let d = (pow(Double(p.r) - Double(q.r), 2) + pow(Double(p.g) - Double(q.g), 2) + pow(Double(p.b) - Double(q.b), 2)).squareRoot()
                closest = min(closest, d)
            }
        }
        // 80 of 441: edge blends and generated-image noise of ±20 still land on the right colour.
        XCTAssertGreaterThan(closest, 80)
    }

    func testSameSeedSameScenesOtherSeedOtherScenes() {
        let a = ShapesGenerator(seed: 11), b = ShapesGenerator(seed: 11), c = ShapesGenerator(seed: 12)
        XCTAssertEqual((0..<50).map { a.scene(index: $0) }, (0..<50).map { b.scene(index: $0) })
        XCTAssertNotEqual((0..<50).map { a.scene(index: $0).caption }, (0..<50).map { c.scene(index: $0).caption })
        // The PRNG stream is pinned (values from an independent Python SplitMix64 with the same seeding):
        // a dataset's images must not change between versions.
        var rng = ShapesRandom(seed: 0)
        XCTAssertEqual([rng.next(), rng.next()], [0xb382_a305_f441_4f5e, 0x631a_9154_fbab_f717])
        var other = ShapesRandom(seed: 42, stream: 7)
        XCTAssertEqual(other.next(), 0xf91e_3ec3_fc20_c566)
    }

    /// Every generated scene obeys the world's conventions, checked on the scene geometry itself.
    func testScenesObeyTheWorldConventions() {
        let generator = ShapesGenerator(seed: 5, policy: .ignore)
        for i in 0..<2000 {
            let s = generator.scene(index: i)
            XCTAssertLessThanOrEqual(s.objects.count, ShapesWorld.maxObjects)
            XCTAssertEqual(s.objects.count, s.spec.objectCount, s.caption)
            XCTAssertFalse(s.objects.contains { $0.color == s.background }, "object coloured like the background: \(s.caption)")
            if let bg = s.spec.background { XCTAssertEqual(bg, s.background) }
            for (k, o) in s.objects.enumerated() {
                let spec = s.spec.objects[o.specIndex]
                XCTAssertEqual(o.shape, spec.shape)
                if let c = spec.color { XCTAssertEqual(o.color, c) }
                XCTAssertGreaterThanOrEqual(min(o.cx, o.cy) - o.extent / 2, 0, "object leaves the picture: \(s.caption)")
                XCTAssertLessThanOrEqual(max(o.cx, o.cy) + o.extent / 2, 1, "object leaves the picture: \(s.caption)")
                if spec.size == .big { XCTAssertGreaterThanOrEqual(o.extent, ShapesWorld.bigMinSpan) }
                if spec.size == .small { XCTAssertLessThanOrEqual(o.extent, ShapesWorld.smallMaxSpan) }
                if let p = spec.position { XCTAssertTrue(p.holds(x: o.cx, y: o.cy), "\(s.caption): centre \(o.cx), \(o.cy)") }
                for other in s.objects[(k + 1)...] {
                    let reach = (o.extent + other.extent) / 2
                    XCTAssertTrue(abs(o.cx - other.cx) > reach || abs(o.cy - other.cy) > reach, "objects touch: \(s.caption)")
                }
            }
            if let r = s.spec.relation {
                let a = s.objects.first { $0.specIndex == 0 }!, b = s.objects.first { $0.specIndex == 1 }!
                XCTAssertTrue(r.holds(subject: (a.cx, a.cy), object: (b.cx, b.cy)), s.caption)
            }
        }
    }

    /// The parser reads every caption back to the spec it was written from.
    func testCaptionsParseBackToTheirSpec() {
        let generator = ShapesGenerator(seed: 9, policy: .ignore)
        var variants = Set<String>()
        for i in 0..<3000 {
            let s = generator.scene(index: i)
            let parse = PromptParser.parse(s.caption)
            XCTAssertEqual(parse.spec, s.spec, s.caption)
            XCTAssertEqual(parse.unknownWords, [], s.caption)
            variants.insert(s.caption)
        }
        XCTAssertGreaterThan(variants.count, 1500, "captions should vary")
    }

    func testHeldOutCombinationsNeverAppearInTrainingScenes() {
        let holdout = [ColorShape(.red, .star), ColorShape(.green, .circle)]
        let train = ShapesGenerator(seed: 1, holdout: holdout, policy: .exclude)
        for i in 0..<3000 {
            let s = train.scene(index: i)
            XCTAssertFalse(s.objects.contains { holdout.contains(ColorShape($0.color, $0.shape)) }, s.caption)
        }
        let eval = ShapesGenerator(seed: 1, holdout: holdout, policy: .only)
        for i in 0..<200 {
            let s = eval.scene(index: i)
            XCTAssertTrue(s.spec.objects.contains { o in o.color.map { holdout.contains(ColorShape($0, o.shape)) } ?? false }, s.caption)
        }
    }

    func testHoldoutListParsing() throws {
        XCTAssertEqual(try ColorShape.parseList("red star, Blue triangles"), [ColorShape(.red, .star), ColorShape(.blue, .triangle)])
        XCTAssertEqual(try ColorShape.parseList(""), [])
        XCTAssertThrowsError(try ColorShape.parseList("red hexagon")) { XCTAssertTrue("\($0)".contains("red hexagon")) }
    }

    /// Flat fills and a supersampled edge: inside pixels are the exact colour, the background stays exact
    /// away from objects, and edge pixels are blends (values strictly between the two colours).
    func testRenderIsFlatWithAntialiasedEdges() {
        let o = PlacedObject(color: .red, shape: .circle, cx: 0.5, cy: 0.5, extent: 0.45, specIndex: 0)
        let scene = ShapesScene(caption: "a red circle", spec: SceneSpec(objects: []), background: .white, objects: [o])
        let image = ShapesRenderer.render(scene, size: 64)
        func px(_ x: Int, _ y: Int) -> [UInt8] { Array(image.pixels[(y * 64 + x) * 3..<(y * 64 + x) * 3 + 3]) }
        XCTAssertEqual(px(32, 32), [220, 30, 30])
        XCTAssertEqual(px(2, 2), [255, 255, 255])
        let greens = (0..<64).map { px($0, 32)[1] }
        XCTAssertTrue(greens.contains { $0 > 30 && $0 < 255 }, "no blended edge pixel along the middle row")
        // Area from coverage: π·14.4² = 651 pixels; 4×4 sampling plus 8-bit rounding is within about 1%.
        let coverage = (0..<(64 * 64)).reduce(0.0) { $0 + Double(255 - image.pixels[$1 * 3 + 1]) / 225 }
        XCTAssertEqual(coverage, Double.pi * 14.4 * 14.4, accuracy: 7)
    }
}
