import Foundation

// Single-file original checkpoints (CompVis/LDM layout, as A1111 and ComfyUI load them). The architecture
// is read from tensor shapes; what shapes cannot tell (head counts, prediction type, upcasting) comes from
// the optional "diffuse.hints" metadata entry, else from the standard SD1 / SD2 values.

/// The "diffuse.hints" safetensors metadata entry (a JSON string).
struct SingleFileHints: Decodable {
    var unetAttentionHeadDim: OneOrList<Int>?
    var textNumAttentionHeads: Int?
    var predictionType: String?
    var upcastAttention: Bool?

    enum CodingKeys: String, CodingKey {
        case unetAttentionHeadDim = "unet_attention_head_dim", textNumAttentionHeads = "text_num_attention_heads"
        case predictionType = "prediction_type", upcastAttention = "upcast_attention"
    }

    static let metadataKey = "diffuse.hints"

    static func read(_ file: SafeTensorsFile) throws -> SingleFileHints {
        guard let text = file.metadata[metadataKey] else { return SingleFileHints() }
        let hints = try decodeConfig(SingleFileHints.self, from: Data(text.utf8),
                                     source: "\(file.url.path) (metadata \"\(metadataKey)\")")
        if let p = hints.predictionType, !["epsilon", "v_prediction"].contains(p) {
            throw ModelFileError("\(file.url.path): metadata \"\(metadataKey)\" has prediction_type \"\(p)\"; "
                + "expected epsilon or v_prediction")
        }
        return hints
    }
}

/// The standard values real SD checkpoints were trained with, for what tensor shapes cannot tell.
struct FamilyDefaults {
    let family: ModelFamily

    /// SD1: 8 heads everywhere; SD2: 64-wide heads.
    func unetHeads(_ channels: [Int]) -> OneOrList<Int> {
        family == .sd1 ? .one(8) : .list(channels.map { max($0 / 64, 1) })
    }
    func textHeads(hidden: Int) -> Int { max(hidden / 64, 1) }
    /// SD 2.x single files are almost always the 768-v models; SD 2.x-base users pass a hint or a folder.
    var predictionType: String { family == .sd1 ? "epsilon" : "v_prediction" }
    var upcastAttention: Bool { family == .sd2 }
    var padTokenId: Int { family == .sd1 ? 49407 : 0 }
    var clipSkip: Int { family == .sd1 ? 1 : 2 }
}

func detectFamily(_ file: SafeTensorsFile) throws -> ModelFamily {
    let names = file.names
    let path = file.url.path
    func any(_ prefix: String) -> Bool { names.contains { $0.hasPrefix(prefix) } }
    if any("conditioner.") || any("cond_stage_model.1.") {
        throw ModelFileError("\(path): unsupported architecture: SDXL-style text encoders (conditioner.embedders.*); "
            + "Diffuse loads SD 1.x and 2.x checkpoints")
    }
    if names.contains(where: { $0.hasPrefix("lora_") || $0.contains(".lora_") || $0.contains("lora_down") }) {
        throw ModelFileError("\(path): unsupported architecture: this is a LoRA, not a full checkpoint; load a base model")
    }
    guard any("model.diffusion_model.") else {
        throw ModelFileError("\(path): unsupported architecture: no UNet (model.diffusion_model.*); a VAE, LoRA or "
            + "embedding file is not a full checkpoint")
    }
    guard any("model.diffusion_model.input_blocks.") else {
        throw ModelFileError("\(path): unsupported architecture: the diffusion model has no input_blocks (not an SD 1.x/2.x "
            + "UNet, e.g. SD3/Flux)")
    }
    guard any("first_stage_model.") else {
        throw ModelFileError("\(path): unsupported architecture: no VAE (first_stage_model.*); this is not a full SD checkpoint")
    }
    if any("cond_stage_model.transformer.") { return .sd1 }
    if any("cond_stage_model.model.") { return .sd2 }
    throw ModelFileError("\(path): unsupported architecture: no text encoder (cond_stage_model.transformer.* for SD1 or "
        + "cond_stage_model.model.* for SD2)")
}

func loadSingleFile(_ url: URL) throws -> LoadedCheckpoint {
    let file = try SafeTensorsFile(url: url)
    let family = try detectFamily(file)
    let hints = try SingleFileHints.read(file)
    let defaults = FamilyDefaults(family: family)
    let shapes = ShapeReader(file: file)
    let source = url.path
    let unetConfig = try inferUNetConfig(shapes, defaults: defaults, hints: hints)
    try unetConfig.validate(source: source)
    let vaeConfig = try inferVAEConfig(shapes, defaults: defaults)
    try vaeConfig.validate(source: source)
    let textConfig = try inferTextConfig(shapes, defaults: defaults, hints: hints)
    try textConfig.validate(source: source)

    var consumed = Set<String>()
    let unet = try convertSingleFile(file, table: unetTable(unetConfig), consumed: &consumed)
    let vae = try convertSingleFile(file, table: vaeTable(vaeConfig), consumed: &consumed)
    let textTable = family == .sd1
        ? clipTable(textConfig, originalPrefix: sd1TextPrefix(in: file)) : openCLIPTable(textConfig)
    let text = try convertSingleFile(file, table: textTable, consumed: &consumed)
    try refuseUnmappedKeys(file, consumed: consumed)

    return LoadedCheckpoint(
        url: url, layout: .singleFile, family: family, name: url.deletingPathExtension().lastPathComponent,
        unetConfig: unetConfig, vaeConfig: vaeConfig, textConfig: textConfig,
        schedulerConfigJSON: standardSchedulerConfig(predictionType: hints.predictionType ?? defaults.predictionType),
        tokenizer: .builtin, padTokenId: defaults.padTokenId, defaultClipSkip: defaults.clipSkip,
        unet: unet, vae: vae, textEncoder: text, hashedFileURL: url)
}

/// SD 1.x/2.x's scheduler_config.json (PNDM as the original pipelines shipped, scaled-linear betas).
func standardSchedulerConfig(predictionType: String) -> Data {
    let config: [String: Any] = [
        "_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
        "clip_sample": false, "timestep_spacing": "leading", "prediction_type": predictionType, "trained_betas": NSNull(),
    ]
    // Serialising a fixed dictionary of plain values cannot fail.
    return (try? JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted])) ?? Data()
}
