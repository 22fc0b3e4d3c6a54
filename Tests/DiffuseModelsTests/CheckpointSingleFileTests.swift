import Foundation
import XCTest
@testable import DiffuseModels

/// Single-file checkpoints derived from the committed sd1/sd2 fixtures: edited copies for each error path,
/// and a file rebuilt from a diffusers folder through the tables (the key-map round trip).
final class CheckpointSingleFileTests: XCTestCase {
    /// A copy of a fixture single file with tensors dropped, replaced or added, and new metadata.
    private func edited(_ fixture: String, drop: (String) -> Bool = { _ in false }, replace: [String: Weight] = [:],
                        add: [(String, Weight)] = [], metadata: [String: String]? = nil,
                        name: String = #function) throws -> URL {
        let source = try SafeTensorsFile(url: fixturesRoot.appendingPathComponent(fixture))
        var tensors: [(String, Weight)] = []
        for n in source.names where !drop(n) {
            guard let w = replace[n] ?? source.weight(named: n) else { continue }  // skips the int64 position_ids
            tensors.append((n, w))
        }
        let url = try scratchFolder(name).appendingPathComponent("model.safetensors")
        try SafeTensorsWriter.write(tensors: tensors + add, metadata: metadata ?? source.metadata, to: url)
        return url
    }

    private func tiny(_ shape: [Int]) -> Weight { Weight(Tensor(repeating: 0.5, shape: shape)) }

