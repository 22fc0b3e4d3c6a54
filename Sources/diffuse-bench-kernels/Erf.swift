import DiffuseCore
import Foundation

/// Compares `exactErf` (one vector) and `exactErfInPlace` (arrays, the gathering path) with
/// `Foundation.erf` bit for bit on all 2³² float bit patterns (NaN payloads included). Returns the number
/// of inputs where either differs; prints the first few and a count per range of |x|.
func exhaustiveErfCheck() -> Int {
    let chunks = 1 << 12, per = (1 << 32) / chunks, sub = 4096
    // Mismatches by range: |x| < 0.84375, < 1.25, < 1/0.35, < 6, the rest (≥ 6, ∞, NaN).
    let edges: [Float] = [0.84375, 1.25, Float(bitPattern: 0x4036_DB6E), 6]
    var bad = [Int](repeating: 0, count: chunks * 5)
    let printed = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    printed.pointee = 0
    bad.withUnsafeMutableBufferPointer { badp in
        let b = badp.baseAddress!
        DispatchQueue.concurrentPerform(iterations: chunks) { ci in
            var xs = [Float](repeating: 0, count: sub), arr = xs
            var u = ci * per
            let end = u + per
            while u < end {
                for i in 0..<sub { xs[i] = Float(bitPattern: UInt32(u + i)) }
                arr = xs
                arr.withUnsafeMutableBufferPointer { exactErfInPlace($0.baseAddress!, count: sub) }
                for v in stride(from: 0, to: sub, by: 8) {
                    let ys = exactErf(SIMD8<Float>(xs[v..<(v + 8)]))
                    for i in 0..<8 {
                        let x = xs[v + i], want = Foundation.erf(x).bitPattern
                        guard ys[i].bitPattern != want || arr[v + i].bitPattern != want else { continue }
                        let range = edges.firstIndex { abs(x) < $0 } ?? 4
                        b[ci * 5 + range] += 1
                        if printed.pointee < 4 {
                            printed.pointee += 1
                            print("mismatch at x = \(x) (0x\(String(x.bitPattern, radix: 16))): exactErf \(ys[i]), exactErfInPlace \(arr[v + i]), Foundation.erf \(Foundation.erf(x))")
                        }
                    }
                }
                u += sub
            }
        }
    }
    printed.deallocate()
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
    let erfArray = bestTime {
        out.withUnsafeMutableBufferPointer { o in
            o.baseAddress!.update(from: gate, count: n)
            exactErfInPlace(o.baseAddress!, count: n)
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
    print(String(format: "erf, one thread: Foundation.erf %.2f ns/element, exactErf (SIMD8) %.2f, exactErfInPlace %.2f",
                 ns(erfScalar), ns(erfVector), ns(erfArray)))
    print(String(format: "gelu, one thread: geluScalar loop %.2f ns/element, geluInPlace %.2f", ns(geluScalarT), ns(geluVectorT)))
    print(String(format: "geglu row, one thread: scalar loop %.2f ns/element, gegluRow %.2f", ns(gegluScalarT), ns(gegluVectorT)))
}
