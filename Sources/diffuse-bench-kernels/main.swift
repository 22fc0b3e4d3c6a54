// Kernel benchmark: GFLOP/s of DiffuseCore's GEMM, convolution and attention on the shapes the SD 1.5
// UNet uses, next to numpy/OpenBLAS on the same GEMM shapes measured in the same run (numpy_gemm.py,
// launched per shape so both see the same machine load). Best of several repetitions: the machine is
// shared, and the best time is the one least disturbed by other processes.
//
//   swift run --scratch-path .build-kernels diffuse-bench-kernels [--reps N] [--haswell-blas] [--only WORD] [--threads N] [--cpu-time] [--ours-only] [--exhaustive-exp] [--exhaustive-softmax-exp] [--exhaustive-erf] [--erf-speed] [--winograd] [--train-convs] [--text-linears]
//
// --exhaustive-erf checks exactErf against Foundation.erf on all 2³² floats; --erf-speed times erf, GELU
// and a GEGLU row, scalar and vector, on one thread; both exit.
// --winograd times the 3×3 convolutions of SD 1.5 direct and by Winograd, and exits.
// --text-linears times the CLIP text encoder's linear layers after the peak line, and exits.
// --train-convs times the built-in model's training convolutions (forward, dx, dW) after the peak line, and exits.
// --haswell-blas also times OpenBLAS forced to its AVX2 (Haswell) kernels, the fair comparison for our
// AVX2 code on a CPU where OpenBLAS picks AVX-512 ones.
import DiffuseCore
import Foundation

let args = CommandLine.arguments
let reps = args.firstIndex(of: "--reps").flatMap { Int(args[$0 + 1]) } ?? 5
let haswellBlas = args.contains("--haswell-blas")
if let t = args.firstIndex(of: "--threads").flatMap({ Int(args[$0 + 1]) }) { Parallel.threads = t }
/// `--only WORD`: run just the benchmarks whose label contains WORD.
let only = args.firstIndex(of: "--only").map { args[$0 + 1] }
func selected(_ label: String) -> Bool { only.map { label.contains($0) } ?? true }

/// `--cpu-time`: time with the process's CPU clock instead of the wall clock. With `--threads 1` this is the
/// one worker's time, which other processes' load on the shared machine moves much less than wall time.
let cpuClock = args.contains("--cpu-time")
/// `--ours-only`: skip the AVX2 and OpenBLAS comparison runs of the GEMM shapes (quicker tuning sweeps).
let oursOnly = args.contains("--ours-only")
func now() -> Double {
    if cpuClock {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
    return Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
}

/// Best wall time of `reps` runs of `body` after one warm-up.
func bestTime(_ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<reps { let t = now(); body(); best = min(best, now() - t) }
    return best
}

func values(_ n: Int, seed: UInt64) -> [Float] {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000 - 1
    }
}

/// numpy/OpenBLAS GFLOP/s for C[M, N] = A[M, K]·B[N, K]ᵀ, or nil when the venv is missing.
func numpyGflops(m: Int, n: Int, k: Int, coreType: String?) -> (Double, String)? {
    let python = FileManager.default.currentDirectoryPath + "/.venv/bin/python"
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("numpy_gemm.py").path
    guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = [script, "\(m)", "\(n)", "\(k)", "\(reps)"]
    var env = ProcessInfo.processInfo.environment
    env["OPENBLAS_CORETYPE"] = coreType
    env["OPENBLAS_L2_SIZE"] = nil
    env["OPENBLAS_NUM_THREADS"] = "\(Parallel.threads)"
    p.environment = env
    let pipe = Pipe()
    p.standardOutput = pipe
    guard (try? p.run()) != nil else { return nil }
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    let parts = out.split(separator: " ")
    guard parts.count == 2, let g = Double(parts[0]) else { return nil }
    return (g, parts[1].trimmingCharacters(in: .whitespacesAndNewlines))
}

if args.contains("--winograd") {
    runWinogradBenchmarks()
    exit(0)
}

if args.contains("--exhaustive-exp") {
    let t = now()
    let bad = exhaustiveExpCheck()
    print("exactExp vs Foundation.exp on every float in [-87, 88.5]: \(bad) mismatches (\(Int(now() - t)) s)")
    exit(bad == 0 ? 0 : 1)
}

if args.contains("--exhaustive-softmax-exp") {
    let t = now()
    let (worst, over) = exhaustiveSoftmaxExpCheck()
    print("softmax exp vs correctly rounded exp on every float in [-105, 89]: worst \(worst) ulp, \(over) more than 1 ulp off (\(Int(now() - t)) s)")
    exit(over == 0 ? 0 : 1)
}

