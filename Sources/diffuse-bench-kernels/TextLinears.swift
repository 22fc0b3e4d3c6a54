// --text-linears: the CLIP text encoder's linear layers (SD 1.5: 12 layers, width 768, MLP 3072) at its
// 154 rows (batch 2 × 77 tokens) through `linearGroup`, with one f16 weight set per layer (170 MB in all,
// more than any cache, as in the real model) so each call streams its weights from memory. Prints each
// layer kind's GFLOP/s and the whole stack's, then exits. Separates the GEMM's speed from the rest of
// the encoder (attention, LayerNorm) when tuning the text encoder against torch.
import DiffuseCore
import Foundation

func runTextLinearBenchmarks() {
    let rows = 154, width = 768, mlp = 3072, layers = 12
    _ = ProcessHeap.keepFreedMemory   // as the pipeline sets it: freed activations stay in the heap
    func f16Weight(_ shape: [Int], seed: UInt64) -> Weight {
        let v = values(shape.reduce(1, *), seed: seed).map { Float16($0 * 0.05) }
        let bytes = v.withUnsafeBytes { [UInt8]($0) }
        return Weight(shape: shape, dtype: .f16, bytes: bytes)
    }
    struct Layer { let q, k, v, o, fc1, fc2: Weight; let b768, b3072: Weight }
    // DIFFUSE_BENCH_HOT=1: one weight set for all layers (14 MB of f16, cache-resident), to tell memory
    // streaming apart from the arithmetic.
    let hot = ProcessInfo.processInfo.environment["DIFFUSE_BENCH_HOT"] == "1"
    let model = (0..<layers).map { l -> Layer in
        let s = UInt64(hot ? 0 : l * 16)
        return Layer(q: f16Weight([width, width], seed: s + 1), k: f16Weight([width, width], seed: s + 2),
                     v: f16Weight([width, width], seed: s + 3), o: f16Weight([width, width], seed: s + 4),
                     fc1: f16Weight([mlp, width], seed: s + 5), fc2: f16Weight([width, mlp], seed: s + 6),
                     b768: f16Weight([width], seed: s + 7), b3072: f16Weight([mlp], seed: s + 8))
    }
    let x = Tensor(shape: [2, 77, width], data: values(rows * width, seed: 99))
    let h = Tensor(shape: [2, 77, mlp], data: values(rows * mlp, seed: 98))
    let kinds: [(String, Int, (Layer) -> Void)] = [
        ("q,k,v 768→3×768", 3 * width * width, { l in
            _ = linearGroup(x, [LinearTerm(l.q, l.b768), LinearTerm(l.k, l.b768), LinearTerm(l.v, l.b768)]) }),
        ("out 768→768 +residual", width * width, { l in
            _ = linearGroup(x, [LinearTerm(l.o, l.b768, residual: x)]) }),
        ("fc1 768→3072 quick_gelu", width * mlp, { l in
            _ = linearGroup(x, [LinearTerm(l.fc1, l.b3072, epilogue: .quickGelu)]) }),
        ("fc2 3072→768 +residual", width * mlp, { l in
            _ = linearGroup(h, [LinearTerm(l.fc2, l.b768, residual: x)]) }),
    ]
    print("text encoder linears, \(rows) rows, \(layers) layers of f16 weights, threads \(Parallel.threads)")
    var total = 0.0, flops = 0.0
    for (label, macs, body) in kinds {
        let t = bestTime { for l in model { body(l) } }
        let f = 2 * Double(rows * macs * layers)
        total += t; flops += f
        print(String(format: "  %-26@ %7.2f ms  %6.1f GFLOP/s", label as NSString, t * 1e3, f / t * 1e-9))
    }
    print(String(format: "  %-26@ %7.2f ms  %6.1f GFLOP/s", "all" as NSString, total * 1e3, flops / total * 1e-9))
}