    private func assertFails(_ url: URL, mentioning expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try loadCheckpoint(at: url), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(expected), "expected \"\(expected)\" in: \(e)", file: file, line: line)
            XCTAssertFalse("\(e)".contains("\n"), file: file, line: line)
        }
    }

    func testSDXLKeysAreAnUnsupportedArchitecture() throws {
        let url = try edited("sd1.safetensors", add: [("conditioner.embedders.1.model.ln_final.weight", tiny([4]))])
        assertFails(url, mentioning: "unsupported architecture: SDXL")
    }

    func testFileWithoutUNetIsRefused() throws {
        let url = try edited("sd1.safetensors", drop: { !$0.hasPrefix("first_stage_model.") })
        assertFails(url, mentioning: "unsupported architecture: no UNet")
    }

    func testUnmappedKeyIsNamed() throws {
        let url = try edited("sd1.safetensors", add: [("model.diffusion_model.extra_adapter.weight", tiny([4]))])
        assertFails(url, mentioning: "\"model.diffusion_model.extra_adapter.weight\" maps to no diffusers parameter")
    }

    func testKnownExtrasAreIgnored() throws {
        let url = try edited("sd1.safetensors", add: [
            ("model_ema.diffusion_modelinput_blocks00weight", tiny([4])), ("alphas_cumprod", tiny([1000])),
            ("model_ema.num_updates", tiny([])), ("first_stage_model.loss.logvar", tiny([])),
        ])
        XCTAssertEqual(try loadCheckpoint(at: url).family, .sd1)
    }

    func testMissingTensorIsNamed() throws {
        let url = try edited("sd1.safetensors", drop: { $0 == "first_stage_model.decoder.conv_in.bias" })
        assertFails(url, mentioning: "missing tensor \"first_stage_model.decoder.conv_in.bias\"")
    }

    func testWrongShapeIsNamed() throws {
        let url = try edited("sd1.safetensors", replace: ["model.diffusion_model.out.0.weight": tiny([5])])
        assertFails(url, mentioning: "\"model.diffusion_model.out.0.weight\" has shape [5] but the architecture")
    }

    func testSD1KeysWithoutTheTextModelLevelAreAccepted() throws {
        let source = try SafeTensorsFile(url: fixturesRoot.appendingPathComponent("sd1.safetensors"))
        let renamed = source.names.compactMap { n -> (String, Weight)? in
            guard let w = source.weight(named: n) else { return nil }
            return (n.replacingOccurrences(of: "cond_stage_model.transformer.text_model.", with: "cond_stage_model.transformer."), w)
        }
        let url = try scratchFolder().appendingPathComponent("legacy.safetensors")
        try SafeTensorsWriter.write(tensors: renamed, metadata: source.metadata, to: url)
        let legacy = try loadCheckpoint(at: url)
        let reference = try loadCheckpoint(at: fixturesRoot.appendingPathComponent("sd1.safetensors"))
        XCTAssertEqual(Set(legacy.textEncoder.keys), Set(reference.textEncoder.keys))
        XCTAssertEqual(legacy.textConfig, reference.textConfig)
    }

    func testWithoutHintsTheStandardSDValuesAreUsed() throws {
        let sd1 = try loadCheckpoint(at: try edited("sd1.safetensors", metadata: [:], name: "sd1"))
        XCTAssertEqual(sd1.unetConfig.attentionHeadDim, .one(8), "SD1: 8 heads")
        XCTAssertEqual(sd1.textConfig.numAttentionHeads, 1, "64-wide heads: max(16 / 64, 1)")
        XCTAssertFalse(sd1.unetConfig.upcastAttention)
        let sd2 = try loadCheckpoint(at: try edited("sd2.safetensors", metadata: [:], name: "sd2"))
        XCTAssertEqual(sd2.unetConfig.attentionHeadDim, .list([1, 1, 1]), "SD2: 64-wide heads, at least one")
        XCTAssertTrue(sd2.unetConfig.upcastAttention)
        let scheduler = try JSONSerialization.jsonObject(with: sd2.schedulerConfigJSON) as! [String: Any]
        XCTAssertEqual(scheduler["prediction_type"] as? String, "v_prediction")
        XCTAssertEqual(scheduler["steps_offset"] as? Int, 1)
        XCTAssertEqual(scheduler["beta_schedule"] as? String, "scaled_linear")
    }

    func testBadHintsAreRefused() throws {
        assertFails(try edited("sd1.safetensors", metadata: ["diffuse.hints": "{\"prediction_type\": \"flow\"}"], name: "a"),
                    mentioning: "prediction_type \"flow\"")
        assertFails(try edited("sd1.safetensors", metadata: ["diffuse.hints": "not json"], name: "b"),
                    mentioning: "metadata \"diffuse.hints\"")
    }

    /// Folder weights → original layout through the same tables (q/k/v fused, VAE attention as 1×1 convs)
    /// → loaded back: every tensor must return unchanged under its diffusers name.
    func testKeyMapRoundTrip() throws {
        let folder = try loadCheckpoint(at: fixturesRoot.appendingPathComponent("sd2"))
        let hints = try SafeTensorsFile(url: fixturesRoot.appendingPathComponent("sd2.safetensors")).metadata
        var original: [String: Tensor] = [:]
        var fused: [String: [Int: Tensor]] = [:]
        let tables = [(unetTable(folder.unetConfig), folder.unet), (vaeTable(folder.vaeConfig), folder.vae),
                      (openCLIPTable(folder.textConfig), folder.textEncoder)]
        for (table, weights) in tables {
            for e in table {
                guard let w = weights[e.name] else { XCTAssertTrue(e.optional, e.name); continue }
                switch e.conversion {
                case .copy: original[e.original] = w.toTensor()
                case .squeeze: original[e.original] = w.toTensor().reshaped(e.originalShape)
                case .qkv(let part): fused[e.original, default: [:]][part] = w.toTensor()
                case .transpose: XCTFail("the SD2 folder's CLIPTextModel has no text projection")
                }
            }
        }
        for (key, parts) in fused {
            let rows = parts[0]!.shape[0]
            original[key] = Tensor(shape: [rows * 3] + parts[0]!.shape.dropFirst(), data: (0..<3).flatMap { parts[$0]!.data })
        }
        let url = try scratchFolder().appendingPathComponent("rebuilt.safetensors")
        try SafeTensorsWriter.write(tensors: original.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                    metadata: hints, to: url)
        let single = try loadCheckpoint(at: url)
        for (component, a, b) in [("unet", folder.unet, single.unet), ("vae", folder.vae, single.vae),
                                  ("text", folder.textEncoder, single.textEncoder)] {
            XCTAssertEqual(Set(a.keys), Set(b.keys), component)
            for (name, w) in a where w.toTensor() != b[name]?.toTensor() {
                XCTFail("\(component).\(name) changed in the round trip")
            }
        }
        XCTAssertEqual(single.unetConfig.blockOutChannels, folder.unetConfig.blockOutChannels)
    }
}
