import DiffuseCore
import CDiffuseCPU
import Foundation

/// Rate of a pure register FMA loop on one thread: 12 independent SIMD8 accumulators, so the FMA pipes,
/// not latency, bound it.
func measureFmaPeakPerCore(iters: Int = 20_000_000) -> Double {
    var best = Double.infinity
    var sink: Float = 0
    for _ in 0..<3 {
        var acc = (0..<12).map { SIMD8<Float>(repeating: Float($0) * 1e-3) }
        let x = SIMD8<Float>(repeating: 0.999_999), y = SIMD8<Float>(repeating: 1e-7)
        let t = now()
        acc.withUnsafeMutableBufferPointer { p in
            var a0 = p[0], a1 = p[1], a2 = p[2], a3 = p[3], a4 = p[4], a5 = p[5]
            var a6 = p[6], a7 = p[7], a8 = p[8], a9 = p[9], a10 = p[10], a11 = p[11]
            for _ in 0..<iters {
                a0.addProduct(x, y); a1.addProduct(x, y); a2.addProduct(x, y); a3.addProduct(x, y)
                a4.addProduct(x, y); a5.addProduct(x, y); a6.addProduct(x, y); a7.addProduct(x, y)
                a8.addProduct(x, y); a9.addProduct(x, y); a10.addProduct(x, y); a11.addProduct(x, y)
            }
            p[0] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
        }
        best = min(best, now() - t)
        sink += acc[0].sum()
    }
    if sink.isNaN { print("unexpected NaN in the FMA loop") }
    return Double(iters) * 12 * 16 / best * 1e-9
}

/// Aggregate FMA-loop rate with every thread running it at once (tells whether the vCPUs share cores).
/// Through DiffuseCore's pool: `DispatchQueue.concurrentPerform` ran the two loops one after the other on
/// this VM (2026-11-29: 110 GFLOP/s "at once" against 110 per core, while two processes ran 2× one).
func measureFmaPeakAllThreads() -> Double {
    let t = now()
    Parallel.forEach(Parallel.threads) { _ in _ = measureFmaPeakPerCore(iters: 10_000_000) }
    return Double(Parallel.threads) * 3 * 10_000_000 * 12 * 16 / (now() - t) * 1e-9
}

