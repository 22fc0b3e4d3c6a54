import Foundation
import XCTest
@testable import DiffuseModels

// The three networks against diffusers/transformers float32 outputs on the tiny fixture models. Weights
// are stored as f16/bf16 but widened exactly, so both sides compute with the same float32 values; the
// remaining differences are float32 summation order (gemm, conv, softmax) and libm vs Sleef
// transcendental rounding.
final class NetworkModelTests: XCTestCase {
    // Text encoder: hidden size 16, 2–3 layers, LayerNorm-ed outputs of magnitude ~1–4. Measured ≤ 2.5e-6
    // (float32 rounding in a few 16–64-wide dot products); 1e-5 leaves room for other summation orders
    // (thread counts, SIMD widths) without hiding a wrong mask or activation, which moves outputs by ≥ 1e-2.
    func testTextEncoderMatchesTransformers() throws {
        for model in ["sd1", "sd2"] {
            let encoder = try CLIPTextEncoder(architecture: FixtureArchitectures.text(model),
                                              weights: NetworkFixtures.componentWeights(model, "text_encoder"))
            let expected = try NetworkFixtures.expectedTensors(model, "text_encoder")
            let records = try XCTUnwrap(NetworkFixtures.components(model)["text_encoder"] as? [[String: Any]])
            XCTAssertFalse(records.isEmpty)
            for (i, r) in records.enumerated() {
                let ids = try XCTUnwrap(r["ids"] as? [Int])
                let last = try XCTUnwrap(expected[r["last_hidden_state"] as! String])
                let skip = try XCTUnwrap(expected[r["clip_skip_1"] as! String])
                assertClose(try encoder([ids]), last, tol: 1e-5, "\(model) text p\(i) last_hidden_state")
                // diffusers' clip_skip=1 is A1111's clip skip 2 (the penultimate layer).
                assertClose(try encoder([ids], clipSkip: 2), skip, tol: 1e-5, "\(model) text p\(i) clip skip 2")
            }
            // A batch gives each row the result it gets alone (up to gemm blocking, which depends on the
            // row count and may reorder float32 sums).
            let ids = try records.prefix(2).map { try XCTUnwrap($0["ids"] as? [Int]) }
            let batch = try encoder(ids)
            let rows = Tensor(shape: batch.shape, data: try encoder([ids[0]]).data + encoder([ids[1]]).data)
            assertClose(batch, rows, tol: 1e-6, "\(model) text batch of 2 vs rows alone")
        }
    }

    // UNet at batch 2, three timesteps (int 981 and 1, float 499.5). Outputs are O(1); measured ≤ 1.6e-6.
    // The timestep embedding takes sin of float32 arguments up to ~1000, where one ulp of the argument is
    // 6e-5, so a 1-ulp difference in a frequency would show up at ~1e-5 after the time MLP; 5e-5 allows
    // that and still catches any wrong wiring, which moves outputs by ≥ 1e-2.
    func testUNetMatchesDiffusers() throws {
        for model in ["sd1", "sd2"] {
            let unet = try UNet2DConditionModel(architecture: FixtureArchitectures.unet(model),
                                                weights: NetworkFixtures.componentWeights(model, "unet"))
            let expected = try NetworkFixtures.expectedTensors(model, "unet")
            let info = try XCTUnwrap(NetworkFixtures.components(model)["unet"] as? [String: Any])
            let sample = try XCTUnwrap(expected[info["sample"] as! String])
            let context = try XCTUnwrap(expected[info["encoder_hidden_states"] as! String])
            let calls = try XCTUnwrap(info["calls"] as? [[String: Any]])
            XCTAssertEqual(calls.count, 3)
            for call in calls {
                let t = try XCTUnwrap(call["timestep"] as? Double)
                let want = try XCTUnwrap(expected[call["output"] as! String])
                assertClose(unet(sample, timestep: Float(t), context: context), want, tol: 5e-5, "\(model) unet t=\(t)")
            }
        }
    }

    // VAE: outputs O(1); two resolutions of 3×3 convs over 32–64 channels plus one 256-token attention.
    // Measured ≤ 1.3e-6 (float32 summation order in 288–576-term convolution sums); 1e-5 leaves room for
    // other orders and still catches a wrong padding or norm, which moves outputs by ≥ 1e-2.
    func testVAEMatchesDiffusers() throws {
        for model in ["sd1", "sd2"] {
            let vae = try AutoencoderKL(architecture: FixtureArchitectures.vae(model),
                                        weights: NetworkFixtures.componentWeights(model, "vae"))
            let e = try NetworkFixtures.expectedTensors(model, "vae")
            assertClose(vae.decode(try XCTUnwrap(e["decode_input"])), try XCTUnwrap(e["decode_output"]),
                        tol: 1e-5, "\(model) vae decode")
            let (mean, logvar) = vae.encode(try XCTUnwrap(e["encode_input"]))
            assertClose(mean, try XCTUnwrap(e["encode_mean"]), tol: 1e-5, "\(model) vae encode mean")
            assertClose(logvar, try XCTUnwrap(e["encode_logvar"]), tol: 1e-5, "\(model) vae encode logvar")
        }
    }
}
