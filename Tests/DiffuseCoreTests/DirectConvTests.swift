import Foundation
import XCTest
@testable import DiffuseCore

/// The vectorised stride-1 im2col packer and the in-place (unpacked) convolution path, each against the
/// path it replaces, bit for bit: they move data differently but feed the micro-kernel the same floats in
/// the same order, so not a single result may change.
final class DirectConvTests: XCTestCase {
    /// Panels in one output row, straddling rows (image rows narrower than the panel), partial panels,
    /// borders on every side, 1×1 and 3×3 kernels, K blocks starting mid-kernel.
    func testIm2colPackingEqualsElementwise() {
        for (c, h, w, k, pad) in [(3, 9, 40, 3, 1), (2, 4, 4, 3, 1), (2, 16, 16, 3, 1), (4, 5, 7, 1, 0), (2, 33, 33, 3, 0)] {
            let x = randomTensor([c, h, w], seed: 81).data
            let wo = w + 2 * pad - k + 1, ho = h + 2 * pad - k + 1
            x.withUnsafeBufferPointer { xp in
                let src = Im2colSource(x: xp.baseAddress!, c: c, h: h, w: w, kh: k, kw: k, stride: 1, pad: pad, wo: wo)
                let kTotal = c * k * k
                for width in [16, 32] { for j0 in Set([0, 1, wo - 1, wo + 3, ho * wo - width]) where j0 >= 0 {
                    for count in Set([1, 5, width, ho * wo - j0]) where count >= 1 && count <= width && j0 + count <= ho * wo {
                        for (p0, kc) in [(0, kTotal), (1, kTotal - 1), (kTotal / 2, kTotal - kTotal / 2)] where kc > 0 {
                            var fast = [Float](repeating: -1, count: width * kc), slow = [Float](repeating: -2, count: width * kc)
                            fast.withUnsafeMutableBufferPointer { src.pack(rows: j0, count: count, width: width, k: p0, kc: kc, into: $0.baseAddress!) }
                            slow.withUnsafeMutableBufferPointer { src.packReference(rows: j0, count: count, width: width, k: p0, kc: kc, into: $0.baseAddress!) }
                            XCTAssertEqual(fast.map(\.bitPattern), slow.map(\.bitPattern),
                                           "\(c)×\(h)×\(w) k\(k) pad \(pad): width \(width) j0 \(j0) count \(count) p0 \(p0)")
                        }
                    }
                } }
            }
        }
    }

    /// Rows of 32 and 64 pixels (every panel on a border, or some inside), one and two images, output channels
    /// that leave a partial tile (20 = 12 + 8), K over several blocks (40·9 = 360 > 256), bias and residual.
    func testDirectConvEqualsPackedPath() throws {
        try XCTSkipUnless(GemmTile.active == .avx512, "the in-place path runs on the AVX-512 tile only")
        for (n, c, o, h, w, k, dtype) in [(1, 40, 20, 6, 64, 3, DType.f16), (2, 8, 24, 3, 32, 3, .f32),
                                           (2, 40, 20, 5, 96, 1, .f32), (1, 5, 13, 34, 128, 3, .f32)] {
            let x = randomTensor([n, c, h, w], seed: 82)
            let wf = randomTensor([o, c, k, k], seed: 83), b = Weight(randomTensor([o], seed: 84))
            let wt = Weight(shape: wf.shape, dtype: dtype, bytes: encode(wf.data, dtype))
            let residual = randomTensor([n, o, h, w], seed: 85)
            XCTAssertTrue(conv2dDirectApplies(stride: 1, pad: k / 2, wo: w, c: c, h: h, w: w, tile: .avx512))
            for r in [nil, residual] {
                let direct = conv2d(x, wt, b, stride: 1, padding: k / 2, residual: r, direct: true)
                let packed = conv2d(x, wt, b, stride: 1, padding: k / 2, residual: r, direct: false)
                XCTAssertEqual(direct.data.map(\.bitPattern), packed.data.map(\.bitPattern), "\(n)×\(c)×\(h)×\(w) k\(k) → \(o)")
            }
            // K ≤ 40·9 = 360 products of values in [-1, 1]: 1e-4 covers float32 rounding.
            let ref = conv2dReference(x, wt.toTensor(), b.toTensor(), stride: 1, padding: k / 2)
            XCTAssertLessThan(conv2d(x, wt, b, stride: 1, padding: k / 2, residual: nil, direct: true).maxAbsDifference(ref), 1e-4)
        }
    }
}
