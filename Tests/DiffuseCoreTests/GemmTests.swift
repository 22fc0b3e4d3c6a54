import XCTest
@testable import DiffuseCore

/// The packed GEMM against the Double-accumulating references, on shapes that exercise every edge of
/// the blocking: partial 6×16 tiles, several K blocks (k > 256), several M blocks (m > 120), several N
/// blocks (n > 1024), both thread splits, and accumulation into C.
final class GemmTests: XCTestCase {
    // Float32 sums of K products of values in [-1, 1] against a Double reference: rounding error grows
    // like √K·2⁻²⁴ per partial sum; 1e-5·K is a loose bound that still fails on any indexing mistake
    // (those produce errors of order 1).
    func tol(_ k: Int) -> Float { 1e-5 * Float(max(k, 1)) }

    func testGemmNTBlockEdges() {
        for (m, n, k) in [(7, 17, 5), (130, 33, 600), (6, 1100, 40), (250, 48, 257), (13, 2050, 3), (1, 300, 1)] {
            let a = testValues(m * k, seed: 31), b = testValues(n * k, seed: 32)
            var c = [Float](repeating: 0, count: m * n)
            gemmNT(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n)
            let ref = gemmNTReference(m: m, n: n, k: k, a: a, b: b)
            XCTAssertLessThan(maxDiff(c, ref), tol(k), "\(m)x\(n)x\(k)")
        }
    }

    func testBothTilesMatchReferenceAndEachOther() throws {
        // Edges of both tiles (6×16 and 12×32), several K/M/N blocks, both thread splits, accumulation.
        // The two kernels run the same FMA chain per element, so they must agree bit for bit.
        try XCTSkipUnless(GemmTile.avx512Available, "no AVX-512 on this CPU: only the AVX2 tile exists")
        for (m, n, k) in [(7, 17, 5), (13, 33, 600), (130, 65, 257), (25, 1100, 40), (300, 70, 3), (1, 31, 1)] {
            let a = testValues(m * k, seed: 51), b = testValues(n * k, seed: 52)
            let c0 = testValues(m * n, seed: 53)
            var results: [[Float]] = []
            for tile in [GemmTile.avx2, .avx512] {
                var c = c0
                _gemmNT(tile: tile, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n, accumulate: true)
                let ref = gemmNTReference(m: m, n: n, k: k, a: a, b: b)
                XCTAssertLessThan(maxDiff(c, zip(ref, c0).map { $0 + $1 }), tol(k) + 1e-6, "\(tile) \(m)x\(n)x\(k)")
                results.append(c)
            }
            XCTAssertEqual(results[0], results[1], "AVX2 and AVX-512 tiles differ at \(m)x\(n)x\(k)")
        }
    }

    func testSerialStridedAndAccumulate() {
        // Operands inside larger row strides; C starts at 1 and the product is added onto it.
        let (m, n, k, lda, ldb, ldc) = (20, 37, 300, 310, 305, 40)
        let a = testValues(m * lda, seed: 33), b = testValues(n * ldb, seed: 34)
        var c = [Float](repeating: 1, count: m * ldc)
        gemmNTSerial(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: &c, ldc: ldc, accumulate: true)
        let ap = (0..<m).flatMap { i in a[(i * lda)..<(i * lda + k)] }
        let bp = (0..<n).flatMap { j in b[(j * ldb)..<(j * ldb + k)] }
        let ref = gemmNTReference(m: m, n: n, k: k, a: ap, b: bp)
        for i in 0..<m {
            for j in 0..<n { XCTAssertEqual(c[i * ldc + j], ref[i * n + j] + 1, accuracy: tol(k)) }
            for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], 1, "padding column \(j) must be untouched") }
        }
    }

    func testGemmNNMatchesTransposedReference() {
        let (m, n, k) = (33, 70, 129)
        let a = testValues(m * k, seed: 35), bkn = testValues(k * n, seed: 36)
        var c = [Float](repeating: 0, count: m * n)
        gemmNN(m: m, n: n, k: k, a: a, lda: k, b: bkn, ldb: n, c: &c, ldc: n)
        let bnk = (0..<(n * k)).map { i in bkn[(i % k) * n + i / k] }
        XCTAssertLessThan(maxDiff(c, gemmNTReference(m: m, n: n, k: k, a: a, b: bnk)), tol(k))
    }

    func testGemmWithHalfAndBFloatWeights() {
        let (m, n, k) = (50, 40, 70)
        let a = testValues(m * k, seed: 37), wf = testValues(n * k, seed: 38)
        for dtype in [DType.f16, .bf16] {
            let w = Weight(shape: [n, k], dtype: dtype, bytes: encode(wf, dtype))
            var c = [Float](repeating: 0, count: m * n)
            gemmNT(m: m, n: n, k: k, a: a, lda: k, weight: w, c: &c, ldc: n)
            XCTAssertLessThan(maxDiff(c, gemmNTReference(m: m, n: n, k: k, a: a, b: w.toTensor().data)), tol(k), "\(dtype)")
        }
    }

    func testConvPathsMatchReference() {
        // 20-wide images reach the one-output-row packing path; 1×1 takes the K-major path; stride 2 and
        // a 5-wide image take the general path; f16 and bf16 weights are widened while packing.
        let cases: [(stride: Int, pad: Int, k: Int, c: Int, o: Int, h: Int, w: Int, dtype: DType)] = [
            (1, 1, 3, 6, 9, 20, 37, .f32), (1, 0, 1, 13, 7, 20, 21, .f32), (2, 1, 3, 5, 8, 21, 20, .bf16),
            (1, 1, 3, 4, 3, 5, 5, .f16), (1, 2, 5, 3, 4, 18, 19, .f32),
        ]
        for t in cases {
            let x = randomTensor([2, t.c, t.h, t.w], seed: 39)
            let wf = randomTensor([t.o, t.c, t.k, t.k], seed: 40), b = randomTensor([t.o], seed: 41)
            let w = Weight(shape: wf.shape, dtype: t.dtype, bytes: encode(wf.data, t.dtype))
            let y = conv2d(x, w, Weight(b), stride: t.stride, padding: t.pad)
            let r = conv2dReference(x, w.toTensor(), b, stride: t.stride, padding: t.pad)
            XCTAssertEqual(y.shape, r.shape)
            // K = c·k·k ≤ 75 products: 1e-4 covers float32 rounding with margin.
            XCTAssertLessThan(y.maxAbsDifference(r), 1e-4, "\(t)")
        }
    }
}

func maxDiff(_ x: [Float], _ y: [Float]) -> Float {
    zip(x, y).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Little-endian bytes of `v` in `dtype` (bf16 truncates, f16 rounds to nearest even).
func encode(_ v: [Float], _ dtype: DType) -> [UInt8] {
    v.flatMap { f -> [UInt8] in
        switch dtype {
        case .f32: let u = f.bitPattern; return [0, 8, 16, 24].map { UInt8((u >> UInt32($0)) & 0xff) }
        case .f16: let h = floatToHalf(f); return [UInt8(h & 0xff), UInt8(h >> 8)]
        case .bf16: let u = f.bitPattern >> 16; return [UInt8(u & 0xff), UInt8(u >> 8)]
        }
    }
}
