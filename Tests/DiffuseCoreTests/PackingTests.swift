import Foundation
import XCTest
@testable import DiffuseCore
#if arch(x86_64)
#endif

/// The transposing C packers (f16 weights, f32 row-major matrices), the AVX-512 exp, and convolutions whose
/// images are narrower than a tile, each against its element-by-element / per-image reference, bit for bit:
/// they must not change a single result, only the speed.
final class PackingTests: XCTestCase {
    /// Every panel width the two tiles use (6/16 AVX2, 12/32 AVX-512), row counts that exercise the 8-row,
    /// 4-row and single-row paths, K depths with and without a tail of less than 8.
    let widths = [6, 12, 16, 32]
    let depths = [1, 7, 8, 13, 64]

    func testHalfPanelsEqualScalarWidening() {
        // All 65,536 half bit patterns (subnormals, ±inf, NaNs included), as a 256 × 256 weight.
        let ld = 256
        let bytes = (0..<(ld * ld)).flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
        let w = WeightSource(w: Weight(shape: [ld, ld], dtype: .f16, bytes: bytes), ld: ld)
        for width in widths { for count in Set([1, 3, 4, 5, 8, 11, width]) where count <= width { for kc in depths {
            for (r0, p0) in [(0, 0), (37, 101), (250 - width, 256 - kc)] {
                let n = width * kc
                var fast = [Float](repeating: -1, count: n), slow = [Float](repeating: -2, count: n)
                fast.withUnsafeMutableBufferPointer { w.pack(rows: r0, count: count, width: width, k: p0, kc: kc, into: $0.baseAddress!) }
                slow.withUnsafeMutableBufferPointer { w.packReference(rows: r0, count: count, width: width, k: p0, kc: kc, into: $0.baseAddress!) }
                XCTAssertEqual(fast.map(\.bitPattern), slow.map(\.bitPattern), "width \(width) count \(count) kc \(kc) at \(r0),\(p0)")
            }
        } } }
    }

    func testFloatPanelsEqualScalarCopy() {
        let (rows, ld) = (80, 90)
        let m = randomTensor([rows, ld], seed: 71).data
        m.withUnsafeBufferPointer { mp in
            let src = RowMajorSource(base: mp.baseAddress!, ld: ld)
            for width in widths { for count in Set([1, 4, 7, 8, 9, width]) where count <= width { for kc in depths {
                let n = width * kc
                var fast = [Float](repeating: -1, count: n), slow = [Float](repeating: -2, count: n)
                fast.withUnsafeMutableBufferPointer { src.pack(rows: 5, count: count, width: width, k: 3, kc: kc, into: $0.baseAddress!) }
                slow.withUnsafeMutableBufferPointer { src.packReference(rows: 5, count: count, width: width, k: 3, kc: kc, into: $0.baseAddress!) }
                XCTAssertEqual(fast.map(\.bitPattern), slow.map(\.bitPattern), "width \(width) count \(count) kc \(kc)")
            } } }
        }
    }

    /// Images smaller than a tile (4×4 = 16 pixels, 3×5 = 15) now run as one padded batch GEMM: the result
    /// must equal running each image alone (the path they took before), bit for bit, and the reference.
    func testBatchedConvWithPaddedImagesEqualsPerImage() {
        for (h, w, k, dtype) in [(4, 4, 3, DType.f16), (3, 5, 3, .f32), (4, 4, 1, .f16), (6, 7, 1, .f32)] {
            let x = randomTensor([3, 24, h, w], seed: 72)
            let wf = randomTensor([40, 24, k, k], seed: 73), b = randomTensor([40], seed: 74)
            let wt = Weight(shape: wf.shape, dtype: dtype, bytes: encode(wf.data, dtype))
            let batched = conv2d(x, wt, Weight(b), padding: k / 2)
            let perImage = split(x, parts: 3, axis: 0).map { conv2d($0, wt, Weight(b), padding: k / 2) }
            XCTAssertEqual(batched.data.map(\.bitPattern), concat(perImage, axis: 0).data.map(\.bitPattern), "\(h)×\(w) k\(k)")
            // K = 24·9 = 216 products of values in [-1, 1]: 1e-4 covers float32 rounding.
            let r = conv2dReference(x, wt.toTensor(), b, stride: 1, padding: k / 2)
            XCTAssertLessThan(batched.maxAbsDifference(r), 1e-4)
        }
    }

    /// Flash attention on the 12×32 tile equals the 6×16 tile bit for bit (each score and output element is
    /// the same FMA chain; the softmax is per column), and both match the reference.
    func testAttentionTilesAgree() throws {
        try XCTSkipUnless(GemmTile.active == .avx512, "the AVX-512 tile is not active on this CPU")
        for (lq, lk, heads, d, causal) in [(100, 77, 2, 40, false), (70, 400, 1, 80, false), (77, 77, 2, 24, true)] {
            let q = randomTensor([2, lq, heads * d], seed: 75), k = randomTensor([2, lk, heads * d], seed: 76)
            let v = randomTensor([2, lk, heads * d], seed: 77)
            let a = attention(q: q, k: k, v: v, heads: heads, causal: causal, tile: .avx512)
            let b = attention(q: q, k: k, v: v, heads: heads, causal: causal, tile: .avx2)
            XCTAssertEqual(a.data.map(\.bitPattern), b.data.map(\.bitPattern), "\(lq)×\(lk) d\(d)")
            // Outputs are convex combinations of values in [-1, 1]; float32 sums over ≤ 400 keys: 1e-5.
            let r = attentionReference(q: q, k: k, v: v, heads: heads, causal: causal)
            XCTAssertLessThan(a.maxAbsDifference(r), 1e-5)
        }
    }

    /// The AVX-512 exp and SiLU (C, CDiffuseCPU/exp512.c, taken by `exactExpInPlace`/`siluInPlace` when the
    /// AVX-512 tile is active) against the AVX2 Swift loops (themselves tested against Foundation.exp) on a
    /// strided sample of every binade and the special values.
    func testAVX512ExpEqualsAVX2() throws {
        #if arch(x86_64)
        try XCTSkipUnless(GemmTile.active == .avx512, "the AVX-512 tile is not active on this CPU")
        var xs: [Float] = [0, -0, 1, -1, 88.72283, 88.72284, 89, -87.33655, -104, .infinity, -.infinity, .nan]
        for (lo, hi) in [(UInt32(0), (90 as Float).bitPattern), (UInt32(0x8000_0000), (-110 as Float).bitPattern)] {
            xs += stride(from: lo, through: hi, by: 4099).map { Float(bitPattern: $0) }
        }
        for f in [(exactExpInPlace, exactExpInPlaceAVX2), (siluInPlace, siluInPlaceAVX2)] {
            var a = xs, b = xs
            a.withUnsafeMutableBufferPointer { f.0($0.baseAddress!, $0.count) }
            b.withUnsafeMutableBufferPointer { f.1($0.baseAddress!, $0.count) }
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        }
        #endif
    }
}
