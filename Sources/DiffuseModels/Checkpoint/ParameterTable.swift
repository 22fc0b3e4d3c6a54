// The parameter tables: for each component, every diffusers/transformers parameter (name and shape) with
// the original single-file (LDM / CompVis / OpenCLIP) tensor it comes from. A table is generated from the
// component's config, so it is both the key map for single files and the shape check for diffusers folders.

/// How an original tensor becomes the diffusers one.
enum Conversion: Equatable {
    case copy
    /// 1×1 conv weight [C, C, 1, 1] (or [C, C, 1]) used as a linear layer [C, C] (VAE mid-block attention).
    case squeeze
    /// Matrix transpose (OpenCLIP's `text_projection` is stored [hidden, projection]).
    case transpose
    /// Part `part` of 3 equal row blocks of a fused q/k/v projection (OpenCLIP `in_proj_weight/bias`).
    case qkv(part: Int)
}

struct ParameterEntry: Equatable {
    /// diffusers / transformers parameter name.
    let name: String
    let shape: [Int]
    /// Full original key in a single-file checkpoint.
    let original: String
    let conversion: Conversion
    /// Absent in some real files (then simply not loaded).
    let optional: Bool

    /// The shape the original tensor must have.
    var originalShape: [Int] {
        switch conversion {
        case .copy: return shape
        case .squeeze: return shape + [1, 1]
        case .transpose: return [shape[1], shape[0]]
        case .qkv: return [shape[0] * 3] + shape.dropFirst()
        }
    }
}

/// Appends entries for the common layer kinds; `d` is the diffusers prefix, `o` the original one.
struct TableBuilder {
    let originalPrefix: String
    var entries: [ParameterEntry] = []

    mutating func add(_ d: String, _ shape: [Int], _ o: String, _ conversion: Conversion = .copy, optional: Bool = false) {
        entries.append(ParameterEntry(name: d, shape: shape, original: originalPrefix + o, conversion: conversion,
                                      optional: optional))
    }

    mutating func weightAndBias(_ d: String, _ o: String, _ shape: [Int], bias: Bool = true,
                                _ conversion: Conversion = .copy) {
        add(d + ".weight", shape, o + ".weight", conversion)
        if bias { add(d + ".bias", [shape[0]], o + ".bias", conversion == .squeeze ? .copy : conversion) }
    }

    mutating func linear(_ d: String, _ o: String, out: Int, in: Int, bias: Bool = true) {
        weightAndBias(d, o, [out, `in`], bias: bias)
    }

    mutating func conv(_ d: String, _ o: String, out: Int, in: Int, kernel: Int) {
        weightAndBias(d, o, [out, `in`, kernel, kernel])
    }

    mutating func norm(_ d: String, _ o: String, _ channels: Int) {
        weightAndBias(d, o, [channels])
    }
}
