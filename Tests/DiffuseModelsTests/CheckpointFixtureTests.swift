import Foundation
import XCTest
@testable import DiffuseModels

/// The committed tiny pipelines (scripts/fixtures/models.py): each exists as a diffusers folder and as one
/// original-layout single file holding the same numbers, so both loaders must agree exactly.
final class CheckpointFixtureTests: XCTestCase {
    private func load(_ name: String) throws -> LoadedCheckpoint {
        try loadCheckpoint(at: fixturesRoot.appendingPathComponent(name))
    }

    /// The single file's weights equal the folder's, name for name, after widening to float32. Exact: both
    /// files store the same values, in the same dtype or in float32 (lossless).
    private func assertSameWeights(_ folder: [String: Weight], _ single: [String: Weight], component: String,
                                   singleOnly: Set<String> = [], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(single.keys).subtracting(folder.keys), singleOnly, "\(component): names only in the single file",
                       file: file, line: line)
        XCTAssertEqual(Set(folder.keys).subtracting(single.keys), [], "\(component): names missing from the single file",
                       file: file, line: line)
        for (name, w) in folder {
            guard let s = single[name] else { continue }
            XCTAssertEqual(s.shape, w.shape, "\(component).\(name)", file: file, line: line)
            if s.shape == w.shape, s.toTensor() != w.toTensor() {
                XCTFail("\(component).\(name): values differ", file: file, line: line)
            }
        }
    }

    /// Configs must agree on everything the models use; sample_size is not in a single file (SD's value is used).
    private func assertSameArchitecture(_ a: LoadedCheckpoint, _ b: LoadedCheckpoint, extraTextLayers: Int,
                                        file: StaticString = #filePath, line: UInt = #line) {
        var (u1, u2) = (a.unetConfig, b.unetConfig)
        (u1.sampleSize, u2.sampleSize) = (nil, nil)
        XCTAssertEqual(u1, u2, "unet config", file: file, line: line)
        var (v1, v2) = (a.vaeConfig, b.vaeConfig)
        (v1.sampleSize, v2.sampleSize) = (.one(0), .one(0))
        XCTAssertEqual(v1, v2, "vae config", file: file, line: line)
        let (t1, t2) = (a.textConfig, b.textConfig)
        XCTAssertEqual(t1.numHiddenLayers + extraTextLayers, t2.numHiddenLayers, file: file, line: line)
        for kp in [\CLIPTextConfig.vocabSize, \.hiddenSize, \.intermediateSize, \.numAttentionHeads, \.maxPositionEmbeddings] {
            XCTAssertEqual(t1[keyPath: kp], t2[keyPath: kp], "text config", file: file, line: line)
        }
        XCTAssertEqual(t1.hiddenAct, t2.hiddenAct, file: file, line: line)
        XCTAssertEqual(t1.layerNormEps, t2.layerNormEps, file: file, line: line)
        XCTAssertEqual(a.family, b.family, file: file, line: line)
    }

    private func schedulerValue(_ c: LoadedCheckpoint, _ key: String) throws -> Any? {
        (try JSONSerialization.jsonObject(with: c.schedulerConfigJSON) as? [String: Any])?[key]
    }

    func testSD1FolderAndSingleFileAgree() throws {
        let folder = try load("sd1"), single = try load("sd1.safetensors")
        XCTAssertEqual(folder.layout, .diffusersFolder)
        XCTAssertEqual(single.layout, .singleFile)
        XCTAssertEqual(folder.family, .sd1)
        // Every parameter of each component is present (the tables were checked against diffusers' own
        // state_dict names and shapes when written).
        XCTAssertEqual(folder.unet.count, unetTable(folder.unetConfig).count)
        XCTAssertEqual(folder.vae.count, vaeTable(folder.vaeConfig).count)
        XCTAssertEqual(folder.textEncoder.count, clipTable(folder.textConfig).count)
        XCTAssertGreaterThan(folder.unet.count, 100)
        assertSameArchitecture(folder, single, extraTextLayers: 0)
        assertSameWeights(folder.unet, single.unet, component: "unet")
        assertSameWeights(folder.vae, single.vae, component: "vae")
        assertSameWeights(folder.textEncoder, single.textEncoder, component: "text")
        XCTAssertEqual(folder.padTokenId, 49407)
        XCTAssertEqual(single.padTokenId, 49407)
        XCTAssertEqual(folder.defaultClipSkip, 1)
        XCTAssertEqual(single.defaultClipSkip, 1)
        XCTAssertEqual(single.tokenizer, .builtin)
        let tok = fixturesRoot.appendingPathComponent("sd1/tokenizer")
        XCTAssertEqual(folder.tokenizer, .files(vocab: tok.appendingPathComponent("vocab.json"),
                                               merges: tok.appendingPathComponent("merges.txt")))
        XCTAssertEqual(try schedulerValue(folder, "_class_name") as? String, "PNDMScheduler")
        XCTAssertEqual(try schedulerValue(single, "prediction_type") as? String, "epsilon")
        XCTAssertEqual(folder.name, "sd1")
        XCTAssertEqual(single.name, "sd1")
    }

    func testSD2FolderAndSingleFileAgree() throws {
        let folder = try load("sd2"), single = try load("sd2.safetensors")
        XCTAssertEqual(folder.family, .sd2)
        assertSameArchitecture(folder, single, extraTextLayers: 1)
        assertSameWeights(folder.unet, single.unet, component: "unet")
        assertSameWeights(folder.vae, single.vae, component: "vae")
        // The single file holds the full OpenCLIP tower (one more layer) and its text projection.
        let last = "encoder.layers.\(folder.textConfig.numHiddenLayers)."
        let extra = Set(single.textEncoder.keys.filter { $0.hasPrefix(last) } + ["text_projection.weight"])
        XCTAssertEqual(extra.count, 17, "16 tensors of one CLIP layer + text_projection")
        assertSameWeights(folder.textEncoder, single.textEncoder, component: "text", singleOnly: extra)
        XCTAssertEqual(single.textEncoder["text_projection.weight"]?.shape, [24, 16], "[projection, hidden] after transpose")
        XCTAssertEqual(folder.defaultClipSkip, 1)
        XCTAssertEqual(single.defaultClipSkip, 2)
        XCTAssertEqual(folder.padTokenId, 0, "SD2 pads with \"!\"")
        XCTAssertEqual(single.padTokenId, 0)
        XCTAssertEqual(try schedulerValue(folder, "prediction_type") as? String, "v_prediction")
        XCTAssertEqual(try schedulerValue(single, "prediction_type") as? String, "v_prediction")
        XCTAssertEqual(try schedulerValue(single, "_class_name") as? String, "PNDMScheduler")
    }

    func testModelHashIsTheFileSHA256Prefix() throws {
        let single = try load("sd1.safetensors"), folder = try load("sd1")
        let hash = try single.modelHash()
        XCTAssertEqual(hash.count, 10)
        XCTAssertEqual(hash, String(try sha256Hex(ofFileAt: fixturesRoot.appendingPathComponent("sd1.safetensors")).prefix(10)))
        XCTAssertEqual(folder.hashedFileURL.lastPathComponent, "diffusion_pytorch_model.safetensors")
        XCTAssertEqual(folder.hashedFileURL.deletingLastPathComponent().lastPathComponent, "unet")
        XCTAssertNotEqual(try folder.modelHash(), hash)
    }
}
