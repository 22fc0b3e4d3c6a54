import Foundation
import XCTest
@testable import DiffuseModels

/// Bad folders and files must fail with one line naming the problem.
final class CheckpointErrorTests: XCTestCase {
    private let sd1 = fixturesRoot.appendingPathComponent("sd1")

    private func assertFails(_ url: URL, mentioning expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try loadCheckpoint(at: url), file: file, line: line) { e in
            let text = "\(e)"
            XCTAssertTrue(e is ModelFileError, "\(type(of: e))", file: file, line: line)
            XCTAssertTrue(text.contains(expected), "expected \"\(expected)\" in: \(text)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
        }
    }

    /// A pipeline folder whose components link to the sd1 fixture, with `index` as model_index.json and
    /// optional replacement component folders.
    private func folder(index: [String: Any]? = nil, replacing: [String: (URL) throws -> Void] = [:],
                        name: String = #function) throws -> URL {
        let dir = try scratchFolder(name)
        var model = try JSONSerialization.jsonObject(with: Data(contentsOf: sd1.appendingPathComponent("model_index.json"))) as! [String: Any]
        if let index { model = index }
        try JSONSerialization.data(withJSONObject: model).write(to: dir.appendingPathComponent("model_index.json"))
        for part in ["unet", "vae", "text_encoder", "tokenizer", "scheduler"] {
            let target = dir.appendingPathComponent(part)
            if let make = replacing[part] {
                try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
                try make(target)
            } else {
                try FileManager.default.createSymbolicLink(at: target, withDestinationURL: sd1.appendingPathComponent(part))
            }
        }
        return dir
    }

    private func linkUNetConfig(_ dir: URL) throws {
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("config.json"),
                                                   withDestinationURL: sd1.appendingPathComponent("unet/config.json"))
    }

    func testMissingPathAndPlainFolder() throws {
        assertFails(URL(fileURLWithPath: "/nonexistent/model"), mentioning: "no such file or folder")
        assertFails(try scratchFolder(), mentioning: "no model_index.json")
    }

    func testNullComponentsAndFlagsAreTolerated() throws {
        let dir = try folder(index: [
            "_class_name": "StableDiffusionPipeline", "requires_safety_checker": true, "image_encoder": NSNull(),
            "safety_checker": [NSNull(), NSNull()], "feature_extractor": [NSNull(), NSNull()],
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
            "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
            "scheduler": ["diffusers", "PNDMScheduler"],
        ])
        XCTAssertEqual(try loadCheckpoint(at: dir).family, .sd1)
    }

    func testMissingComponentIsNamed() throws {
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: sd1.appendingPathComponent("model_index.json"))) as! [String: Any]
        index["vae"] = [NSNull(), NSNull()]
        assertFails(try folder(index: index), mentioning: "has no \"vae\" component")
    }

    func testSDXLPipelineIsUnsupported() throws {
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: sd1.appendingPathComponent("model_index.json"))) as! [String: Any]
        index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
        assertFails(try folder(index: index), mentioning: "unsupported architecture")
    }

    func testMissingWeightsFileAndPickleWeights() throws {
        assertFails(try folder(replacing: ["unet": linkUNetConfig], name: "missingWeights"),
                    mentioning: "no diffusion_pytorch_model.safetensors")
        let pickled = try folder(replacing: ["unet": { dir in
            try self.linkUNetConfig(dir)
            try Data([0x80, 0x02, 0x7D, 0x71]).write(to: dir.appendingPathComponent("diffusion_pytorch_model.bin"))
        }], name: "pickled")
        assertFails(pickled, mentioning: "is a PyTorch pickle checkpoint; convert it to .safetensors first")
    }

    func testFP16VariantIsUsedWhenItIsTheOnlyFile() throws {
        let dir = try folder(replacing: ["unet": { dir in
            try self.linkUNetConfig(dir)
            try FileManager.default.createSymbolicLink(
                at: dir.appendingPathComponent("diffusion_pytorch_model.fp16.safetensors"),
                withDestinationURL: self.sd1.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        }])
        let loaded = try loadCheckpoint(at: dir)
        XCTAssertEqual(loaded.hashedFileURL.lastPathComponent, "diffusion_pytorch_model.fp16.safetensors")
        XCTAssertEqual(loaded.unet.count, try loadCheckpoint(at: sd1).unet.count)
    }

    func testUnsupportedConfigValueIsNamed() throws {
        let dir = try folder(replacing: ["unet": { dir in
            var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: self.sd1.appendingPathComponent("unet/config.json"))) as! [String: Any]
            cfg["time_cond_proj_dim"] = 256
            try JSONSerialization.data(withJSONObject: cfg).write(to: dir.appendingPathComponent("config.json"))
        }])
        assertFails(dir, mentioning: "unsupported time_cond_proj_dim = 256")
    }

    func testWeightsThatDoNotMatchTheConfig() throws {
        let dir = try folder(replacing: ["unet": { dir in
            var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: self.sd1.appendingPathComponent("unet/config.json"))) as! [String: Any]
            cfg["cross_attention_dim"] = 32
            try JSONSerialization.data(withJSONObject: cfg).write(to: dir.appendingPathComponent("config.json"))
            try FileManager.default.createSymbolicLink(
                at: dir.appendingPathComponent("diffusion_pytorch_model.safetensors"),
                withDestinationURL: self.sd1.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        }])
        assertFails(dir, mentioning: "but config.json implies")
    }
}
