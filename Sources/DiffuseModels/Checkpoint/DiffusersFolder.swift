import Foundation

// diffusers pipeline folders: model_index.json names the components; each lives in its own subfolder with
// a config.json and a safetensors weights file (or its .fp16 variant).

func loadDiffusersFolder(_ url: URL) throws -> LoadedCheckpoint {
    try checkModelIndex(url)
    let unetDir = url.appendingPathComponent("unet"), vaeDir = url.appendingPathComponent("vae")
    let textDir = url.appendingPathComponent("text_encoder")

    let unetConfig = try decodeConfig(UNetConfig.self, from: unetDir.appendingPathComponent("config.json"))
    try unetConfig.validate(source: unetDir.appendingPathComponent("config.json").path)
    let vaeConfig = try decodeConfig(VAEConfig.self, from: vaeDir.appendingPathComponent("config.json"))
    try vaeConfig.validate(source: vaeDir.appendingPathComponent("config.json").path)
    let textConfig = try decodeConfig(CLIPTextConfig.self, from: textDir.appendingPathComponent("config.json"))
    try textConfig.validate(source: textDir.appendingPathComponent("config.json").path)

    let unetFile = try SafeTensorsFile(url: try weightsFile(in: unetDir, base: "diffusion_pytorch_model"))
    let unet = try loadComponentWeights(unetFile, table: unetTable(unetConfig))
    let vae = try loadComponentWeights(SafeTensorsFile(url: try weightsFile(in: vaeDir, base: "diffusion_pytorch_model")),
                                       table: vaeTable(vaeConfig))
    // Files written by transformers 4 prefix every name with "text_model."; transformers 5 does not. The
    // OpenCLIP table has the same transformers names as the CLIP one, plus the optional text_projection of
    // CLIPTextModelWithProjection.
    let text = try loadComponentWeights(SafeTensorsFile(url: try weightsFile(in: textDir, base: "model")),
                                        table: openCLIPTable(textConfig)) { name in
        name.hasPrefix("text_model.") ? String(name.dropFirst("text_model.".count)) : name
    }

    let tokenizerDir = url.appendingPathComponent("tokenizer")
    let vocab = tokenizerDir.appendingPathComponent("vocab.json"), merges = tokenizerDir.appendingPathComponent("merges.txt")
    for f in [vocab, merges] where !FileManager.default.fileExists(atPath: f.path) {
        throw ModelFileError("\(f.path): missing; the tokenizer folder is incomplete — re-download the model folder")
    }
    let schedulerURL = url.appendingPathComponent("scheduler/scheduler_config.json")
    guard let scheduler = FileManager.default.contents(atPath: schedulerURL.path),
          (try? JSONSerialization.jsonObject(with: scheduler)) is [String: Any] else {
        throw ModelFileError("\(schedulerURL.path): missing or not a JSON object; re-download the model folder")
    }
    return LoadedCheckpoint(
        url: url, layout: .diffusersFolder, family: textConfig.hiddenAct == "gelu" ? .sd2 : .sd1,
        name: url.lastPathComponent, unetConfig: unetConfig, vaeConfig: vaeConfig, textConfig: textConfig,
        schedulerConfigJSON: scheduler, tokenizer: .files(vocab: vocab, merges: merges),
        padTokenId: try padTokenId(tokenizerDir: tokenizerDir, vocab: vocab), defaultClipSkip: 1,
        unet: unet, vae: vae, textEncoder: text, hashedFileURL: unetFile.url)
}

/// Checks the components of model_index.json ([library, class] pairs). Entries set to [null, null] (a removed safety
/// checker), plain null, and scalar flags are skipped; the five SD components must be present.
func checkModelIndex(_ folder: URL) throws {
    let url = folder.appendingPathComponent("model_index.json")
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw ModelFileError("\(folder.path): no model_index.json; pass a diffusers pipeline folder or a single "
            + ".safetensors checkpoint")
    }
    guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
        throw ModelFileError("\(url.path): is not a JSON object; re-download the model folder")
    }
    var components: [String: (library: String, className: String)] = [:]
    for (key, value) in root where !key.hasPrefix("_") {
        if let pair = value as? [Any], pair.count == 2, let lib = pair[0] as? String, let cls = pair[1] as? String {
            components[key] = (lib, cls)
        }
    }
    for key in ["text_encoder_2", "transformer", "prior"] where components[key] != nil {
        throw ModelFileError("\(url.path): unsupported architecture: the pipeline has a \"\(key)\" component "
            + "(\(root["_class_name"] ?? "unknown pipeline")); Diffuse loads SD 1.x and 2.x pipelines")
    }
    let expected: [(String, [String])] = [
        ("unet", ["UNet2DConditionModel"]), ("vae", ["AutoencoderKL"]),
        ("text_encoder", ["CLIPTextModel", "CLIPTextModelWithProjection"]),
        ("tokenizer", ["CLIPTokenizer", "CLIPTokenizerFast"]), ("scheduler", []),
    ]
    for (key, classes) in expected {
        guard let c = components[key] else {
            throw ModelFileError("\(url.path): has no \"\(key)\" component; the folder is not a complete Stable "
                + "Diffusion pipeline")
        }
        if !classes.isEmpty && !classes.contains(c.className) {
            throw ModelFileError("\(url.path): unsupported architecture: \(key) is \(c.className), expected "
                + classes.joined(separator: " or "))
        }
    }
}

/// `<base>.safetensors`, else `<base>.fp16.safetensors`; pickles and sharded weights are refused.
func weightsFile(in dir: URL, base: String) throws -> URL {
    let fm = FileManager.default
    for name in ["\(base).safetensors", "\(base).fp16.safetensors"] where fm.fileExists(atPath: dir.appendingPathComponent(name).path) {
        return dir.appendingPathComponent(name)
    }
    for name in ["\(base).safetensors.index.json", "\(base).fp16.safetensors.index.json"]
    where fm.fileExists(atPath: dir.appendingPathComponent(name).path) {
        throw ModelFileError("\(dir.appendingPathComponent(name).path): sharded weights are not supported; save the "
            + "component as one .safetensors file")
    }
    for name in ["\(base).bin", "\(base).fp16.bin"] where fm.fileExists(atPath: dir.appendingPathComponent(name).path) {
        try refusePickle(at: dir.appendingPathComponent(name))
    }
    throw ModelFileError("\(dir.path): no \(base).safetensors (or \(base).fp16.safetensors); the model folder is "
        + "incomplete — re-download it")
}

/// The pad token's id: special_tokens_map.json's pad_token, else tokenizer_config.json's, else CLIP's default
/// "<|endoftext|>", looked up in vocab.json.
func padTokenId(tokenizerDir: URL, vocab: URL) throws -> Int {
    func padToken(in file: String) -> String? {
        guard let data = FileManager.default.contents(atPath: tokenizerDir.appendingPathComponent(file).path),
              let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        if let s = root["pad_token"] as? String { return s }
        return (root["pad_token"] as? [String: Any])?["content"] as? String
    }
    let token = padToken(in: "special_tokens_map.json") ?? padToken(in: "tokenizer_config.json") ?? "<|endoftext|>"
    guard let data = FileManager.default.contents(atPath: vocab.path),
          let table = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
        throw ModelFileError("\(vocab.path): is not a JSON object of token ids; re-download the model folder")
    }
    guard let id = (table[token] as? Int) ?? (table[token] as? NSNumber)?.intValue else {
        throw ModelFileError("\(vocab.path): has no entry for the pad token \"\(token)\"; the tokenizer files do not match")
    }
    return id
}
