// `diffuse evaluate`: prompt adherence of a model trained by `diffuse train` (the built-in one by default),
// measured by the shapes evaluator on prompts and seeds the training data did not use; optionally a
// Markdown report and a sample grid for the docs.

import ArgumentParser
import Diffuse
import DiffuseTraining
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prompt adherence of the built-in (or a trained) shapes model.",
        discussion: """
        Three groups of prompts from the shapes world (scene seed --seed, never the training seed): one object,
        two objects in a relation, and one object whose colour–shape combination was held out of training.
        Each prompt is drawn with image seed = its index, checked by the evaluator (shape, colour, count,
        position/relation, background), and the pass rate per group is printed, then one JSON line.
        --report writes the same as Markdown with the targets, the failure kinds and the reproducing command;
        --grid writes a PNG of fixed prompts (rows) × seeds (columns) and the row prompts in a .txt beside it.
        """)

    @Option(name: [.short, .long], help: "A model written by `diffuse train` (default: the built-in model).")
    var model: String?

    @Option(parsing: .unconditional, help: "Prompts per group.")
    var count: Int = 100

    @Option(parsing: .unconditional, help: "Scene seed for the prompts (the built-in model was trained on seed 1).")
    var seed: UInt64 = 1000

    @Option(parsing: .unconditional, help: "Denoising steps.")
    var steps: Int = BuiltinGeneration.defaultSteps

    @Option(parsing: .unconditional, help: "Guidance scale.")
    var cfgScale: Double = Double(BuiltinGeneration.defaultGuidance)

    @Option(parsing: .unconditional, help: "DDIM noise amount η, 0…1 (0: deterministic).")
    var eta: Double = Double(BuiltinModel.defaultEta)

    @Option(help: "Write a Markdown adherence report here (.md).")
    var report: String?

    @Option(help: "Write a sample grid here (.png; the row prompts go to the same name with .txt).")
    var grid: String?

    @Option(parsing: .unconditional, help: "Seeds (columns) of the sample grid.")
    var gridSeeds: Int = 6

    @Option(name: [.short, .long], parsing: .unconditional, help: "Images drawn at once; default: all cores.")
    var threads: Int?

    @Flag(help: "Overwrite existing --report / --grid files.")
    var force = false

    func run() throws {
        try checkArguments()
        guard let path = model ?? BuiltinModel.bundledURL?.path else {
            throw GenerationError("the built-in model is missing from this installation; give --model")
        }
        let url = URL(fileURLWithPath: path)
        let loaded = try BuiltinModel(contentsOf: url)   // fails here, with one line, before any work
        let workers = threads ?? Parallel.coreCount
        let start = Date()
        var done = 0
        let results = try Adherence.run(modelURL: url, groups: Adherence.groups(seed: seed, count: count), steps: steps,
                                        guidance: Float(cfgScale), eta: Float(eta), workers: workers) { d, total in
            done = d
            if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\r\(d)/\(total) images\u{1B}[K".utf8)) }
        }
        if done > 0 && isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Date().timeIntervalSince(start)
        var json: [String: Any] = ["model": path, "count": count, "steps": steps, "cfg_scale": cfgScale, "eta": eta, "seed": seed]
        for r in results {
            print(r.group.name.padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: " %4d / %4d  %5.1f%%  (target ", r.passed, r.total, r.percent) + r.group.target + ")")
            json[r.group.name] = Double(r.passed) / Double(max(r.total, 1))
        }
        if let gap = Adherence.heldOutGap(results) { print(String(format: "held-out − seen gap: %+.1f points", gap)) }
        if let report {
            let title = model == nil ? "the built-in model" : url.lastPathComponent
            let md = AdherenceReport.markdown(results, title: title, model: try EvaluatedModel(url: url, metadata: loaded.metadata, shownAs: model ?? Self.builtinSource),
                                              command: reproducingCommand(), settings: settings, seconds: seconds)
            try PNG.writeAtomically(Array(md.utf8), to: URL(fileURLWithPath: report), overwrite: true)
            print("wrote \(report)")
        }
        if let grid { try writeGrid(URL(fileURLWithPath: grid), model: url, workers: workers) }
        json["seconds"] = seconds
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    /// Every check on the arguments, before a model is loaded or a file written.
    func checkArguments() throws {
        guard (1...100_000).contains(count) else { throw GenerationError("--count must be 1…100000 (got \(count))") }
        guard (1...1000).contains(steps) else { throw GenerationError("--steps must be 1…1000 (got \(steps))") }
        guard cfgScale >= 0, cfgScale.isFinite else { throw GenerationError("--cfg-scale must be 0 or more (got \(cfgScale))") }
        guard (0...1).contains(eta) else { throw GenerationError("--eta must be 0…1 (got \(eta))") }
        guard (1...16).contains(gridSeeds) else { throw GenerationError("--grid-seeds must be 1…16 (got \(gridSeeds))") }
        if let t = threads, t < 1 { throw GenerationError("--threads must be ≥ 1 (got \(t))") }
        if let report { try checkOutput(report, option: "--report", ext: "md") }
        if let grid {
            try checkOutput(grid, option: "--grid", ext: "png")
            try checkOutput(SampleGrid.legendURL(for: URL(fileURLWithPath: grid)).path, option: "--grid", ext: "txt")
        }
        if let report, let grid, URL(fileURLWithPath: report).standardizedFileURL == URL(fileURLWithPath: grid).standardizedFileURL {
            throw GenerationError("--report and --grid name the same file \(report)")
        }
    }

    func checkOutput(_ path: String, option: String, ext: String) throws {
        let url = URL(fileURLWithPath: path)
        guard url.pathExtension.lowercased() == ext else { throw GenerationError("\(option) \(path): give a .\(ext) file name") }
        var isDir: ObjCBool = false
        let folder = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw GenerationError("\(option) \(path): folder \(folder) does not exist")
        }
        if FileManager.default.fileExists(atPath: url.path) && !force {
            throw GenerationError("\(option): \(path) already exists (use --force to overwrite)")
        }
    }

    /// Where the bundled model lives in the repository (the build copies it next to the binary).
    static let builtinSource = "Sources/DiffuseTraining/Resources/builtin-shapes.safetensors"

    var settings: String {
        "DDIM, \(steps) steps, guidance \(String(format: "%g", cfgScale)), η \(String(format: "%g", eta)), \(count) prompts per group, scene seed \(seed)"
    }

    /// The command with every setting spelled out, so a changed default cannot change what it reproduces.
    func reproducingCommand() -> String {
        var args = ["diffuse", "evaluate"]
        if let model { args += ["--model", model] }
        args += ["--count", "\(count)", "--seed", "\(seed)", "--steps", "\(steps)", "--cfg-scale", String(format: "%g", cfgScale)]
        args += ["--eta", String(format: "%g", eta)]
        if let report { args += ["--report", report] }
        if let grid { args += ["--grid", grid, "--grid-seeds", "\(gridSeeds)"] }
        if force { args.append("--force") }
        return args.map(shellQuoted).joined(separator: " ")
    }

    func shellQuoted(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:+".contains($0) } ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    func writeGrid(_ url: URL, model: URL, workers: Int) throws {
        let g = try SampleGrid.make(modelURL: model, seeds: (0..<gridSeeds).map(UInt64.init), steps: steps,
                                    guidance: Float(cfgScale), eta: Float(eta), workers: workers)
        try PNG.writeAtomically(try PNG.encode(g.render()), to: url, overwrite: true)
        try PNG.writeAtomically(Array(g.legend().utf8), to: SampleGrid.legendURL(for: url), overwrite: true)
        print("wrote \(url.path) and \(SampleGrid.legendURL(for: url).path); rows:")
        for (i, p) in g.prompts.enumerated() { print("  \(i + 1). \(p)") }
    }
}
