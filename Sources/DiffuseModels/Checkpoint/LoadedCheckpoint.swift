import Foundation

public enum ModelFamily: String, Sendable, Equatable {
    case sd1, sd2
}

/// Where the CLIP BPE tokenizer files come from.
public enum TokenizerSource: Equatable, Sendable {
    /// A diffusers folder's `tokenizer/vocab.json` and `tokenizer/merges.txt`.
    case files(vocab: URL, merges: URL)
    /// Single-file checkpoints carry no tokenizer: use the standard CLIP vocabulary built into Diffuse.
    case builtin
}

/// A Stable Diffusion checkpoint ready for the models: configs, tokenizer, scheduler config, and every
/// weight under its diffusers / transformers parameter name (text encoder: transformers 5 names, without a
/// `text_model.` prefix, e.g. `encoder.layers.0.self_attn.q_proj.weight`). Weights point into the
/// memory-mapped files where the layout allows, and keep those maps alive.
public struct LoadedCheckpoint: Sendable {
    public enum Layout: String, Sendable { case diffusersFolder, singleFile }

    public var url: URL
    public var layout: Layout
    public var family: ModelFamily
    /// File or folder name without extension (for UIs and image metadata).
    public var name: String
    public var unetConfig: UNetConfig
    public var vaeConfig: VAEConfig
    public var textConfig: CLIPTextConfig
    /// scheduler_config.json as stored (diffusers folder) or SD's standard one (single file).
    public var schedulerConfigJSON: Data
    public var tokenizer: TokenizerSource
    public var padTokenId: Int
    /// 1 = last CLIP layer. Single-file SD2 checkpoints hold the full OpenCLIP tower and SD2 uses the
    /// penultimate layer (2); diffusers' SD2 text_encoder already has that layer removed (1).
    public var defaultClipSkip: Int
    public var unet: [String: Weight]
    public var vae: [String: Weight]
    public var textEncoder: [String: Weight]
    /// The file the A1111 model hash is computed from (the checkpoint, or a folder's UNet weights).
    public var hashedFileURL: URL

    /// AUTOMATIC1111's short model hash (first 10 hex digits of the SHA-256 of `hashedFileURL`). Reads the
    /// whole file: seconds for a 2 GB checkpoint, so only call it when the hash is wanted.
    public func modelHash() throws -> String {
        try a1111ModelHash(ofFileAt: hashedFileURL)
    }
}

/// Loads a diffusers pipeline folder (model_index.json + unet/ vae/ text_encoder/ tokenizer/ scheduler/) or
/// a single-file original SD 1.x / 2.x `.safetensors` checkpoint. Every problem is a `ModelFileError`.
public func loadCheckpoint(at url: URL) throws -> LoadedCheckpoint {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
        throw ModelFileError("\(url.path): no such file or folder; pass a diffusers folder or a .safetensors checkpoint")
    }
    if isDirectory.boolValue { return try loadDiffusersFolder(url) }
    return try loadSingleFile(url)
}
