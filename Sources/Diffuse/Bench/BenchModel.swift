import DiffuseModels
import Foundation

// The benchmark's model: Stable Diffusion 1.5's exact architecture (configs as published in the
// runwayml/stable-diffusion-v1-5 diffusers folder) with random weights stored as fp16, plus the real CLIP
// tokenizer files, so speed and memory can be measured — against diffusers on the same folder — with
// no download. The pictures it makes are noise; only the arithmetic matters.
public enum BenchModel {
    static let unetConfig = """
    {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 8,
     "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false, "cross_attention_dim": 768,
     "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
     "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
     "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
     "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
    """
    static let vaeConfig = """
    {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
     "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
     "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
     "sample_size": 512, "scaling_factor": 0.18215,
     "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]}
    """
    static let textConfig = """
    {"architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
     "eos_token_id": 2, "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
     "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05, "max_position_embeddings": 77,
     "model_type": "clip_text_model", "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
     "projection_dim": 768, "vocab_size": 49408}
    """
    static let schedulerConfig = """
    {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
     "clip_sample": false, "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
     "steps_offset": 1, "trained_betas": null}
    """
    static let modelIndex = """
    {"_class_name": "StableDiffusionPipeline", "feature_extractor": [null, null], "requires_safety_checker": false,
     "safety_checker": [null, null], "scheduler": ["diffusers", "PNDMScheduler"],
     "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
     "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
    """

    /// Writes the folder (about 2 GB) unless it already holds a complete bench model.
    public static func write(to dir: URL, seed: UInt64 = 1) throws {
        let fm = FileManager.default
        func file(_ path: String, _ text: String) throws {
            let url = dir.appendingPathComponent(path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        try file("model_index.json", modelIndex)
        try file("unet/config.json", unetConfig)
        try file("vae/config.json", vaeConfig)
        try file("text_encoder/config.json", textConfig)
        try file("scheduler/scheduler_config.json", schedulerConfig)
        try writeTokenizer(to: dir.appendingPathComponent("tokenizer"))
        var rng = SplitMix(seed: seed)
        let decoder = JSONDecoder()
        let unet = try decoder.decode(UNetConfig.self, from: Data(unetConfig.utf8))
        let vae = try decoder.decode(VAEConfig.self, from: Data(vaeConfig.utf8))
        let text = try decoder.decode(CLIPTextConfig.self, from: Data(textConfig.utf8))
        try writeWeights(unetParameterShapes(unet), to: dir.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"), rng: &rng)
        try writeWeights(vaeParameterShapes(vae), to: dir.appendingPathComponent("vae/diffusion_pytorch_model.safetensors"), rng: &rng)
        try writeWeights(textEncoderParameterShapes(text).map { ("text_model." + $0.name, $0.shape) },
                         to: dir.appendingPathComponent("text_encoder/model.safetensors"), rng: &rng)
    }

    /// vocab.json + merges.txt of the real CLIP tokenizer, from the merges built into Diffuse.
    static func writeTokenizer(to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tok = try CLIPTokenizer.builtin()
        let vocab = tok.vocabulary.sorted { $0.value < $1.value }
        let json = try JSONSerialization.data(withJSONObject: Dictionary(uniqueKeysWithValues: vocab.map { ($0.key, Int($0.value)) }))
        try json.write(to: dir.appendingPathComponent("vocab.json"))
        guard let merges = CLIPTokenizer.builtinMergesURL else {
            throw GenerationError("the built-in CLIP merges file is missing from this installation; reinstall Diffuse")
        }
        try FileManager.default.copyItem(at: merges, to: dir.appendingPathComponent("merges.txt"))
        // SD 1.5's tokenizer_config.json settings: without model_max_length, transformers' tokenizer takes
        // an unbounded length and diffusers' pipeline fails on "padding to max_length".
        let config = #"{"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "#
            + #""pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "do_lower_case": true}"#
        try Data(config.utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
    }

    /// Torch's default init scale (uniform ±1/√fan_in) for weights, ones for norm scales, small biases.
    static func writeWeights(_ shapes: [(name: String, shape: [Int])], to url: URL, rng: inout SplitMix) throws {
        var tensors: [(String, Weight)] = []
        for (name, shape) in shapes {
            let count = shape.reduce(1, *)
            let isNorm = name.contains("norm") && name.hasSuffix(".weight")
            let fanIn = shape.count > 1 ? shape.dropFirst().reduce(1, *) : max(count, 1)
            let bound = name.hasSuffix(".bias") ? 0.02 : 1 / Float(fanIn).squareRoot()
            var bytes = [UInt8](repeating: 0, count: count * 2)
            for i in 0..<count {
                let v: Float = isNorm ? 1 : (rng.nextUnit() * 2 - 1) * bound
                let h = floatToHalf(v)
                bytes[2 * i] = UInt8(h & 0xff); bytes[2 * i + 1] = UInt8(h >> 8)
            }
            tensors.append((name, Weight(shape: shape, dtype: .f16, bytes: bytes)))
        }
        try SafeTensorsWriter.write(tensors: tensors, metadata: ["format": "pt"], to: url)
    }
}

/// A fast deterministic generator for random weights (quality is irrelevant here).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