if args.contains("--exhaustive-erf") {
    let t = now()
    let bad = exhaustiveErfCheck()
    print("exactErf vs Foundation.erf on all 2^32 float bit patterns: \(bad) mismatches (\(Int(now() - t)) s)")
    exit(bad == 0 ? 0 : 1)
}
if args.contains("--erf-speed") {
    erfSpeed()
    exit(0)
}

// Peak: 2 FMA pipes × 8 float lanes × 2 flops per cycle per core with AVX2. The clock is read from
// /proc/cpuinfo (under a hypervisor that is often the base clock, below turbo), so we also time a pure
// register FMA loop: its rate is the machine's real AVX2 ceiling per core.
let mhz = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
    .split(separator: "\n").first { $0.hasPrefix("cpu MHz") }
    .flatMap { Double($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
let cores = Parallel.threads
let nominalPeak = Double(cores) * mhz * 1e-3 * 32
let fmaCore = measureFmaPeakPerCore()
let measuredPeak = fmaCore * Double(cores)
print(String(format: "threads %d, cpuinfo clock %.0f MHz → nominal AVX2 FMA peak %.1f GFLOP/s; register FMA loop: %.1f GFLOP/s/core (≈ %.2f GHz) → peak %.1f GFLOP/s; all threads at once: %.1f GFLOP/s",
             cores, mhz, nominalPeak, fmaCore, fmaCore / 32, measuredPeak, measureFmaPeakAllThreads()))
// The GEMM's tile is chosen at run time (AVX-512 where CPUID reports it, unless DIFFUSE_NO_AVX512=1); with
// AVX-512 the AVX2 tile is timed too, as the "ours-AVX2" column (ratio = active tile / AVX2 tile).
print("GEMM tile: \(GemmTile.active) (AVX-512 available: \(GemmTile.avx512Available))")
let compareAVX2 = GemmTile.active == .avx512
for tile in compareAVX2 ? [GemmTile.avx2, .avx512] : [GemmTile.active] {
    print(String(format: "micro-kernel alone (%@), packed panels in cache, one thread: %.1f GFLOP/s",
                 tile.description, _macroKernelGflops(repetitions: 200, tile: tile)))
}
print("% peak below is against the measured (AVX2) peak; AVX-512 doubles the ceiling.\n")

func report(_ label: String, flops: Double, seconds: Double, blas: [(Double, String)]) {
    let g = flops / seconds * 1e-9
    var line = label.padding(toLength: 44, withPad: " ", startingAt: 0)
    line += String(format: "%8.1f GFLOP/s %5.1f%% peak", g, 100 * g / measuredPeak)
    for (bg, cfg) in blas { line += String(format: " | %@ %7.1f  ratio %.2f", cfg, bg, g / bg) }
    print(line)
    fflush(stdout)
}

// GEMM shapes, M×N×K with C[M, N] = A[M, K]·B[N, K]ᵀ.
let gemmShapes: [(String, Int, Int, Int)] = [
    ("proj_in/attn proj 4096x320x320", 4096, 320, 320),
    ("ff 4096x1280x320", 4096, 1280, 320),
    ("3x3 conv 640ch @32² 1024x640x5760", 1024, 640, 5760),
    ("conv layout (weights first) 640x1024x5760", 640, 1024, 5760),
    ("cross-attn to_k 77x320x768", 77, 320, 768),
    ("attn scores 4096x4096x40", 4096, 4096, 40),
    ("square 1024x1024x1024", 1024, 1024, 1024),
]
for (label, m, n, k) in gemmShapes where selected("gemmNT " + label) {
    let a = values(m * k, seed: 1), b = values(n * k, seed: 2)
    var c = [Float](repeating: 0, count: m * n)
    let t = bestTime { gemmNT(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n) }
    var blas: [(Double, String)] = []
    if compareAVX2 && !oursOnly {
        let t2 = bestTime { _gemmNT(tile: .avx2, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n) }
        blas.append((2 * Double(m * n * k) / t2 * 1e-9, "ours-AVX2"))
    }
    if !oursOnly, let r = numpyGflops(m: m, n: n, k: k, coreType: nil) { blas.append(r) }
    if haswellBlas, let r = numpyGflops(m: m, n: n, k: k, coreType: "Haswell") { blas.append(r) }
    report("gemmNT " + label, flops: 2 * Double(m * n * k), seconds: t, blas: blas)
}
if args.contains("--text-linears") {
    runTextLinearBenchmarks()
    exit(0)
}
if args.contains("--train-convs") {
    runTrainConvBenchmarks()
    exit(0)
}
runLayerBenchmarks()
