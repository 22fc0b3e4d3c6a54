// Everything a user asks for in one generation, checked before any model file is opened, so that bad input
// costs nothing and fails with one line that says what to change.

import Foundation

/// A bad user input or a failed generation: one line meant for the user.
public struct GenerationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// The random number generator for noise. `torch` is torch.Generator("cpu").manual_seed(seed), the stream
/// diffusers uses on CPU (A1111 calls it "CPU").
public enum RNGKind: String, CaseIterable, Sendable {
    case torch

    /// A1111's `RNG` infotext value.
    public var a1111Name: String { "CPU" }
}

/// CLI sampler names (contracts.md) and the names A1111 writes in its infotext.
public enum SamplerNames {
    public static let all: [(cli: String, a1111: String)] = [
        ("ddpm", "DDPM"), ("ddim", "DDIM"), ("pndm", "PLMS"), ("euler", "Euler"), ("euler-a", "Euler a"),
        ("heun", "Heun"), ("dpm++2m", "DPM++ 2M"), ("dpm++2m-karras", "DPM++ 2M Karras"), ("lcm", "LCM"),
    ]
    public static var cliNames: [String] { all.map(\.cli) }
    public static func a1111(_ cli: String) -> String? { all.first { $0.cli == cli }?.a1111 }
}

public struct GenerationOptions: Sendable, Equatable {
    public static let maxSide = 2048
    public static let maxSteps = 1000
    public static let maxBatchCount = 100
    public static let maxClipSkip = 12          // CLIP ViT-L/14 has 12 layers; skipping more leaves nothing
    public static let defaultStrength = 0.75

    public var prompt: String
    public var negativePrompt: String = ""
    public var modelPath: String
    public var steps: Int = 50
    public var cfgScale: Double = 7.5
    /// CLI sampler name; nil = the model's own scheduler.
    public var sampler: String?
    /// nil = pick a random one (see `withResolvedSeed`).
    public var seed: UInt64?
    /// nil = the model's default (sample size × VAE factor), or the init image's size.
    public var width: Int?
    public var height: Int?
    public var initImagePath: String?
    /// nil = 0.75 when there is an init image.
    public var strength: Double?
    public var batchCount: Int = 1
    /// nil = `diffuse-<seed>.png` in the current folder.
    public var output: String?
    /// nil = all cores.
    public var threads: Int?
    /// nil = the model's default; 1 = last layer (A1111 numbering).
    public var clipSkip: Int?
    public var eta: Double = 0
    public var rng: RNGKind = .torch
    /// A1111-style 75-token windows for long prompts instead of diffusers' truncation.
    public var chunkedPrompts = false
    public var force = false
    public var quiet = false

    public init(prompt: String, modelPath: String) {
        self.prompt = prompt
        self.modelPath = modelPath
    }

    public var effectiveStrength: Double? { initImagePath == nil ? nil : strength ?? Self.defaultStrength }

    /// A copy with `seed` set, drawing a random one like A1111 (in [0, 4294967294)) when none was given.
    public func withResolvedSeed() -> GenerationOptions {
        var o = self
        if o.seed == nil { o.seed = UInt64.random(in: 0..<4_294_967_294) }
        return o
    }

    /// Seeds of the batch: s, s+1, … (A1111's all_seeds).
    public var seeds: [UInt64] {
        let s = seed ?? 0
        return (0..<batchCount).map { s &+ UInt64($0) }
    }

    /// Output files of the batch. Without -o: `diffuse-<seed>.png` each. With -o and a batch: a `%d` in the name
    /// is replaced by 1, 2, …; otherwise `-1`, `-2`, … go before the extension (`out.png` → `out-1.png`).
    public var outputURLs: [URL] {
        guard let output else {
            return seeds.map { URL(fileURLWithPath: "diffuse-\($0).png") }
        }
        guard batchCount > 1 else { return [URL(fileURLWithPath: output)] }
        return (1...batchCount).map { i in
            if output.contains("%d") { return URL(fileURLWithPath: output.replacingOccurrences(of: "%d", with: String(i))) }
            let url = URL(fileURLWithPath: output)
            let ext = url.pathExtension
            let base = url.deletingPathExtension().lastPathComponent
            let name = ext.isEmpty ? "\(base)-\(i)" : "\(base)-\(i).\(ext)"
            return url.deletingLastPathComponent().appendingPathComponent(name)
        }
    }
}
