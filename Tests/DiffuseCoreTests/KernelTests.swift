import XCTest
@testable import DiffuseCore

/// Deterministic pseudo-random values in [-1, 1) for kernel tests (no dependence on the sampling RNG).
func testValues(_ n: Int, seed: UInt64) -> [Float] {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000 - 1
    }
}

func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor(shape: shape, data: testValues(shape.reduce(1, *), seed: seed))
}

final class KernelTests: XCTestCase {
    // Float32 sums of K products of values in [-1, 1] against a Double reference: the rounding error
    // grows like √K·2⁻²⁴·K; 1e-4 relative to K covers K ≤ 2048 with margin.
    func testGemmMatchesReference() {
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 33, 65), (64, 48, 300), (2, 130, 1030)] {
            let a = testValues(m * k, seed: 1), b = testValues(n * k, seed: 2)
            var c = [Float](repeating: 0, count: m * n)
            gemmNT(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n)
            let ref = gemmNTReference(m: m, n: n, k: k, a: a, b: b)
            for i in 0..<(m * n) { XCTAssertEqual(c[i], ref[i], accuracy: 1e-5 * Float(k), "\(m)x\(n)x\(k) at \(i)") }
        }
    }

    func testConvMatchesReference() {
        for (stride, pad, kh, c, o) in [(1, 1, 3, 5, 7), (2, 1, 3, 4, 6), (1, 0, 1, 9, 3), (2, 0, 3, 3, 2)] {
            let x = randomTensor([2, c, 9, 11], seed: 3)
            let w = randomTensor([o, c, kh, kh], seed: 4), b = randomTensor([o], seed: 5)
            let y = conv2d(x, Weight(w), Weight(b), stride: stride, padding: pad)
            let r = conv2dReference(x, w, b, stride: stride, padding: pad)
            XCTAssertEqual(y.shape, r.shape)
            XCTAssertLessThan(y.maxAbsDifference(r), 1e-4, "stride \(stride) pad \(pad) k \(kh)")
        }
    }

    func testConvReadsHalfWeights() {
        let x = randomTensor([1, 3, 6, 6], seed: 6)
        let wf = randomTensor([4, 3, 3, 3], seed: 7)
        let bytes = wf.data.flatMap { v -> [UInt8] in let h = floatToHalf(v); return [UInt8(h & 0xff), UInt8(h >> 8)] }
        let wh = Weight(shape: wf.shape, dtype: .f16, bytes: bytes)
        let y = conv2d(x, wh, nil, stride: 1, padding: 1)
        let r = conv2dReference(x, wh.toTensor(), nil, stride: 1, padding: 1)
        XCTAssertLessThan(y.maxAbsDifference(r), 1e-4)
    }

    func testAttentionMatchesReference() {
        for causal in [false, true] {
            let q = randomTensor([2, 77, 16], seed: 8), k = randomTensor([2, 77, 16], seed: 9)
            let v = randomTensor([2, 77, 16], seed: 10)
            let y = attention(q: q, k: k, v: v, heads: 4, causal: causal)
            let r = attentionReference(q: q, k: k, v: v, heads: 4, causal: causal)
            XCTAssertLessThan(y.maxAbsDifference(r), 1e-5, "causal \(causal)")
        }
        let q = randomTensor([1, 130, 8], seed: 11), k = randomTensor([1, 5, 8], seed: 12), v = randomTensor([1, 5, 8], seed: 13)
        XCTAssertLessThan(attention(q: q, k: k, v: v, heads: 2).maxAbsDifference(attentionReference(q: q, k: k, v: v, heads: 2)), 1e-5)
    }

    func testGroupNormAndLayerNorm() {
        let x = randomTensor([2, 8, 3, 3], seed: 14)
        let g = Weight(randomTensor([8], seed: 15)), b = Weight(randomTensor([8], seed: 16))
        let y = groupNorm(x, groups: 4, weight: g, bias: b, eps: 1e-5)
        // Reference: per group, (x - mean) / sqrt(var + eps) * gamma + beta, in Double.
        for n in 0..<2 { for grp in 0..<4 {
            let idx = (0..<18).map { n * 72 + grp * 18 + $0 }
            let vals = idx.map { Double(x.data[$0]) }
            let mean = vals.reduce(0, +) / 18, v = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 18
            for (j, i) in idx.enumerated() {
                let ch = grp * 2 + j / 9
                let e = (vals[j] - mean) / (v + 1e-5).squareRoot() * Double(g[ch]) + Double(b[ch])
                XCTAssertEqual(Double(y.data[i]), e, accuracy: 1e-5)
            }
        } }
        let t = randomTensor([3, 10], seed: 17)
        let ln = layerNorm(t, weight: Weight(randomTensor([10], seed: 18)), bias: Weight(randomTensor([10], seed: 19)), eps: 1e-5)
        XCTAssertEqual(ln.shape, [3, 10])
        let row = (0..<10).map { Double(t.data[$0]) }
        let mean = row.reduce(0, +) / 10
        let sd = (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 10 + 1e-5).squareRoot()
        let gamma = randomTensor([10], seed: 18).data, beta = randomTensor([10], seed: 19).data
        XCTAssertEqual(Double(ln.data[3]), (row[3] - mean) / sd * Double(gamma[3]) + Double(beta[3]), accuracy: 1e-5)
    }

    func testShapesPlumbing() {
        let x = randomTensor([1, 2, 2, 3], seed: 20)
        let u = upsampleNearest2x(x)
        XCTAssertEqual(u.shape, [1, 2, 4, 6])
        XCTAssertEqual(u.data[0], x.data[0]); XCTAssertEqual(u.data[7], x.data[0]); XCTAssertEqual(u.data[6 * 4 - 1], x.data[5])
        let c = concat([x, scale(x, 2)], axis: 1)
        XCTAssertEqual(c.shape, [1, 4, 2, 3])
        XCTAssertEqual(split(c, parts: 2, axis: 1)[1], scale(x, 2))
        XCTAssertEqual(channelsFirst(channelsLast(x), height: 2, width: 3), x)
        let g = geglu(Tensor(shape: [1, 2], data: [2, 1]))
        XCTAssertEqual(g.data[0], 2 * 0.8413447, accuracy: 1e-6)
    }

    func testLinearWithBF16WeightsInBlocks() {
        let x = randomTensor([5, 33], seed: 21)
        let wf = randomTensor([40, 33], seed: 22)
        let bytes = wf.data.flatMap { v -> [UInt8] in let u = v.bitPattern >> 16; return [UInt8(u & 0xff), UInt8(u >> 8)] }
        let w = Weight(shape: [40, 33], dtype: .bf16, bytes: bytes)
        let y = linear(x, w, Weight(randomTensor([40], seed: 23)))
        let wr = w.toTensor().data, b = randomTensor([40], seed: 23).data
        let ref = gemmNTReference(m: 5, n: 40, k: 33, a: x.data, b: wr)
        for i in 0..<200 { XCTAssertEqual(y.data[i], ref[i] + b[i % 40], accuracy: 1e-4) }
    }
}
