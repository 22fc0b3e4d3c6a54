import Foundation

// Applying the parameter tables. Single files: every table entry is looked up under its original key,
// shape-checked and converted; any original key no table consumed is an error unless it is a known extra
// (EMA copies, training buffers, position ids). Folders: names and shapes are checked against the table.

enum KnownExtras {
    /// Buffers of LDM's LatentDiffusion training wrapper that real checkpoints carry.
    static let keys: Set<String> = [
        "alphas_cumprod", "alphas_cumprod_prev", "betas", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
        "logvar", "lvlb_weights", "cond_stage_model.model.logit_scale", "cond_stage_model.model.attn_mask",
    ]
    /// EMA weights (the non-EMA ones are loaded) and the VAE's training loss / discriminator.
    static let prefixes = ["model_ema.", "first_stage_model.loss."]
    /// CLIP's constant position-id buffer, stored by older transformers versions.
    static let suffixes = [".position_ids"]

    static func contains(_ key: String) -> Bool {
        keys.contains(key) || prefixes.contains { key.hasPrefix($0) } || suffixes.contains { key.hasSuffix($0) }
    }
}

/// Converts the tensors of `table` from a single file; returns them by diffusers name and records the
/// original keys used in `consumed`.
func convertSingleFile(_ file: SafeTensorsFile, table: [ParameterEntry], consumed: inout Set<String>) throws -> [String: Weight] {
    var out: [String: Weight] = [:]
    for e in table {
        guard let info = file.info(named: e.original) else {
            if e.optional { continue }
            throw ModelFileError("\(file.url.path): missing tensor \"\(e.original)\" (diffusers \"\(e.name)\"); the "
                + "checkpoint is incomplete or not a standard SD 1.x/2.x model")
        }
        try checkOriginalShape(info.shape, e, file: file)
        consumed.insert(e.original)
        switch e.conversion {
        case .copy:
            out[e.name] = try file.requireWeight(named: e.original)
        case .squeeze:
            out[e.name] = try file.requireWeight(named: e.original).reshaped(e.shape)
        case .transpose:
            out[e.name] = transposed(try file.requireWeight(named: e.original))
        case .qkv(let part):
            out[e.name] = try file.rows(of: e.original, first: part * e.shape[0], count: e.shape[0])
        }
    }
    return out
}

private func checkOriginalShape(_ shape: [Int], _ e: ParameterEntry, file: SafeTensorsFile) throws {
    var ok = shape == e.originalShape
    if e.conversion == .squeeze {
        // 1×1 conv [C, C, 1, 1], conv1d [C, C, 1] or already linear [C, C]: all hold the same numbers.
        ok = shape.count >= 2 && Array(shape.prefix(2)) == e.shape && shape.dropFirst(2).allSatisfy { $0 == 1 }
    }
    guard ok else {
        throw ModelFileError("\(file.url.path): tensor \"\(e.original)\" has shape \(shape) but the architecture read "
            + "from the file expects \(e.originalShape); the checkpoint is inconsistent or not SD 1.x/2.x")
    }
}

/// A [R, C] weight as [C, R], same dtype, exact (bytes are moved, not converted).
private func transposed(_ w: Weight) -> Weight {
    let rows = w.shape[0], cols = w.shape[1], size = w.dtype.byteSize
    var bytes = [UInt8](repeating: 0, count: max(rows * cols * size, 4))
    bytes.withUnsafeMutableBytes { out in
        for r in 0..<rows {
            for c in 0..<cols {
                let from = w.base + (r * cols + c) * size
                out.baseAddress!.advanced(by: (c * rows + r) * size).copyMemory(from: from, byteCount: size)
            }
        }
    }
    return Weight(shape: [cols, rows], dtype: w.dtype, bytes: bytes)
}

/// The first original key that no table consumed and that is not a known extra, as an error.
func refuseUnmappedKeys(_ file: SafeTensorsFile, consumed: Set<String>) throws {
    let left = file.names.filter { !consumed.contains($0) && !KnownExtras.contains($0) }
    guard let first = left.first else { return }
    let more = left.count > 1 ? " (and \(left.count - 1) more)" : ""
    throw ModelFileError("\(file.url.path): tensor \"\(first)\"\(more) maps to no diffusers parameter; the file is not "
        + "a standard SD 1.x/2.x checkpoint (extra components are not supported)")
}

/// Loads a diffusers component's weights, renaming with `rename` (nil drops a key), and checks them against
/// `table`: every required parameter present with its shape, nothing unknown besides the known extras.
func loadComponentWeights(_ file: SafeTensorsFile, table: [ParameterEntry],
                          rename: (String) -> String = { $0 }) throws -> [String: Weight] {
    let expected = Dictionary(table.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    var out: [String: Weight] = [:]
    for original in file.names {
        let name = rename(original)
        guard let e = expected[name] else {
            if KnownExtras.contains(name) { continue }
            throw ModelFileError("\(file.url.path): unexpected tensor \"\(original)\"; the weights do not match the "
                + "component's config.json — re-download the model folder")
        }
        let w = try file.requireWeight(named: original)
        guard w.shape == e.shape else {
            throw ModelFileError("\(file.url.path): tensor \"\(original)\" has shape \(w.shape) but config.json implies "
                + "\(e.shape); the weights do not match the config — re-download the model folder")
        }
        out[name] = w
    }
    if let missing = table.first(where: { !$0.optional && out[$0.name] == nil }) {
        throw ModelFileError("\(file.url.path): missing tensor \"\(missing.name)\" required by config.json; the weights "
            + "file is incomplete — re-download the model folder")
    }
    return out
}
