import DiffuseSampling
import Foundation
import XCTest

final class SamplerAPITests: XCTestCase {
    private func config(_ json: String) throws -> SchedulerConfig {
        try SchedulerConfig(json: Data(json.utf8))
    }

    /// Keys as diffusers writes them, Python's bare -Infinity, nulls and unknown keys.
    func testConfigDecodesDiffusersJSON() throws {
        let c = try config("""
        {"_class_name": "DPMSolverMultistepScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
         "lambda_min_clipped": -Infinity, "trained_betas": null, "use_karras_sigmas": true,
         "some_future_key": [1, 2], "solver_order": 2}
        """)
        XCTAssertEqual(c.className, "DPMSolverMultistepScheduler")
        XCTAssertEqual(c.betaStart, 0.00085)
        XCTAssertEqual(c.lambdaMinClipped, -.infinity)
        XCTAssertNil(c.trainedBetas)
        XCTAssertEqual(c.useKarrasSigmas, true)
        XCTAssertNil(c.timestepSpacing)
    }

    func testMalformedConfigThrowsOneLine() {
        XCTAssertThrowsError(try config(#"{"num_train_timesteps": "many"}"#)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("num_train_timesteps"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
    }

    /// Unsupported settings fail at construction with a message naming the key and a way out.
    func testUnsupportedSettingsThrow() throws {
        let cases: [(SamplerKind, String, Int, String)] = [
            (.euler, #"{"prediction_type": "flow"}"#, 10, "prediction_type"),
            (.pndm, #"{"prediction_type": "sample"}"#, 10, "prediction_type"),
            (.eulerAncestral, #"{"prediction_type": "sample"}"#, 10, "prediction_type"),
            (.ddim, #"{"beta_schedule": "sigmoid"}"#, 10, "beta_schedule"),
            (.ddim, #"{"timestep_spacing": "random"}"#, 10, "timestep_spacing"),
            (.dpmpp2m, #"{"solver_order": 3}"#, 10, "solver_order"),
            (.dpmpp2m, #"{"algorithm_type": "sde-dpmsolver++"}"#, 10, "algorithm_type"),
            (.ddim, #"{"thresholding": true}"#, 10, "thresholding"),
            (.ddim, "{}", 0, "--steps"),
            (.ddim, "{}", 1001, "--steps"),
            (.lcm, "{}", 51, "--steps"),
            (.pndm, #"{"skip_prk_steps": false}"#, 3, "--steps"),
            (.ddim, #"{"trained_betas": [0.1, 0.2]}"#, 10, "trained_betas"),
        ]
        for (kind, json, steps, mention) in cases {
            XCTAssertThrowsError(try Sampler(kind: kind, config: config(json), steps: steps), "\(kind) \(json)") { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(mention), "\(kind) \(json): \(text)")
                XCTAssertFalse(text.contains("\n"), text)
            }
        }
        XCTAssertThrowsError(try Sampler(kind: .ddim, config: config("{}"), steps: 10, eta: -1))
    }

    /// Missing keys take each diffusers class's defaults (what from_config does): the same empty
    /// config gives DDIM leading spacing, Euler linspace spacing and LCM's own schedule.
    func testClassDefaults() throws {
        let empty = try config("{}")
        XCTAssertEqual(try Sampler(kind: .ddim, config: empty, steps: 4).timesteps, [750, 500, 250, 0])
        XCTAssertEqual(try Sampler(kind: .euler, config: empty, steps: 4).timesteps, [999, 666, 333, 0])
        XCTAssertEqual(try Sampler(kind: .lcm, config: empty, steps: 4).timesteps, [999, 759, 499, 259])
        // PNDMScheduler defaults to the Runge-Kutta warm-up (skip_prk_steps false).
        XCTAssertEqual(try Sampler(kind: .pndm, config: empty, steps: 4).timesteps,
                       [750, 625, 625, 500, 500, 375, 375, 250, 250, 125, 125, 0, 0])
        XCTAssertEqual(try Sampler(kind: .pndm, config: config(#"{"skip_prk_steps": true}"#), steps: 4).timesteps,
                       [750, 500, 500, 250, 0])
        let heun = try Sampler(kind: .heun, config: empty, steps: 3)
        XCTAssertEqual(heun.timesteps.count, 5)
        XCTAssertEqual(heun.order, 2)
        XCTAssertEqual(heun.sigmas?.last, 0)
    }

    /// get_timesteps' int(steps * strength) works on the decimal the user gave: 10 × 0.7 = 7 steps
    /// (a float32 0.7 widened to double would give 6.99999988 → 6).
    func testImg2ImgStartCall() throws {
        let empty = try config("{}")
        XCTAssertEqual(try Sampler(kind: .ddim, config: empty, steps: 10).img2imgStartCall(strength: 0.7), 3)
        XCTAssertEqual(try Sampler(kind: .ddim, config: empty, steps: 20).img2imgStartCall(strength: 0.75), 5)
        XCTAssertEqual(try Sampler(kind: .ddim, config: empty, steps: 20).img2imgStartCall(strength: 1), 0)
        XCTAssertEqual(try Sampler(kind: .ddim, config: empty, steps: 20).img2imgStartCall(strength: 0), 20)
        XCTAssertEqual(try Sampler(kind: .heun, config: empty, steps: 20).img2imgStartCall(strength: 0.75), 10)
    }

    func testKindNamesMatchTheCLIContract() {
        XCTAssertEqual(SamplerKind.allCases.map(\.rawValue),
                       ["ddpm", "ddim", "pndm", "euler", "euler-a", "heun", "dpm++2m", "dpm++2m-karras", "lcm"])
        XCTAssertEqual(SamplerKind.eulerAncestral.a1111Name, "Euler a")
        XCTAssertEqual(SamplerKind.pndm.a1111Name, "PLMS")
        XCTAssertEqual(SamplerKind.dpmpp2mKarras.a1111Name, "DPM++ 2M Karras")
    }

    /// begin(atCall:) clears multistep history: the same run twice from one sampler value agrees.
    func testBeginResetsState() throws {
        var s = try Sampler(kind: .dpmpp2m, config: config("{}"), steps: 6)
        func run(_ s: inout Sampler) -> Tensor {
            var g = TorchGenerator(seed: 5)
            var x = g.randn([1, 4, 4, 4])
            s.begin(atCall: 0)
            for i in 0..<s.timesteps.count {
                x = s.step(modelOutput: Tensor(shape: x.shape, data: x.data.map { 0.1 * $0 }), call: i, sample: x, noise: &g)
            }
            return x
        }
        XCTAssertEqual(run(&s), run(&s))
    }
}

final class PredictedOriginalTests: XCTestCase {
    /// Noising a clean latent with addNoise and feeding back the exact noise as an epsilon
    /// prediction must give the clean latent back, for every sampler and several calls.
    /// Tolerance 2e-5 absolute: x0 = (x - s·eps)/a rounds a few times in float32 on values up to
    /// ~15 (sigma times unit noise) before dividing back down.
    func testEpsilonRoundTrip() throws {
        let cfg = try SchedulerConfig(json: Data(#"{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}"#.utf8))
        var g = TorchGenerator(seed: 11)
        let clean = g.randn([1, 4, 4, 4]), eps = g.randn([1, 4, 4, 4])
        for kind in SamplerKind.allCases {
            let s = try Sampler(kind: kind, config: cfg, steps: 8)
            for i in [0, s.timesteps.count / 2, s.timesteps.count - 1] {
                let noisy = s.addNoise(original: clean, noise: eps, call: i)
                let x0 = s.predictedOriginal(modelOutput: eps, call: i, sample: noisy)
                XCTAssertLessThan(x0.maxAbsDifference(clean), 2e-5, "\(kind) call \(i)")
            }
        }
    }
}
