import Foundation
import XCTest
@testable import DiffuseTraining

/// The DDPM schedule, add_noise, get_velocity and the timestep embedding against diffusers.
final class TrainObjectiveTests: XCTestCase {
    func testSchedulesMatchDDPMScheduler() throws {
        let f = try FixtureTensors("grads/optim.safetensors")
        for (name, start, end) in [("linear", 0.0001, 0.02), ("scaled_linear", 0.00085, 0.012)] {
            let table = try NoiseScheduleTable(schedule: name, betaStart: start, betaEnd: end, timesteps: 1000)
            // float32 cumprod over 1000 factors: torch and we both round each entry once; the linspace may differ
            // in the last bit of a few betas, which moves ᾱ by ≲ 1e-6.
            assertClose(Tensor(shape: [1000], data: table.alphasCumprod), f["ddpm.\(name).alphas_cumprod"], atol: 2e-6, name)
        }
    }

    func testNoisingAndVelocityMatchDiffusers() throws {
        let f = try FixtureTensors("grads/optim.safetensors")
        let table = try NoiseScheduleTable(schedule: "linear", betaStart: 0.0001, betaEnd: 0.02, timesteps: 1000)
        let t = [0, 499, 999]
        let eps = table.noised(f["ddpm.x0"], noise: f["ddpm.noise"], timesteps: t, prediction: .epsilon)
        let v = table.noised(f["ddpm.x0"], noise: f["ddpm.noise"], timesteps: t, prediction: .vPrediction)
        // "sample": the target is the clean image itself, bit for bit, with the same noisy input.
        let x0Target = table.noised(f["ddpm.x0"], noise: f["ddpm.noise"], timesteps: t, prediction: .sample)
        XCTAssertEqual(x0Target.target.data, f["ddpm.x0"].data)
        XCTAssertEqual(x0Target.noisy.data, v.noisy.data)
        // Two float32 products of O(1) values: 1e-5 covers the ᾱ difference above and rounding.
        assertClose(eps.noisy, f["ddpm.noisy"], atol: 1e-5, "add_noise")
        XCTAssertEqual(eps.target, f["ddpm.noise"], "epsilon target is the noise itself")
        assertClose(v.target, f["ddpm.velocity"], atol: 1e-5, "get_velocity")
    }

    func testTimestepEmbeddingMatchesDiffusers() throws {
        let f = try FixtureTensors("grads/optim.safetensors")
        // sin/cos of arguments up to 999: float32 rounding of the argument (≈ 6e-5 at 999) dominates.
        assertClose(timestepEmbedding(f["temb.t"].data, dim: 16), f["temb.emb"], atol: 2e-4, "timestep embedding")
    }

    func testDDIMLoopMatchesDiffusers() throws {
        let f = try FixtureTensors("grads/optim.safetensors")
        let table = try NoiseScheduleTable(schedule: "linear", betaStart: 0.0001, betaEnd: 0.02, timesteps: 1000)
        let steps = table.ddimTimesteps(steps: 4)
        XCTAssertEqual(steps, [750, 500, 250, 0])
        let outputs = split(f["ddim.outputs"], parts: 4, axis: 0).map { $0.reshaped([1, 3, 4, 4]) }
        for (name, prediction) in [("epsilon", PredictionType.epsilon), ("v_prediction", .vPrediction), ("sample", .sample)] {
            var x = f["ddim.start"]
            for (i, t) in steps.enumerated() {
                x = table.ddimStep(sample: x, modelOutput: outputs[i], timestep: t,
                                   previous: i + 1 < steps.count ? steps[i + 1] : -1, prediction: prediction)
            }
            // Four float32 steps on O(1) values with ᾱ differing by ≲ 1e-6 from torch's: 1e-5 absolute.
            assertClose(x, f["ddim.\(name).final"], atol: 1e-5, "DDIM \(name)")
        }
    }

