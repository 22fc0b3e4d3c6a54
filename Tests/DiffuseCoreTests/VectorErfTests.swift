import Foundation
import XCTest
@testable import DiffuseCore

/// `exactErf` / `exactErfInPlace` must equal Foundation.erf (glibc's erff) bit for bit: tolerance zero,
/// because the point of the kernel is that GELU's results do not change. The exhaustive check over all
/// 2³² floats is `diffuse-bench-kernels --exhaustive-erf`; here ~10⁶ strided bit patterns plus every
/// range boundary and its float neighbours, and the GELU/GEGLU paths against their scalar loops.
final class VectorErfTests: XCTestCase {
    /// Range edges of the algorithm (0.84375, 1.25, 1/0.35, 6, 2⁻²⁸, 2⁻¹¹⁹) with ±3 ulps, and specials.
    private func edgeValues() -> [Float] {
        let edges: [Float] = [0.84375, 1.25, Float(bitPattern: 0x4036_DB6E), 6, Float(bitPattern: 0x3180_0000),
                              Float(bitPattern: 0x0400_0000), 1, 2, 0.5]
        var xs: [Float] = [0, -0, .infinity, -.infinity, .nan, -.nan, .signalingNaN, .leastNonzeroMagnitude,
                           -.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        for e in edges {
            for k in -3...3 {
                let v = Float(bitPattern: UInt32(Int(e.bitPattern) + k))
                xs += [v, -v]
            }
        }
        return xs
    }

    /// Every 4099th bit pattern (~10⁶ values: all binades, both signs, NaNs) and the edge values.
    private func sampleValues() -> [Float] {
        var xs = edgeValues()
        xs += stride(from: UInt64(0), to: 1 << 32, by: 4099).map { Float(bitPattern: UInt32($0)) }
        return xs
    }

    private func mismatches(_ got: [Float], _ xs: [Float], _ label: String) -> Int {
        var bad = 0
        for (x, y) in zip(xs, got) where y.bitPattern != Foundation.erf(x).bitPattern {
            bad += 1
            if bad < 5 { XCTFail("\(label) erf(\(x) = 0x\(String(x.bitPattern, radix: 16))): \(y) vs \(Foundation.erf(x))") }
        }
        return bad
    }

    func testExactErfMatchesFoundationBitForBit() {
        let xs = sampleValues()
        var vector = [Float](repeating: 0, count: xs.count)
        var i = 0
        while i + 8 <= xs.count {
            let y = exactErf(SIMD8<Float>(xs[i..<(i + 8)]))
            for j in 0..<8 { vector[i + j] = y[j] }
            i += 8
        }
        for j in i..<xs.count { vector[j] = Foundation.erf(xs[j]) }   // the tail is not the vector's business
        XCTAssertEqual(mismatches(vector, xs, "exactErf"), 0)
        // The array path: blocks of 256 with a ragged last block (the count is not a multiple of 8).
        var array = xs
        array.withUnsafeMutableBufferPointer { exactErfInPlace($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(mismatches(array, xs, "exactErfInPlace"), 0)
    }

    /// Inputs concentrated in [-6, 6] as GELU sees them, so whole blocks are dominated by each range in
    /// turn (including blocks where every lane takes the gathered exp path, and blocks where none does).
    func testArrayPathOnDenseRanges() {
        var xs: [Float] = []
        for (lo, hi) in [(Float(0), Float(0.84375)), (0.84375, 1.25), (1.25, 2.857143), (2.857143, 6), (-6, 6)] {
            xs += (0..<1000).map { lo + (hi - lo) * Float($0) / 1000 }
        }
        xs += xs.map { -$0 }
        var array = xs
        array.withUnsafeMutableBufferPointer { exactErfInPlace($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(mismatches(array, xs, "dense exactErfInPlace"), 0)
        var scaled = [Float](repeating: 0, count: 1003)
        exactErfScaled(xs, scale: 0.7071067811865476, into: &scaled, count: 1003)
        XCTAssertEqual(mismatches(scaled, xs[0..<1003].map { $0 * 0.7071067811865476 }, "exactErfScaled"), 0)
    }

    func testGeluAndGegluEqualTheScalarFormula() {
        // 3 rows of 2×517 values: ragged 8-lane tails, and 517 > 256 exercises a second block per row.
        let x = Tensor(shape: [3, 1034], data: (0..<3102).map { Float(sin(Double($0) * 0.37)) * 5 })
        let g = gelu(x)
        for i in 0..<x.count { XCTAssertEqual(g.data[i].bitPattern, geluScalar(x.data[i]).bitPattern, "gelu(\(x.data[i]))") }
        let y = geglu(x)
        XCTAssertEqual(y.shape, [3, 517])
        for r in 0..<3 {
            for i in 0..<517 {
                let want = x.data[r * 1034 + i] * geluScalar(x.data[r * 1034 + 517 + i])
                XCTAssertEqual(y.data[r * 517 + i].bitPattern, want.bitPattern, "geglu row \(r) col \(i)")
            }
        }
    }
}
