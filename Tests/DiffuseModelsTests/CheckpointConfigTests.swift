import Foundation
import XCTest
@testable import DiffuseModels

final class CheckpointConfigTests: XCTestCase {
    private func unet(_ json: String) throws -> UNetConfig {
        try decodeConfig(UNetConfig.self, from: Data(json.utf8), source: "unet/config.json")
    }

    func testEmptyConfigGivesDiffusersDefaults() throws {
        let c = try unet("{}")
        XCTAssertEqual(c, UNetConfig())
        XCTAssertEqual(c.blockOutChannels, [320, 640, 1280, 1280])
        XCTAssertEqual(c.crossAttentionDim, .one(1280))
        XCTAssertEqual(c.midBlockType, "UNetMidBlock2DCrossAttn")
        XCTAssertNoThrow(try c.validate(source: "defaults"))
        XCTAssertEqual(try decodeConfig(VAEConfig.self, from: Data("{}".utf8), source: "v"), VAEConfig())
        XCTAssertEqual(try decodeConfig(CLIPTextConfig.self, from: Data("{}".utf8), source: "t").hiddenAct, "quick_gelu")
    }

    func testSD2StyleListsNullsAndUnknownKeys() throws {
        let c = try unet("""
        {"_class_name": "UNet2DConditionModel", "block_out_channels": [320, 640, 1280, 1280],
         "attention_head_dim": [5, 10, 20, 20], "num_attention_heads": null, "transformer_layers_per_block": [1, 2, 2, 2],
         "use_linear_projection": true, "cross_attention_dim": 1024, "sample_size": 96, "norm_num_groups": 32,
         "some_future_key": {"nested": [1, 2]}, "class_embed_type": null}
        """)
        XCTAssertEqual(c.headsPerBlock, [5, 10, 20, 20])
        XCTAssertEqual(c.transformerDepthPerBlock, [1, 2, 2, 2])
        XCTAssertEqual(c.crossAttentionDimension, 1024)
        XCTAssertEqual(c.sampleSize, .one(96))
        XCTAssertTrue(c.useLinearProjection)
        XCTAssertNoThrow(try c.validate(source: "sd2"))
        // num_attention_heads, when set, takes precedence (diffusers' reading).
        XCTAssertEqual(try unet(#"{"num_attention_heads": 4, "attention_head_dim": 8}"#).headsPerBlock, [4, 4, 4, 4])
    }

    func testEncodeDecodeRoundTrip() throws {
        var c = UNetConfig()
        c.attentionHeadDim = .list([2, 4, 8, 8])
        c.upcastAttention = true
        let again = try JSONDecoder().decode(UNetConfig.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(again, c)
    }

    func testWrongTypeNamesTheKey() {
        XCTAssertThrowsError(try unet(#"{"in_channels": "four"}"#)) { e in
            XCTAssertEqual("\(e)", "unet/config.json: key \"in_channels\" has a value of the wrong type; fix or regenerate the config")
        }
        XCTAssertThrowsError(try unet("[1]")) { XCTAssertTrue("\($0)".contains("not a JSON object"), "\($0)") }
    }

    func testUnsupportedValuesAreRefused() throws {
        let cases: [(String, String)] = [
            (#"{"mid_block_type": "UNetMidBlock2DSimpleCrossAttn"}"#, "unsupported mid_block_type"),
            (#"{"addition_embed_type": "text_time"}"#, "unsupported addition_embed_type = text_time"),
            (#"{"attention_head_dim": [8, 8]}"#, "unsupported attention_head_dim"),
            (#"{"attention_head_dim": 7}"#, "unsupported attention_head_dim = one(7)"),
            (#"{"layers_per_block": [1, 2, 2, 2]}"#, "unsupported layers_per_block"),
            (#"{"down_block_types": ["SimpleCrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D"]}"#,
             "unsupported down_block_types"),
            (#"{"conv_in_kernel": 7}"#, "unsupported conv_in_kernel/conv_out_kernel = 7/3"),
        ]
        for (json, expected) in cases {
            XCTAssertThrowsError(try unet(json).validate(source: "u.json"), json) { e in
                XCTAssertTrue("\(e)".hasPrefix("u.json: " + expected), "\(json): \(e)")
            }
        }
    }

    func testVAEAndTextRefusals() throws {
        let vae = try decodeConfig(VAEConfig.self, from: Data(#"{"shift_factor": null, "mid_block_add_attention": false}"#.utf8), source: "v")
        XCTAssertNoThrow(try vae.validate(source: "v"))
        XCTAssertFalse(vae.midBlockAddAttention)
        let flux = try decodeConfig(VAEConfig.self, from: Data(#"{"shift_factor": 0.1159}"#.utf8), source: "v")
        XCTAssertThrowsError(try flux.validate(source: "v")) { XCTAssertTrue("\($0)".contains("shift_factor"), "\($0)") }
        let text = try decodeConfig(CLIPTextConfig.self, from: Data(#"{"hidden_act": "relu"}"#.utf8), source: "t")
        XCTAssertThrowsError(try text.validate(source: "t")) { XCTAssertTrue("\($0)".contains("hidden_act = relu"), "\($0)") }
    }
}
