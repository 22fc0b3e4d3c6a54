import Foundation
import XCTest
@testable import DiffuseCore
import CDiffuseCPU

/// `exactExp` must equal Foundation.exp bit for bit (the exhaustive check over all 2.2·10⁹ relevant
/// floats is `diffuse-bench-kernels --exhaustive-exp`); here a strided sample of every binade plus the
/// special values, and the activations built on it against their scalar formulas.
final class VectorMathTests: XCTestCase {
    func testExactExpMatchesFoundationBitForBit() {
        var xs: [Float] = [0, -0, 1, -1, 88.72283, 88.72284, 89, -87.33655, -103.97, -104, -200, 200,
                           .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNormalMagnitude]
        // Every 1009th bit pattern of [-110, 90]: about 2.2 million values over all binades.
        for (lo, hi) in [(UInt32(0), (90 as Float).bitPattern), (UInt32(0x8000_0000), (-110 as Float).bitPattern)] {
            xs += stride(from: lo, through: hi, by: 1009).map { Float(bitPattern: $0) }
        }
        var mismatches = 0
        var i = 0
        while i + 8 <= xs.count {
            let v = SIMD8<Float>(xs[i..<(i + 8)])
            let y = exactExp(v)
            for j in 0..<8 where y[j].bitPattern != Foundation.exp(v[j]).bitPattern && !(y[j].isNaN && v[j].isNaN) {
                mismatches += 1
                if mismatches < 5 { XCTFail("exp(\(v[j])): \(y[j]) vs \(Foundation.exp(v[j]))") }
            }
            i += 8
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// The in-place loops (on AVX-512: the C table-driven exp of exp512.c, with its masked tail) and the
    /// C kernels called directly, against Foundation.exp bit for bit on a strided sample of every binade
    /// (a different stride from the test above) and the special values; odd counts exercise the tails.
    func testInPlaceExpAndSiluMatchFoundationBitForBit() {
        // (`-0` in a Float array literal is the integer literal 0, i.e. +0: −0 is spelled by its bits.)
        var xs: [Float] = [0, Float(bitPattern: 0x8000_0000), 1, -1, 88.5, 88.72283, 88.72284, 89, -87, -87.33655, -103.97, -104, -200, 200,
                           .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNormalMagnitude]
        for (lo, hi) in [(UInt32(0), (90 as Float).bitPattern), (UInt32(0x8000_0000), (-110 as Float).bitPattern)] {
            xs += stride(from: lo + 17, through: hi, by: 1013).map { Float(bitPattern: $0) }
        }
        let expected = xs.map { Foundation.exp($0).bitPattern }
        let siluExpected = xs.map { ($0 / (1 + Foundation.exp(-$0))).bitPattern }
        var kernels: [(String, (UnsafeMutablePointer<Float>, Int) -> Void, [UInt32])] = [
            ("exactExpInPlace", { exactExpInPlace($0, count: $1) }, expected),
            ("siluInPlace", { siluInPlace($0, count: $1) }, siluExpected),
        ]
        #if arch(x86_64)
        if GemmTile.avx512Available {
            kernels += [("diffuse_exp_avx512", { diffuse_exp_avx512($0, $1) }, expected),
                        ("diffuse_silu_avx512", { diffuse_silu_avx512($0, $1) }, siluExpected)]
        }
        #endif
        for (name, kernel, want) in kernels {
            for count in [xs.count, 37, 16, 5] {
                var y = Array(xs.prefix(count))
                y.withUnsafeMutableBufferPointer { kernel($0.baseAddress!, count) }
                // NaN payloads may differ between the vector and library paths; any NaN counts as equal.
                let bad = (0..<count).filter { y[$0].bitPattern != want[$0] && !(y[$0].isNaN && Float(bitPattern: want[$0]).isNaN) }
                XCTAssertEqual(bad.count, 0, "\(name), count \(count): first at x = \(bad.first.map { xs[$0] } ?? 0)")
            }
        }
    }

    func testVectorActivationsEqualScalarFormulas() {
        let x = Tensor(shape: [3, 1001], data: testValues(3003, seed: 60).map { $0 * 12 })
        let s = silu(x), q = quickGelu(x)
        for i in 0..<x.count {
            let v = x.data[i]
            XCTAssertEqual(s.data[i].bitPattern, (v / (1 + Foundation.exp(-v))).bitPattern, "silu(\(v))")
            XCTAssertEqual(q.data[i].bitPattern, (v / (1 + Foundation.exp(-1.702 * v))).bitPattern, "quickGelu(\(v))")
        }
    }

    func testGroupNormSiluIsGroupNormThenSilu() {
        // 5×5 planes: 3 lanes of each channel go through the scalar tail, the rest through SIMD.
        let x = Tensor(shape: [2, 8, 5, 5], data: testValues(400, seed: 61).map { $0 * 4 })
        let g = Weight(randomTensor([8], seed: 62)), b = Weight(randomTensor([8], seed: 63))
        let fused = groupNorm(x, groups: 4, weight: g, bias: b, eps: 1e-5, silu: true)
        let separate = silu(groupNorm(x, groups: 4, weight: g, bias: b, eps: 1e-5))
        XCTAssertEqual(fused, separate)
    }
}
