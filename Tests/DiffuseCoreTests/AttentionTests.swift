import XCTest
@testable import DiffuseCore

/// Flash attention against the full-score-matrix Double reference, on shapes that cross several key
/// blocks (online-softmax rescaling), several query blocks, partial panels, and the single-head split.
final class AttentionTests: XCTestCase {
    // Outputs are convex combinations of V rows (|v| ≤ 1) with float32 weights: rounding stays near
    // 1e-6; 2e-5 leaves margin for exp's 1-ulp error summed over a few hundred keys.
    let tolerance: Float = 2e-5

    func testManyKeyBlocksAndQueryBlocks() {
        for causal in [false, true] {
            let (b, lq, lk, hd, heads) = (1, 150, 420, 48, 2)
            let q = scaled(randomTensor([b, lq, hd], seed: 50), 3), k = randomTensor([b, lk, hd], seed: 51)
            let v = randomTensor([b, lk, hd], seed: 52)
            // Causal attention is only defined for Lq = Lk (CLIP); use the key count for both.
            let qq = causal ? scaled(randomTensor([b, lk, hd], seed: 53), 3) : q
            let y = attention(q: qq, k: k, v: v, heads: heads, causal: causal)
            let r = attentionReference(q: qq, k: k, v: v, heads: heads, causal: causal)
            XCTAssertLessThan(y.maxAbsDifference(r), tolerance, "causal \(causal)")
        }
    }

    func testSingleHeadWideDimSplitsQueries() {
        // The VAE's mid-block attention: one head, a wide head dim (not a multiple of 6 or 16 here).
        let q = randomTensor([1, 300, 70], seed: 54), k = randomTensor([1, 300, 70], seed: 55)
        let v = randomTensor([1, 300, 70], seed: 56)
        XCTAssertLessThan(attention(q: q, k: k, v: v, heads: 1).maxAbsDifference(attentionReference(q: q, k: k, v: v, heads: 1)),
                          tolerance)
    }

    /// The fused AVX-512 softmax (exp512.c) against the Swift path of the AVX2 tile, bit for bit, with
    /// scores large enough that many exp arguments fall below −87 (the library-call lanes), several key
    /// blocks (running-max corrections) and a partial last block and panel.
    func testFusedSoftmaxEqualsSwiftPathBitForBit() throws {
        try XCTSkipUnless(GemmTile.avx512Available, "no AVX-512 on this CPU")
        for (qScale, causal) in [(Float(1), false), (30, false), (30, true)] {
            let (lq, lk) = causal ? (400, 400) : (90, 410)
            let q = scaled(randomTensor([1, lq, 80], seed: 64), qScale), k = randomTensor([1, lk, 80], seed: 65)
            let v = randomTensor([1, lk, 80], seed: 66)
            let a = attention(q: q, k: k, v: v, heads: 2, causal: causal, tile: .avx512)
            let b = attention(q: q, k: k, v: v, heads: 2, causal: causal, tile: .avx2)
            XCTAssertEqual(a.data.map(\.bitPattern), b.data.map(\.bitPattern), "scale \(qScale) causal \(causal)")
        }
    }

    func testLargeScoresDoNotOverflow() {
        // Scores up to ±400·√D: without the running max, exp would overflow to inf.
        let q = scaled(randomTensor([2, 20, 8], seed: 57), 400), k = randomTensor([2, 250, 8], seed: 58)
        let v = randomTensor([2, 250, 8], seed: 59)
        let y = attention(q: q, k: k, v: v, heads: 2)
        XCTAssertFalse(y.data.contains { !$0.isFinite })
        XCTAssertLessThan(y.maxAbsDifference(attentionReference(q: q, k: k, v: v, heads: 2)), 1e-4)
    }
}

func scaled(_ t: Tensor, _ s: Float) -> Tensor { Tensor(shape: t.shape, data: t.data.map { $0 * s }) }
