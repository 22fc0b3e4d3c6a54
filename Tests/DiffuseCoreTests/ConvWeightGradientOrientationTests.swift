import XCTest
@testable import DiffuseCore

/// conv2dWeightGradient computes dW or dWᵀ, whichever tiles better; both must give the same bits, since every
/// element is the same products summed in the same K order (the micro-kernel's FMAs commute).
final class ConvWeightGradientOrientationTests: XCTestCase {
    func testBothOrientationsAgreeBitForBit() {
        // (N, C, H, W, O, k, stride, pad): the training shapes' kinds (3×3 same, stride 2, 1×1) at sizes with
        // partial tiles on both sides and K (N·Ho·Wo) over one K block.
        let cases = [(4, 32, 16, 16, 32, 3, 1, 1), (2, 12, 9, 9, 12, 3, 2, 1), (3, 64, 8, 8, 32, 1, 1, 0), (2, 5, 7, 7, 40, 3, 1, 1)]
        for (n, c, h, w, o, kk, s, p) in cases {
            let x = Tensor(shape: [n, c, h, w], data: (0..<(n * c * h * w)).map { Float(($0 * 7919) % 211) / 105 - 1 })
            let ho = (h + 2 * p - kk) / s + 1, wo = (w + 2 * p - kk) / s + 1
            let dy = Tensor(shape: [n, o, ho, wo], data: (0..<(n * o * ho * wo)).map { Float(($0 * 104_729) % 199) / 99 - 1 })
            var results: [[UInt32]] = []
            for transposed in [false, true] {
                var dw = [Float](repeating: 0.25, count: o * c * kk * kk)   // accumulates into what is there
                dw.withUnsafeMutableBufferPointer { d in
                    conv2dWeightGradient(x: x, dy: dy, kh: kk, kw: kk, stride: s, padding: p, dw: d.baseAddress!,
                                         transposedProduct: transposed)
                }
                results.append(dw.map(\.bitPattern))
            }
            XCTAssertEqual(results[0], results[1], "case \(String(describing: (n, c, h, w, o, kk, s, p)))")
        }
    }
}