/// Convolutions and attention through the public layer functions.
func runLayerBenchmarks() {
    print("")
    if selected("exp") { expSpeed() }
    for dtype in [DType.f32, .f16] where selected("linear \(dtype.rawValue)") {
        let (m, n, k) = (4096, 1280, 320)
        let x = Tensor(shape: [m, k], data: values(m * k, seed: 3))
        let wf = values(n * k, seed: 4)
        let w: Weight = dtype == .f32 ? Weight(Tensor(shape: [n, k], data: wf))
            : Weight(shape: [n, k], dtype: .f16, bytes: wf.flatMap { v -> [UInt8] in
                let h = floatToHalf(v); return [UInt8(h & 0xff), UInt8(h >> 8)] })
        let t = bestTime { _ = linear(x, w, nil) }
        report("linear \(dtype.rawValue) weights 4096x1280x320", flops: 2 * Double(m * n * k), seconds: t, blas: [])
    }
    for (label, c, o, hw, kk) in [("conv3x3 320→320 @64²", 320, 320, 64, 3), ("conv3x3 640→640 @32²", 640, 640, 32, 3),
                                  ("conv3x3 1280→1280 @8²", 1280, 1280, 8, 3), ("conv1x1 640→640 @32²", 640, 640, 32, 1),
                                  // The VAE decoder's large layers (512-px decode: 512 ch @128², 256 @256², 128 @512²).
                                  ("conv3x3 512→512 @64²", 512, 512, 64, 3), ("conv3x3 256→256 @128²", 256, 256, 128, 3),
                                  ("conv3x3 128→128 @256²", 128, 128, 256, 3)] where selected(label) {
        let x = Tensor(shape: [1, c, hw, hw], data: values(c * hw * hw, seed: 5))
        let w = Weight(Tensor(shape: [o, c, kk, kk], data: values(o * c * kk * kk, seed: 6)))
        let b = Weight(Tensor(shape: [o], data: values(o, seed: 7)))
        let t = bestTime { _ = conv2d(x, w, b, stride: 1, padding: kk / 2) }
        report(label, flops: 2 * Double(o * hw * hw * c * kk * kk), seconds: t, blas: [])
    }
    // The UNet's lowest level at 256 px with guidance (2 images of 4×4 = 16 pixels, f16 weights): weight-bound
    // layers where images share GEMM tiles (`DIFFUSE_NO_SHARED_TILES=1` times the padded layout instead).
    let halfWeight = { (shape: [Int], seed: UInt64) -> Weight in
        Weight(shape: shape, dtype: .f16, bytes: values(shape.reduce(1, *), seed: seed).flatMap { v -> [UInt8] in
            let h = floatToHalf(v); return [UInt8(h & 0xff), UInt8(h >> 8)] })
    }
    for (label, c, o, kk) in [("conv3x3 1280→1280 @4² ×2 f16", 1280, 1280, 3), ("conv3x3 2560→1280 @4² ×2 f16", 2560, 1280, 3),
                              ("conv1x1 2560→1280 @4² ×2 f16", 2560, 1280, 1)] where selected(label) {
        let x = Tensor(shape: [2, c, 4, 4], data: values(2 * c * 16, seed: 5))
        let w = halfWeight([o, c, kk, kk], 6), b = Weight(Tensor(shape: [o], data: values(o, seed: 7)))
        let t = bestTime { _ = conv2d(x, w, b, stride: 1, padding: kk / 2) }
        report(label, flops: 2 * Double(2 * o * 16 * c * kk * kk), seconds: t, blas: [])
    }
    // The same layer as the UNet meets it: its weights come from memory, not cache (a UNet call reads ~1.7 GB
    // of them). Eight different weights, 236 MB, used in turn: more than any L3 here.
    if selected("conv3x3 1280→1280 @4² ×2 f16 from memory") {
        let x = Tensor(shape: [2, 1280, 4, 4], data: values(2 * 1280 * 16, seed: 5))
        let ws = (0..<8).map { halfWeight([1280, 1280, 3, 3], 60 + UInt64($0)) }
        let b = Weight(Tensor(shape: [1280], data: values(1280, seed: 7)))
        let t = bestTime { for w in ws { _ = conv2d(x, w, b, stride: 1, padding: 1) } }
        report("conv3x3 1280→1280 @4² ×2 f16 from memory", flops: 8 * 2 * Double(2 * 1280 * 16 * 1280 * 9), seconds: t, blas: [])
    }
    if selected("tokens 1280 @4² ×2 f16") {
        let x = Tensor(shape: [2, 1280, 4, 4], data: values(2 * 1280 * 16, seed: 5)), w = halfWeight([1280, 1280, 1, 1], 6)
        let b = Weight(Tensor(shape: [1280], data: values(1280, seed: 7)))
        let tokens = conv1x1ToTokens(x, w, b)
        let t1 = bestTime { _ = conv1x1ToTokens(x, w, b) }
        report("to tokens 1280 @4² ×2 f16", flops: 2 * Double(2 * 16 * 1280 * 1280), seconds: t1, blas: [])
        let t2 = bestTime { _ = conv1x1FromTokens(tokens, w, b, residual: x) }
        report("from tokens 1280 @4² ×2 f16", flops: 2 * Double(2 * 16 * 1280 * 1280), seconds: t2, blas: [])
    }
    for (label, b, lq, lk, hd, heads) in [("self-attn 2×4096 tok, 8×40", 2, 4096, 4096, 320, 8),
                                          ("self-attn 2×1024 tok, 8×80", 2, 1024, 1024, 640, 8),
                                          ("cross-attn 2×4096→77, 8×40", 2, 4096, 77, 320, 8)] where selected("attention " + label) {
        let q = Tensor(shape: [b, lq, hd], data: values(b * lq * hd, seed: 8))
        let k = Tensor(shape: [b, lk, hd], data: values(b * lk * hd, seed: 9))
        let v = Tensor(shape: [b, lk, hd], data: values(b * lk * hd, seed: 10))
        let t = bestTime { _ = attention(q: q, k: k, v: v, heads: heads) }
        report("attention " + label, flops: 4 * Double(b * lq * lk * hd), seconds: t, blas: [])
    }
}

