import Foundation
import XCTest
@testable import DiffuseModels

// The networks built the way the pipeline builds them: `loadCheckpoint` (diffusers folder or single-file
// original checkpoint) → configs → networks, checked against the same diffusers outputs as
// NetworkModelTests. Tolerances as there (measured errors are the same ~1e-6: the weights are identical).
final class NetworkCheckpointTests: XCTestCase {
    func testBothLayoutsReproduceDiffusers() throws {
        for model in ["sd1", "sd2"] {
            for url in [NetworkFixtures.folder(model), fixturesRoot.appendingPathComponent("\(model).safetensors")] {
                let checkpoint = try loadCheckpoint(at: url)
                let label = "\(model) \(url.lastPathComponent)"
                try checkText(checkpoint, model, label)
                try checkUNet(checkpoint, model, label)
                try checkVAE(checkpoint, model, label)
            }
        }
    }

    private func checkText(_ c: LoadedCheckpoint, _ model: String, _ label: String) throws {
        let encoder = try CLIPTextEncoder(config: c.textConfig, weights: c.textEncoder)
        let expected = try NetworkFixtures.expectedTensors(model, "text_encoder")
        let record = try XCTUnwrap((NetworkFixtures.components(model)["text_encoder"] as? [[String: Any]])?.first)
        let ids = try XCTUnwrap(record["ids"] as? [Int])
        // The checkpoint's default clip skip gives what diffusers' pipeline uses (SD2 single files hold
        // one more OpenCLIP layer than diffusers' text_encoder, and skip it).
        let got = try encoder([ids], clipSkip: c.defaultClipSkip)
        assertClose(got, try XCTUnwrap(expected[record["last_hidden_state"] as! String]), tol: 1e-5, "\(label) text")
    }

    private func checkUNet(_ c: LoadedCheckpoint, _ model: String, _ label: String) throws {
        let unet = try UNet2DConditionModel(config: c.unetConfig, weights: c.unet)
        let e = try NetworkFixtures.expectedTensors(model, "unet")
        let call = try XCTUnwrap(((NetworkFixtures.components(model)["unet"] as? [String: Any])?["calls"] as? [[String: Any]])?.first)
        let out = unet(try XCTUnwrap(e["sample"]), timestep: Float(call["timestep"] as! Double),
                       context: try XCTUnwrap(e["encoder_hidden_states"]))
        assertClose(out, try XCTUnwrap(e[call["output"] as! String]), tol: 5e-5, "\(label) unet")
    }

    private func checkVAE(_ c: LoadedCheckpoint, _ model: String, _ label: String) throws {
        let vae = try AutoencoderKL(config: c.vaeConfig, weights: c.vae)
        let e = try NetworkFixtures.expectedTensors(model, "vae")
        assertClose(vae.decode(try XCTUnwrap(e["decode_input"])), try XCTUnwrap(e["decode_output"]), tol: 1e-5, "\(label) vae decode")
        assertClose(vae.encode(try XCTUnwrap(e["encode_input"])).mean, try XCTUnwrap(e["encode_mean"]), tol: 1e-5,
                    "\(label) vae encode mean")
    }
}
