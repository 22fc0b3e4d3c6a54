import XCTest
@testable import DiffuseCore

/// The fused paths of the whole-model kernels (batched convolution, residual accumulation, 1×1
/// convolutions read as tokens) against the naive references they replace.
final class FusedKernelTests: XCTestCase {
    private func half(_ t: Tensor) -> Weight {
        let bytes = t.data.flatMap { v -> [UInt8] in let h = floatToHalf(v); return [UInt8(h & 0xff), UInt8(h >> 8)] }
        return Weight(shape: t.shape, dtype: .f16, bytes: bytes)
    }

    // 8×8 images (64 pixels, a multiple of 16) take the one-GEMM-for-the-batch path; 5×5 the per-image
    // one. Sums of ≤ 9·33 products of values in [-1, 1]: 1e-4 absolute covers float32 rounding.
    func testBatchedConvWithResidualMatchesReference() {
        for (side, kh, pad, stride) in [(8, 3, 1, 1), (8, 1, 0, 1), (5, 3, 1, 1), (8, 3, 1, 2)] {
            let x = randomTensor([3, 33, side, side], seed: 21)
            let w = randomTensor([20, 33, kh, kh], seed: 22), b = randomTensor([20], seed: 23)
            let ref = conv2dReference(x, w, b, stride: stride, padding: pad)
            let res = randomTensor(ref.shape, seed: 24)
            let y = conv2d(x, half(w), Weight(b), stride: stride, padding: pad, residual: res)
            var expected = conv2dReference(x, half(w).toTensor(), b, stride: stride, padding: pad)
            for i in 0..<expected.count { expected.data[i] += res.data[i] }
            XCTAssertLessThan(y.maxAbsDifference(expected), 1e-4, "side \(side) k \(kh) stride \(stride)")
        }
    }

    // K = 300 products: 1e-4 absolute as above.
    func testLinearWithResidual() {
        let x = randomTensor([2, 7, 300], seed: 25), w = randomTensor([19, 300], seed: 26), b = randomTensor([19], seed: 27)
        let res = randomTensor([2, 7, 19], seed: 28)
        let y = linear(x, half(w), Weight(b), residual: res)
        var expected = linear(x, half(w), Weight(b))
        for i in 0..<expected.count { expected.data[i] += res.data[i] }
        XCTAssertLessThan(y.maxAbsDifference(expected), 1e-4)
    }

    // Same sums as the reference convolution, transposed: 1e-4 absolute.
    func testPointwiseConvAsTokensMatchesTransposes() {
        let x = randomTensor([2, 24, 4, 6], seed: 29), w = randomTensor([10, 24, 1, 1], seed: 30), b = randomTensor([10], seed: 31)
        let tokens = conv1x1ToTokens(x, half(w), Weight(b))   // [2, 24 pixels, 10]
        let expected = channelsLast(conv2dReference(x, half(w).toTensor(), b, stride: 1, padding: 0))
        XCTAssertLessThan(tokens.maxAbsDifference(expected), 1e-4)

        let t = randomTensor([2, 24, 24], seed: 32), res = randomTensor([2, 10, 4, 6], seed: 33)
        let img = conv1x1FromTokens(t, half(w), Weight(b), residual: res)
        var back = conv2dReference(channelsFirst(t, height: 4, width: 6), half(w).toTensor(), b, stride: 1, padding: 0)
        for i in 0..<back.count { back.data[i] += res.data[i] }
        XCTAssertLessThan(img.maxAbsDifference(back), 1e-4)
    }
}

final class HalfWideningTests: XCTestCase {
    // Exact: every one of the 65,536 bit patterns (NaN payloads compared bitwise).
    func testVectorWideningMatchesScalarForEveryHalf() {
        let all = (0..<65536).map { UInt16($0) }
        all.withUnsafeBufferPointer { p in
            for i in stride(from: 0, to: 65536, by: 8) {
                let v = widenHalf8(p.baseAddress! + i)
                for j in 0..<8 {
                    XCTAssertEqual(v[j].bitPattern, halfToFloat(all[i + j]).bitPattern, "half 0x\(String(all[i + j], radix: 16))")
                }
            }
        }
    }
}

final class FeedForwardTests: XCTestCase {
    // 2100 rows: two row blocks (2048 + 52). The same float32 sums as the unfused path, in the same order
    // except where bias and residual enter: 1e-5 absolute on outputs of size ~1.
    func testChunkedGegluFeedForwardMatchesUnfusedLayers() {
        let x = randomTensor([3, 700, 8], seed: 41)
        let w1 = Weight(randomTensor([12, 8], seed: 42)), b1 = Weight(randomTensor([12], seed: 43))
        let w2 = Weight(randomTensor([8, 6], seed: 44)), b2 = Weight(randomTensor([8], seed: 45))
        let res = randomTensor([3, 700, 8], seed: 46)
        let y = gegluFeedForward(x, w1: w1, b1: b1, w2: w2, b2: b2, residual: res)
        let expected = add(res, linear(geglu(linear(x, w1, b1)), w2, b2))
        XCTAssertLessThan(y.maxAbsDifference(expected), 1e-5)
    }
}
