import Foundation
import XCTest
@testable import DiffuseCore
import CDiffuseCPU

/// Attention's softmax exp (softmaxexp.c): within 1 ulp of the correctly rounded exp, and the same bits
/// from the AVX2 and AVX-512 versions. The exhaustive check over every float in [-105, 89] is
/// `diffuse-bench-kernels --exhaustive-softmax-exp`; here a strided sample of every binade and the special values.
final class SoftmaxExpTests: XCTestCase {
    static func sample() -> [Float] {
        var xs: [Float] = [0, Float(bitPattern: 0x8000_0000), 1, -1, 88.72283, 88.72284, 89, 200, -87.33655,
                           -103.27893, -103.97, -104, -105, -200, .infinity, -.infinity,
                           .leastNonzeroMagnitude, -.leastNormalMagnitude]
        for (lo, hi) in [(UInt32(0), (90 as Float).bitPattern), (UInt32(0x8000_0000), (-110 as Float).bitPattern)] {
            xs += stride(from: lo + 5, through: hi, by: 997).map { Float(bitPattern: $0) }
        }
        return xs + [1.5, -2.5, -7]   // an odd count: the tails
    }

    /// Distance in representable floats between two non-negative floats.
    static func ulps(_ a: Float, _ b: Float) -> Int { abs(Int(a.bitPattern) - Int(b.bitPattern)) }

    func testWithinOneUlpOfCorrectlyRoundedExp() {
        let xs = Self.sample()
        var ys = xs
        ys.withUnsafeMutableBufferPointer { diffuse_softmax_exp($0.baseAddress!, $0.count) }
        var worst = 0
        for (x, y) in zip(xs, ys) {
            let exact = Float(Foundation.exp(Double(x)))   // double exp rounded once to float
            let d = Self.ulps(y, exact)
            worst = max(worst, d)
            if d > 1 { XCTFail("exp(\(x)) = \(y), correctly rounded \(exact): \(d) ulp"); break }
        }
        print("softmax exp: worst \(worst) ulp over \(xs.count) sampled floats")
        var nan: [Float] = [.nan, -.nan]
        nan.withUnsafeMutableBufferPointer { diffuse_softmax_exp($0.baseAddress!, $0.count) }
        XCTAssertTrue(nan.allSatisfy(\.isNaN))
    }

    func testAVX512VersionGivesTheSameBits() throws {
        try XCTSkipUnless(GemmTile.avx512Available, "no AVX-512 on this CPU")
        let xs = Self.sample() + [.nan]
        var a = xs, b = xs
        a.withUnsafeMutableBufferPointer { diffuse_softmax_exp($0.baseAddress!, $0.count) }
        b.withUnsafeMutableBufferPointer { diffuse_softmax_exp_avx512($0.baseAddress!, $0.count) }
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
    }
}
