// `diffuse generate`: flags → GenerationOptions → validate → runGeneration → PNG files with A1111 infotext.

import ArgumentParser
import Diffuse
import DiffuseTraining
import Foundation

struct DiffuseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diffuse",
        abstract: "Stable Diffusion 1.x / 2.x text-to-image and image-to-image on the CPU.",
        version: "0.1.0",
        subcommands: [Generate.self, Serve.self, MakeDataset.self, Info.self, Train.self, Evaluate.self, EvaluateLoss.self, Bench.self])
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate images from a prompt (and optionally an init image).",
        discussion: """
        Seeds: image i of a batch uses seed + i; without --seed a random seed is drawn and printed.
        Output: default diffuse-<seed>.png; with -o and --batch-count > 1, '%d' in the name becomes 1, 2, …,
        else -1, -2, … are added before the extension. Existing files are kept unless --force.
        Init image: a PNG whose width and height are multiples of 8; the output has its size.
        """)

    @Option(name: [.short, .long], help: "The prompt (or give it as the first argument).")
    var prompt: String?

    @Argument(help: "The prompt, when -p is not used.")
    var positionalPrompt: String?

    @Option(name: [.short, .long], help: "What the image should not show.")
    var negativePrompt: String = ""

    @Option(name: [.short, .long], help: "A diffusers model folder or a single-file .safetensors checkpoint.")
    var model: String?

    @Option(parsing: .unconditional, help: "Denoising steps (1…\(GenerationOptions.maxSteps)).")
    var steps: Int?

    @Option(parsing: .unconditional, help: "Classifier-free guidance scale (≥ 0; 1 or less disables guidance).")
    var cfgScale: Double?

    @Option(help: "Sampler: \(SamplerNames.cliNames.joined(separator: ", ")). Default: the model's own scheduler.")
    var sampler: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Seed (0…2^63-1; -1 or omitted = random).")
    var seed: Int64?

    @Option(name: [.customShort("W"), .long], parsing: .unconditional, help: "Width in pixels, a multiple of 8 up to \(GenerationOptions.maxSide). Default: the model's.")
    var width: Int?

    @Option(name: [.customShort("H"), .long], parsing: .unconditional, help: "Height in pixels, a multiple of 8 up to \(GenerationOptions.maxSide). Default: the model's.")
    var height: Int?

    @Option(help: "A PNG to start from (image-to-image).")
    var initImage: String?

    @Option(parsing: .unconditional, help: "How much of the init image is redrawn, 0…1 (default \(GenerationOptions.defaultStrength)).")
    var strength: Double?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Number of images (1…\(GenerationOptions.maxBatchCount)), seeds s, s+1, ….")
    var batchCount: Int = 1

    @Option(name: [.short, .long], help: "Output PNG path.")
    var output: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Worker threads (1…\(Parallel.coreCount)); default: all cores.")
    var threads: Int?

    @Option(parsing: .unconditional, help: "Skip the last CLIP layers (A1111 numbering: 1 = none, 2 = penultimate). Default: the model's.")
    var clipSkip: Int?

    @Option(parsing: .unconditional, help: "DDIM / ancestral noise amount, 0…1. Default: 0; the built-in model's own (1).")
    var eta: Double?

    @Option(help: "Noise generator: \(RNGKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var rng: String = RNGKind.torch.rawValue

    @Flag(help: "Keep prompts longer than 77 tokens: encode them in 75-token windows (A1111 style) instead of truncating (diffusers).")
    var chunkedPrompts = false

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @Flag(help: "No progress or status lines (errors and written paths are still printed).")
    var quiet = false

    // Numeric options parse `.unconditional` so that a negative value (`--cfg-scale -2`) reaches validation
    // and gets its range message instead of being taken for a flag.

    /// The validated options with a resolved seed; throws one-line errors.
    func makeOptions() throws -> GenerationOptions {
        if prompt != nil && positionalPrompt != nil {
            throw GenerationError("give the prompt once: either -p/--prompt or as an argument, not both")
        }
        guard let text = prompt ?? positionalPrompt else {
            throw GenerationError("a prompt is required (-p \"a photo of a cat\" or as the first argument)")
        }
        // No --model: the built-in model (trained here on generated shapes only), with its own defaults.
        let builtin = model == nil || model.map { BuiltinModel.isTrainedModel(URL(fileURLWithPath: $0)) } == true
        guard let path = model ?? BuiltinModel.bundledURL?.path else {
            throw GenerationError("the built-in model is missing from this installation; give --model or rebuild Diffuse")
        }
        var o = GenerationOptions(prompt: text, modelPath: path)
        o.negativePrompt = negativePrompt
        o.steps = steps ?? (builtin ? BuiltinGeneration.defaultSteps : 50)
        o.cfgScale = cfgScale ?? (builtin ? Double(BuiltinGeneration.defaultGuidance) : 7.5)
        o.sampler = sampler
        if let seed {
            guard seed >= -1 else { throw GenerationError("--seed must be -1 (random) or between 0 and \(Int64.max) (got \(seed))") }
            o.seed = seed == -1 ? nil : UInt64(seed)
        }
        o.width = width
        o.height = height
        o.initImagePath = initImage
        o.strength = strength
        o.batchCount = batchCount
        o.output = output
        o.threads = threads
        o.clipSkip = clipSkip
        o.eta = eta ?? (builtin ? Double(BuiltinModel.defaultEta) : 0)
        guard let kind = RNGKind(rawValue: rng) else {
            throw GenerationError("unknown --rng '\(rng)' (valid: \(RNGKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        o.rng = kind
        o.chunkedPrompts = chunkedPrompts
        o.force = force
        o.quiet = quiet
        o = o.withResolvedSeed()
        try o.validate()
        return o
    }

    func run() throws {
        let options = try makeOptions()
        Parallel.threads = options.threads ?? Parallel.coreCount
        let urls = options.outputURLs
        var progress = ProgressLine(quiet: options.quiet)
        var index = 0
        var announced = options.quiet
        defer { progress.finish() }
        let runner: GenerationRunner = BuiltinModel.isTrainedModel(URL(fileURLWithPath: options.modelPath))
            ? BuiltinGeneration.run : runGeneration
        // The status line waits until the model has loaded, so a bad model file gives exactly one error line.
        try runner(options, { p in
            if !announced {
                announced = true
                printStatus("seed \(options.seed!), \(options.steps) steps, \(Parallel.threads) threads")
            }
            progress.update(p)
        }, { generated in
            progress.finish()
            guard index < urls.count else { throw GenerationError("the pipeline produced more images than requested") }
            let png = try PNG.encode(generated.image, text: [("parameters", generated.infotext.text)])
            try PNG.writeAtomically(png, to: urls[index], overwrite: options.force)
            print("\(urls[index].path)  seed \(generated.seed)")
            index += 1
        })
    }
}
