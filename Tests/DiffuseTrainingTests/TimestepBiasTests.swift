@testable import DiffuseTraining
import Foundation
import XCTest

/// diffusers' timestep bias (train_text_to_image_sdxl.py, `generate_timestep_weights`): weight 1 per timestep,
/// `multiplier` on the biased ones, normalised. The expected probabilities below are that rule worked by hand.
final class TimestepBiasTests: XCTestCase {
    private func config(_ strategy: String, multiplier: Float = 3, portion: Float = 0.25, begin: Int = 0, end: Int = 1000) -> TrainConfig {
        var c = TrainConfig()
        c.timestepBiasStrategy = strategy; c.timestepBiasMultiplier = multiplier; c.timestepBiasPortion = portion
        c.timestepBiasBegin = begin; c.timestepBiasEnd = end
        return c
    }

    /// No bias draws exactly what the trainer drew before the option existed (resumed runs stay bit-for-bit).
    func testUniformDrawsAreTheOldDraws() {
        for c in [TrainConfig(), config("later", multiplier: 1)] {
            let sampler = TimestepSampler(c)
            var a = TrainingRNG(seed: 9), b = TrainingRNG(seed: 9)
            for _ in 0..<1000 { XCTAssertEqual(sampler.draw(&a), b.nextInt(1000)) }
        }
    }

    func testProbabilitiesFollowDiffusersRule() {
        // later, portion 0.25, ×3: 750 timesteps of weight 1 and 250 of weight 3 → total 1500.
        let later = TimestepSampler(config("later"))
        XCTAssertEqual(later.probability(0), 1.0 / 1500, accuracy: 1e-12)
        XCTAssertEqual(later.probability(749), 1.0 / 1500, accuracy: 1e-12)
        XCTAssertEqual(later.probability(750), 3.0 / 1500, accuracy: 1e-12)
        XCTAssertEqual(later.probability(999), 3.0 / 1500, accuracy: 1e-12)
        let earlier = TimestepSampler(config("earlier", multiplier: 0.5, portion: 0.1))   // 100 × 0.5 + 900 = 950
        XCTAssertEqual(earlier.probability(99), 0.5 / 950, accuracy: 1e-12)
        XCTAssertEqual(earlier.probability(100), 1.0 / 950, accuracy: 1e-12)
        let range = TimestepSampler(config("range", multiplier: 5, begin: 200, end: 500))  // 300 × 5 + 700 = 2200
        XCTAssertEqual(range.probability(199), 1.0 / 2200, accuracy: 1e-12)
        XCTAssertEqual(range.probability(200), 5.0 / 2200, accuracy: 1e-12)
        XCTAssertEqual(range.probability(499), 5.0 / 2200, accuracy: 1e-12)
        XCTAssertEqual(range.probability(500), 1.0 / 2200, accuracy: 1e-12)
        for s in [later, earlier, range] {
            XCTAssertEqual((0..<1000).map(s.probability).reduce(0, +), 1, accuracy: 1e-9)
        }
    }

    /// The draws follow the probabilities: 200,000 draws, half of them expected in the biased quarter (±0.005,
    /// 4.5 standard deviations), and none outside 0 ..< 1000.
    func testDrawsFollowTheProbabilities() {
        let sampler = TimestepSampler(config("later"))
        var rng = TrainingRNG(seed: 3)
        var inBiased = 0, firstSeen = 1000, lastSeen = -1
        let n = 200_000
        for _ in 0..<n {
            let t = sampler.draw(&rng)
            if t >= 750 { inBiased += 1 }
            firstSeen = min(firstSeen, t); lastSeen = max(lastSeen, t)
        }
        XCTAssertEqual(Double(inBiased) / Double(n), 0.5, accuracy: 0.005)
        XCTAssertEqual(firstSeen, 0)
        XCTAssertEqual(lastSeen, 999)
    }

    func testImpossibleSettingsAreNamed() {
        XCTAssertTrue(config("latest").problem()?.contains("timestepBiasStrategy") == true)
        XCTAssertTrue(config("later", multiplier: 0).problem()?.contains("timestepBiasMultiplier") == true)
        XCTAssertTrue(config("later", portion: 0.0001).problem()?.contains("timestepBiasPortion") == true)
        XCTAssertTrue(config("earlier", portion: 1.5).problem()?.contains("timestepBiasPortion") == true)
        XCTAssertTrue(config("range", begin: 500, end: 500).problem()?.contains("timestepBiasBegin") == true)
        XCTAssertTrue(config("range", begin: 0, end: 1001).problem()?.contains("timestepBiasBegin") == true)
        XCTAssertNil(config("later").problem())
        XCTAssertNil(config("range", begin: 900, end: 1000).problem())
    }

    func testConfigFileReadsTheKeys() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bias-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(#"{"timestepBiasStrategy": "later", "timestepBiasMultiplier": 2, "timestepBiasPortion": 0.3}"#.utf8).write(to: url)
        let c = try TrainConfig.load(url)
        XCTAssertEqual(c.timestepBiasStrategy, "later")
        XCTAssertEqual(c.timestepBiasMultiplier, 2)
        XCTAssertEqual(c.timestepBiasRange, 700..<1000)
    }
}
