import DiffuseCore
import Foundation

/// Compares `exactErf` with `Foundation.erf` bit for bit on all 2³² float bit patterns (NaN payloads
/// included). Returns the number of mismatches; prints the first few and a count per range of |x|.
func exhaustiveErfCheck() -> Int {
    let chunks = 1024, per = (1 << 32) / chunks
    // Mismatches by range: |x| < 0.84375, < 1.25, < 1/0.35, < 6, the rest (≥ 6, ∞, NaN).
    let edges: [Float] = [0.84375, 1.25, Float(bitPattern: 0x4036_DB6E), 6]
    var bad = [Int](repeating: 0, count: chunks * 5)
    bad.withUnsafeMutableBufferPointer { badp in
        let b = badp.baseAddress!
        DispatchQueue.concurrentPerform(iterations: chunks) { ci in
            var u = ci * per
            let end = u + per
            var counts = (0, 0, 0, 0, 0)
            while u < end {
                var xs = SIMD8<Float>()
                for i in 0..<8 { xs[i] = Float(bitPattern: UInt32(u + i)) }
                let ys = exactErf(xs)
                for i in 0..<8 where ys[i].bitPattern != Foundation.erf(xs[i]).bitPattern {
                    let a = abs(xs[i])
                    let range = edges.firstIndex { a < $0 } ?? 4
                    switch range { case 0: counts.0 += 1; case 1: counts.1 += 1; case 2: counts.2 += 1
                    case 3: counts.3 += 1; default: counts.4 += 1 }
                    if counts.0 + counts.1 + counts.2 + counts.3 + counts.4 < 3 {
                        print("mismatch at x = \(xs[i]) (0x\(String(xs[i].bitPattern, radix: 16))): \(ys[i]) vs \(Foundation.erf(xs[i]))")
                    }
                }
                u += 8
            }
            (b[ci * 5], b[ci * 5 + 1], b[ci * 5 + 2], b[ci * 5 + 3], b[ci * 5 + 4]) = counts
        }
    }
    let byRange = (0..<5).map { r in stride(from: r, to: bad.count, by: 5).reduce(0) { $0 + bad[$1] } }
    print("mismatches by |x| range [0, 0.84375) [0.84375, 1.25) [1.25, 1/0.35) [1/0.35, 6) [6, ∞]+NaN: \(byRange)")
    return byRange.reduce(0, +)
}

/// Nanoseconds per element, one thread, of the scalar GELU/GEGLU loops (`geluScalar` per element, as
/// before) and the vector ones, timed back to back on the same inputs: gate values ~ N(0, 1.5²)
/// (transformer pre-activations), so every erf range occurs.
func erfSpeed() {
    let n = 1 << 20
    let u = values(4 * n, seed: 12)
    // Sum of 4 uniforms on [-1, 1] has variance 4/3: scaled to σ = 1.5.
    let scale = Float(1.5 / (4.0 / 3).squareRoot())
    let gate: [Float] = (0..<n).map { i in
        let s: Float = u[4 * i] + u[4 * i + 1] + u[4 * i + 2] + u[4 * i + 3]
        return s * scale
    }
    let value = values(n, seed: 13)
    var out = [Float](repeating: 0, count: n)
    let ns = { (t: Double) in t / Double(n) * 1e9 }
    let erfScalar = bestTime { for i in 0..<n { out[i] = Foundation.erf(gate[i]) } }
    let erfVector = bestTime {
        out.withUnsafeMutableBufferPointer { o in
            gate.withUnsafeBufferPointer { g in
                var i = 0
                while i + 8 <= n {
                    let y = exactErf(UnsafeRawPointer(g.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self))
                    UnsafeMutableRawPointer(o.baseAddress! + i).storeBytes(of: y, as: SIMD8<Float>.self)
                    i += 8
                }
            }
        }
    }
    let geluScalarT = bestTime { for i in 0..<n { out[i] = geluScalar(gate[i]) } }
    let geluVectorT = bestTime {
        out.withUnsafeMutableBufferPointer { o in
            o.baseAddress!.update(from: gate, count: n)
            geluInPlace(o.baseAddress!, count: n)
        }
    }
    let gegluScalarT = bestTime { for i in 0..<n { out[i] = value[i] * geluScalar(gate[i]) } }
    let gegluVectorT = bestTime {
        out.withUnsafeMutableBufferPointer { o in gegluRow(value: value, gate: gate, out: o.baseAddress!, count: n) }
    }
    print(String(format: "erf, one thread: Foundation.erf %.2f ns/element, exactErf %.2f", ns(erfScalar), ns(erfVector)))
    print(String(format: "gelu, one thread: geluScalar loop %.2f ns/element, geluInPlace %.2f", ns(geluScalarT), ns(geluVectorT)))
    print(String(format: "geglu row, one thread: scalar loop %.2f ns/element, gegluRow %.2f", ns(gegluScalarT), ns(gegluVectorT)))
}