/// Compares `exactExp` (8 lanes, AVX2) and `exactExpInPlace` (the AVX-512 C loop where the CPU has it) with
/// `Foundation.exp` bit for bit on every float whose exp is a normal float (x in [-87, 88.5], about 2.2·10⁹
/// values; outside it both call Foundation.exp themselves). Returns the number of mismatches.
func exhaustiveExpCheck() -> Int {
    let ranges: [(UInt32, UInt32)] = [(0, (88.5 as Float).bitPattern), (0x8000_0000, (-87 as Float).bitPattern)]
    var total = 0
    for (lo, hi) in ranges {
        let chunks = 256
        let per = (Int(hi) - Int(lo) + chunks) / chunks
        var bad = [Int](repeating: 0, count: chunks)
        bad.withUnsafeMutableBufferPointer { badp in
            let b = badp.baseAddress!
            DispatchQueue.concurrentPerform(iterations: chunks) { ci in
                var u = Int(lo) + ci * per
                let end = min(Int(hi) + 1, u + per)
                var count = 0
                let n = 1024
                var xs = [Float](repeating: 0, count: n), ys = xs
                while u < end {
                    let m = min(n, end - u)
                    for i in 0..<m { xs[i] = Float(bitPattern: UInt32(u + i)) }
                    ys = xs
                    ys.withUnsafeMutableBufferPointer { exactExpInPlace($0.baseAddress!, count: m) }
                    for i0 in stride(from: 0, to: m, by: 8) {
                        var v = SIMD8<Float>()
                        for i in 0..<8 { v[i] = xs[min(i0 + i, m - 1)] }
                        let y8 = exactExp(v)
                        for i in 0..<min(8, m - i0) {
                            let e = Foundation.exp(v[i]).bitPattern
                            if y8[i].bitPattern != e || ys[i0 + i].bitPattern != e {
                                count += 1
                                if count < 4 { print("mismatch at x = \(v[i]) (\(v[i].bitPattern)): \(y8[i]) (exactExp), \(ys[i0 + i]) (exactExpInPlace) vs \(Foundation.exp(v[i]))") }
                            }
                        }
                    }
                    u += m
                }
                b[ci] = count
            }
        }
        total += bad.reduce(0, +)
    }
    return total
}

/// Nanoseconds per element of exactExp and of the scalar library exp, over softmax-like inputs.
func expSpeed() {
    let n = 1 << 20
    let xs = values(n, seed: 11).map { $0 * 20 - 20 }
    var out = [Float](repeating: 0, count: n)
    let tv = bestTime {
        out.withUnsafeMutableBufferPointer { o in
            o.baseAddress!.update(from: xs, count: n)
            exactExpInPlace(o.baseAddress!, count: n)
        }
    }
    let ts = bestTime { for i in 0..<n { out[i] = Foundation.exp(xs[i]) } }
    print(String(format: "exp, one thread: exactExpInPlace %.2f ns/element, Foundation.exp %.2f ns/element", tv / Double(n) * 1e9, ts / Double(n) * 1e9))
    // The same inputs in 24 KB blocks (one attention score panel, 192 keys × 32 queries), so the time is
    // the exp's and not the 4 MB array's trips to memory (the refill from L1 is included in both).
    let block = 192 * 32
    var buf = [Float](repeating: 0, count: block)
    let tb = bestTime {
        buf.withUnsafeMutableBufferPointer { o in
            xs.withUnsafeBufferPointer { x in
                for b0 in stride(from: 0, through: n - block, by: block) {
                    o.baseAddress!.update(from: x.baseAddress! + b0, count: block)
                    exactExpInPlace(o.baseAddress!, count: block)
                }
            }
        }
    }
    print(String(format: "exp, one thread, in L1 (24 KB blocks): exactExpInPlace %.2f ns/element", tb / Double(n / block * block) * 1e9))
    // Attention's softmax exp (softmaxexp.c), same blocks: AVX2 and AVX-512 versions.
    for (name, f) in [("diffuse_softmax_exp (AVX2)", diffuse_softmax_exp), ("diffuse_softmax_exp_avx512", diffuse_softmax_exp_avx512)]
    where name.hasSuffix("(AVX2)") || GemmTile.avx512Available {
        let t = bestTime {
            buf.withUnsafeMutableBufferPointer { o in
                xs.withUnsafeBufferPointer { x in
                    for b0 in stride(from: 0, through: n - block, by: block) {
                        o.baseAddress!.update(from: x.baseAddress! + b0, count: block)
                        f(o.baseAddress!, block)
                    }
                }
            }
        }
        print(String(format: "exp, one thread, in L1 (24 KB blocks): %@ %.2f ns/element", name, t / Double(n / block * block) * 1e9))
    }
}