    func testZeroTerminalSnrTrailingDDIMMatchesDiffusers() throws {
        let f = try FixtureTensors("grads/optim.safetensors")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: fixturesRoot
            .appendingPathComponent("grads/optim.json"))) as! [String: Any]
        let table = try NoiseScheduleTable(schedule: "linear", betaStart: 0.0001, betaEnd: 0.02, timesteps: 1000,
                                           rescaleZeroSnr: true)
        XCTAssertEqual(table.alphasCumprod.last, 0, "the last step is pure noise")
        // Same float32 cumprod as the plain schedule, then a shift and scale of √ᾱ: 2e-6 as above.
        assertClose(Tensor(shape: [1000], data: table.alphasCumprod), f["ddpm.zero_snr.alphas_cumprod"], atol: 2e-6, "ᾱ")
        XCTAssertEqual(table.ddimTimesteps(steps: 20, spacing: "trailing"), meta["ddim_trailing_timesteps_20"] as? [Int])
        let steps = table.ddimTimesteps(steps: 4, spacing: "trailing")
        XCTAssertEqual(steps, meta["ddim_trailing_timesteps_4"] as? [Int])
        let outputs = split(f["ddim.outputs"], parts: 4, axis: 0).map { $0.reshaped([1, 3, 4, 4]) }
        var x = f["ddim.start"]
        for (i, t) in steps.enumerated() {
            x = table.ddimStep(sample: x, modelOutput: outputs[i], timestep: t,
                               previous: i + 1 < steps.count ? steps[i + 1] : -1, prediction: .vPrediction,
                               useClippedModelOutput: true)
        }
        // As the DDIM loop above: four float32 steps on O(1) values.
        assertClose(x, f["ddim.zero_snr.final"], atol: 1e-5, "DDIM zero SNR trailing")

        // η = 1 with diffusers' variance noise given per step (the last step adds none: ᾱ_prev = 1).
        let noise = split(f["ddim.zero_snr.eta_noise"], parts: 4, axis: 0).map { $0.reshaped([1, 3, 4, 4]) }
        x = f["ddim.start"]
        for (i, t) in steps.enumerated() {
            x = table.ddimStep(sample: x, modelOutput: outputs[i], timestep: t,
                               previous: i + 1 < steps.count ? steps[i + 1] : -1, prediction: .vPrediction,
                               useClippedModelOutput: true, eta: 1, noise: noise[i])
        }
        // Same arithmetic plus one product with the noise per step: 1e-5 as above.
        assertClose(x, f["ddim.zero_snr.eta1.final"], atol: 1e-5, "DDIM zero SNR trailing, η = 1")
        XCTAssertGreaterThan(zip(x.data, f["ddim.zero_snr.final"].data).map { abs($0 - $1) }.max()!, 0.01,
                             "η = 1 must differ from η = 0")
    }

    func testZeroSnrNeedsVPredictionAndSpacingIsChecked() {
        var c = TrainConfig()
        c.rescaleBetasZeroSnr = true
        XCTAssertNotNil(c.problem(), "ε-prediction at zero SNR must be refused")
        c.prediction = .vPrediction
        XCTAssertNil(c.problem())
        c.prediction = .sample
        XCTAssertNil(c.problem(), "x0-prediction recovers the image at zero SNR")
        c.timestepSpacing = "linspace"
        XCTAssertEqual(c.problem(), "timestepSpacing must be \"leading\" or \"trailing\" (got \"linspace\")")
    }

    func testBadScheduleValuesAreRefused() {
        XCTAssertThrowsError(try NoiseScheduleTable(schedule: "cosine", betaStart: 0.1, betaEnd: 0.2, timesteps: 10))
        XCTAssertThrowsError(try NoiseScheduleTable(schedule: "linear", betaStart: 0.2, betaEnd: 0.1, timesteps: 10))
        XCTAssertThrowsError(try NoiseScheduleTable(schedule: "linear", betaStart: 0.1, betaEnd: 0.2, timesteps: 1))
    }
}
