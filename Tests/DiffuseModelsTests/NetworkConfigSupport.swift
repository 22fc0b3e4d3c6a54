import Foundation
import XCTest
@testable import DiffuseModels

// Architectures read straight from the fixture folders' config.json files.
enum FixtureArchitectures {
    static func json(_ model: String, _ part: String) throws -> [String: Any] {
        let url = NetworkFixtures.folder(model).appendingPathComponent(part).appendingPathComponent("config.json")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    static func perBlock(_ value: Any?, _ n: Int) -> [Int] {
        if let list = value as? [Int] { return list }
        return Array(repeating: (value as? Int) ?? 1, count: n)
    }

    static func unet(_ model: String) throws -> UNetArchitecture {
        let c = try json(model, "unet")
        let channels = try XCTUnwrap(c["block_out_channels"] as? [Int])
        let n = channels.count
        return UNetArchitecture(
            inChannels: c["in_channels"] as! Int, outChannels: c["out_channels"] as! Int,
            blockOutChannels: channels,
            downBlockAttention: (c["down_block_types"] as! [String]).map { $0.hasPrefix("CrossAttn") },
            upBlockAttention: (c["up_block_types"] as! [String]).map { $0.hasPrefix("CrossAttn") },
            layersPerBlock: perBlock(c["layers_per_block"], n),
            transformerLayersPerBlock: perBlock(c["transformer_layers_per_block"], n),
            headsPerBlock: perBlock(c["attention_head_dim"], n),
            crossAttentionDim: c["cross_attention_dim"] as! Int,
            useLinearProjection: c["use_linear_projection"] as! Bool,
            normNumGroups: c["norm_num_groups"] as! Int, normEps: Float(c["norm_eps"] as! Double),
            flipSinToCos: c["flip_sin_to_cos"] as! Bool, freqShift: c["freq_shift"] as! Int)
    }

    static func vae(_ model: String) throws -> VAEArchitecture {
        let c = try json(model, "vae")
        return VAEArchitecture(
            inChannels: c["in_channels"] as! Int, outChannels: c["out_channels"] as! Int,
            latentChannels: c["latent_channels"] as! Int, blockOutChannels: c["block_out_channels"] as! [Int],
            layersPerBlock: c["layers_per_block"] as! Int, normNumGroups: c["norm_num_groups"] as! Int)
    }

    static func text(_ model: String) throws -> CLIPTextArchitecture {
        let c = try json(model, "text_encoder")
        return CLIPTextArchitecture(
            vocabSize: c["vocab_size"] as! Int, hiddenSize: c["hidden_size"] as! Int,
            intermediateSize: c["intermediate_size"] as! Int, numHiddenLayers: c["num_hidden_layers"] as! Int,
            numAttentionHeads: c["num_attention_heads"] as! Int,
            maxPositionEmbeddings: c["max_position_embeddings"] as! Int,
            hiddenAct: try CLIPTextArchitecture.activation(named: c["hidden_act"] as! String),
            layerNormEps: Float(c["layer_norm_eps"] as! Double))
    }
}
