import DiffuseModels
import DiffuseSampling
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Times the pipeline's components the way scripts/bench/diffusers_bench.py times diffusers': one warm-up
/// call, then `repeats` timed calls, median reported. Inputs come from the torch-compatible generator, so
/// both sides see the same numbers.
public enum Bench {
    public struct Figure: Codable, Sendable {
        public let component: String
        public let median: Double
        public let runs: [Double]
        /// Median CPU seconds (user + system, all threads) per run: on a shared machine less sensitive to
        /// other processes' load than wall time.
        public let cpuMedian: Double
    }

    public struct Settings: Sendable {
        public var size = 512
        public var batch = 2
        public var repeats = 3
        public var steps = 2
        public var components: [String] = ["text", "unet", "vae"]
        public init() {}
    }

    /// The median as Python's `statistics.median` takes it (the mean of the middle two for an even count),
    /// so that this side and diffusers_bench.py report the same statistic. Until stop 15 an even count took
    /// the upper middle run, which with `--repeats 2` reported our slower run against diffusers' mean.
    public static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted(), m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }

    public static let knownComponents = ["load", "text", "unet", "vae", "pipeline", "preview"]

    public static func run(model: URL, _ s: Settings, report: (Figure) -> Void) throws -> [Figure] {
        var figures: [Figure] = []
        func record(_ name: String, _ body: () throws -> Void) rethrows {
            try body()  // warm-up: page in the weights, size the buffers
            var runs: [Double] = [], cpu: [Double] = []
            for _ in 0..<s.repeats {
                let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpuSeconds()
                try body()
                runs.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                cpu.append(cpuSeconds() - c0)
            }
            let f = Figure(component: name, median: median(runs), runs: runs, cpuMedian: median(cpu))
            figures.append(f)
            report(f)
        }
        if s.components.contains("load") {
            try record("load") { _ = try StableDiffusionPipeline(contentsOf: model) }
        }
        let pipe = try StableDiffusionPipeline(contentsOf: model)
        try MemoryEstimate.check(pipe.checkpoint, width: s.size, height: s.size, batch: s.batch)
        var rng = TorchGenerator(seed: 0)
        let latent = s.size / pipe.vaeScaleFactor
        let hidden = pipe.checkpoint.textConfig.hiddenSize
        if s.components.contains("text") {
            let ids = pipe.tokenizer.tokenize("a photograph of an astronaut riding a horse").ids.map(Int.init)
            pipe.makeResident(.text)   // as the pipeline does: one network's weights resident at a time
            try record("text") { _ = try pipe.textEncoder(Array(repeating: ids, count: s.batch)) }
        }
        if s.components.contains("unet") {
            let x = rng.randn([s.batch, 4, latent, latent])
            let context = rng.randn([s.batch, 77, hidden])
            pipe.makeResident(.unet)
            record("unet") { _ = pipe.unet(x, timestep: 999, context: context) }
        }
        if s.components.contains("vae") {
            let z = rng.randn([1, 4, latent, latent])
            pipe.makeResident(.vae)
            record("vae") { _ = pipe.vae.decode(z) }
        }
        if s.components.contains("preview") {
            // A studio preview: fitting the colour map (once per model), then one approximate preview against
            // one full decode of the same latents.
            let z = rng.randn([1, 4, latent, latent])
            var fitted: LatentPreview?
            record("preview_fit") { fitted = pipe.fitLatentPreview() }
            let map = fitted!   // record runs its body at least once (the warm-up)
            record("preview_approx") { _ = map.image(z) }
            record("preview_vae") { _ = pipe.decodeToImage(z) }
        }
        if s.components.contains("pipeline") {
            var r = GenerationRequest(prompt: "a photograph of an astronaut riding a horse")
            r.steps = s.steps; r.width = s.size; r.height = s.size; r.sampler = .euler
            try record("pipeline") { _ = try pipe.generate(r) }
        }
        return figures
    }

    /// User + system CPU seconds of this process so far (all threads).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(0, &usage)  // 0 = RUSAGE_SELF
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }

    /// Peak resident memory of this process so far, in bytes (Linux: ru_maxrss is in KiB).
    public static func peakRSS() -> Int {
        var usage = rusage()
        getrusage(0, &usage)  // 0 = RUSAGE_SELF
        return usage.ru_maxrss * 1024
    }
}