/// Every float in [-105, 89] through the softmax exp against double exp rounded to float: returns the worst
/// distance in ulps and how many are more than 1 ulp off.
func exhaustiveSoftmaxExpCheck() -> (worst: Int, over: Int) {
    var worst = 0, over = 0
    let chunk = 1 << 16
    var buf = [Float](repeating: 0, count: chunk)
    for (lo, hi) in [(UInt32(0), (89 as Float).bitPattern), (UInt32(0x8000_0000), (-105 as Float).bitPattern)] {
        var b = lo
        while b <= hi {
            let n = Int(min(UInt64(chunk), UInt64(hi - b) + 1))
            for i in 0..<n { buf[i] = Float(bitPattern: b + UInt32(i)) }
            buf.withUnsafeMutableBufferPointer { diffuse_softmax_exp($0.baseAddress!, n) }
            for i in 0..<n {
                let exact = Float(Foundation.exp(Double(Float(bitPattern: b + UInt32(i)))))
                let d = abs(Int(buf[i].bitPattern) - Int(exact.bitPattern))
                worst = max(worst, d)
                if d > 1 { over += 1 }
            }
            if UInt64(b) + UInt64(n) > UInt64(hi) { break }
            b += UInt32(n)
        }
    }
    return (worst, over)
}

/// `--train-convs`: the built-in model's 3×3 convolutions as training meets them (batch 16, f32 weights):
/// forward, input gradient (a forward convolution with the channel counts swapped) and weight gradient.
/// The shapes are the slowest rows of `diffuse bench --train 12 --train-config docs/builtin-train-config-v10.json`.
func runTrainConvBenchmarks() {
    let n = 16
    for (c, o, hw) in [(256, 256, 4), (512, 256, 4), (256, 128, 8), (128, 128, 8), (128, 64, 16), (64, 64, 16),
                       (64, 32, 32), (32, 32, 32)] {
        let label = "\(c)→\(o) 3×3 @\(hw)² ×\(n)"
        guard selected(label) else { continue }
        let flops = 2 * Double(n * o * hw * hw * c * 9)
        let x = Tensor(shape: [n, c, hw, hw], data: values(n * c * hw * hw, seed: 5))
        let w = Weight(Tensor(shape: [o, c, 3, 3], data: values(o * c * 9, seed: 6)))
        let wt = Weight(Tensor(shape: [c, o, 3, 3], data: values(o * c * 9, seed: 8)))
        let b = Weight(Tensor(shape: [o], data: values(o, seed: 7)))
        let dy = Tensor(shape: [n, o, hw, hw], data: values(n * o * hw * hw, seed: 9))
        let dw = UnsafeMutablePointer<Float>.allocate(capacity: o * c * 9)
        dw.initialize(repeating: 0, count: o * c * 9)
        defer { dw.deallocate() }
        report("fwd " + label, flops: flops, seconds: bestTime { _ = conv2d(x, w, b, stride: 1, padding: 1) }, blas: [])
        report("dx  " + label, flops: flops, seconds: bestTime { _ = conv2d(dy, wt, nil, stride: 1, padding: 1) }, blas: [])
        report("dW  " + label, flops: flops, seconds: bestTime {
            conv2dWeightGradient(x: x, dy: dy, kh: 3, kw: 3, stride: 1, padding: 1, dw: dw)
        }, blas: [])
    }
}
