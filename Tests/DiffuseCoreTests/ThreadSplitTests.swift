import XCTest
@testable import DiffuseCore

/// The passes split over the threads (bias fills, residual copies, concatenation, per-image GEMMs) against
/// the single-threaded loops they replace. All comparisons are exact (bit patterns): every element gets
/// the same float operation in the same order whichever thread writes it.
final class ThreadSplitTests: XCTestCase {
    private var savedThreads = 1
    override func setUp() { savedThreads = Parallel.threads; Parallel.threads = 2 }
    override func tearDown() { Parallel.threads = savedThreads }

    private func bits(_ p: UnsafePointer<Float>, _ n: Int) -> [UInt32] { (0..<n).map { p[$0].bitPattern } }
    private func bits(_ t: Tensor) -> [UInt32] { t.data.map(\.bitPattern) }
    private func half(_ t: Tensor) -> Weight {
        let bytes = t.data.flatMap { v -> [UInt8] in let h = floatToHalf(v); return [UInt8(h & 0xff), UInt8(h >> 8)] }
        return Weight(shape: t.shape, dtype: .f16, bytes: bytes)
    }

    // Row counts below, around and far above the one-thread threshold (`parallelPassMinFloats`).
    func testRowAndChannelPassesMatchSerialLoops() {
        for (rows, cols) in [(1, 5), (3, 40), (2000, 40), (9000, 7)] {
            let n = rows * cols
            let bias = randomTensor([cols], seed: 51), src = randomTensor([rows, cols], seed: 52)
            let b16 = half(bias), bf = b16.toTensor().data
            let y = UnsafeMutablePointer<Float>.allocate(capacity: n), e = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { y.deallocate(); e.deallocate() }
            fillRowsParallel(y, rows: rows, cols: cols, with: b16)
            fillRows(e, rows: rows, cols: cols, with: b16)
            XCTAssertEqual(bits(y, n), bits(e, n), "fillRows \(rows)×\(cols)")

            src.withUnsafe { s in
                addRowsParallel(s.baseAddress!, b16, to: y, rows: rows, cols: cols)
                for r in 0..<rows { for c in 0..<cols { e[r * cols + c] = s[r * cols + c] + bf[c] } }
                XCTAssertEqual(bits(y, n), bits(e, n), "addRows \(rows)×\(cols)")
                addRowsParallel(s.baseAddress!, nil, to: y, rows: rows, cols: cols)
                XCTAssertEqual(bits(y, n), src.data.map(\.bitPattern), "copy \(rows)×\(cols)")

                // The same buffer read as [images, channels, plane], plane = cols.
                let img = rows % 2 == 0 ? 2 : 1, c = rows / img
                let ch16 = half(randomTensor([c], seed: 50)), chf = ch16.toTensor().data
                fillChannelsParallel(y, n: img, c: c, plane: cols, with: ch16)
                for i in 0..<n { e[i] = chf[(i / cols) % c] }
                XCTAssertEqual(bits(y, n), bits(e, n), "fillChannels \(img)×\(c)×\(cols)")
                addChannelsParallel(s.baseAddress!, ch16, to: y, n: img, c: c, plane: cols)
                for i in 0..<n { e[i] = s[i] + chf[(i / cols) % c] }
                XCTAssertEqual(bits(y, n), bits(e, n), "addChannels \(img)×\(c)×\(cols)")
                addChannelsParallel(s.baseAddress!, nil, to: y, n: img, c: c, plane: cols)
                XCTAssertEqual(bits(y, n), src.data.map(\.bitPattern), "channel copy \(img)×\(c)×\(cols)")
            }
            zeroParallel(y, count: n)
            XCTAssertEqual(bits(y, n), [UInt32](repeating: 0, count: n))
        }
    }

    func testConcatAndPerChannelAddMatchSerialLoops() {
        let a = randomTensor([2, 3, 40, 40], seed: 53), b = randomTensor([2, 5, 40, 40], seed: 54)
        let y = concat([a, b], axis: 1)
        var e = [Float]()
        for img in 0..<2 {
            e.append(contentsOf: a.data[(img * 4800)..<((img + 1) * 4800)])
            e.append(contentsOf: b.data[(img * 8000)..<((img + 1) * 8000)])
        }
        XCTAssertEqual(y.shape, [2, 8, 40, 40])
        XCTAssertEqual(bits(y), e.map(\.bitPattern))

        let v = randomTensor([2, 3], seed: 55), z = addPerChannel(a, v)
        let expected: [UInt32] = (0..<a.count).map { i in (a.data[i] + v.data[i / 1600]).bitPattern }
        XCTAssertEqual(bits(z), expected)
    }

    // 16×16 images, 32 → 64 channels: 256·64·32 multiply-adds per image, enough for the image split.
    func testImageSplitPointwiseConvMatchesPerImageGemms() {
        let (n, c, o, p) = (2, 32, 64, 256)
        let x = randomTensor([n, c, 16, 16], seed: 56), w = half(randomTensor([o, c, 1, 1], seed: 57))
        let b = Weight(randomTensor([o], seed: 58))
        let tokens = conv1x1ToTokens(x, w, b)   // [n, p, o]
        var expected = [Float](repeating: 0, count: n * p * o)
        x.withUnsafe { xp in
            expected.withUnsafeMutableBufferPointer { ep in
                fillRows(ep.baseAddress!, rows: n * p, cols: o, with: b)
                for img in 0..<n {
                    gemmParallel(m: p, n: o, k: c, a: KMajorSource(base: xp.baseAddress! + img * c * p, ld: p),
                                 b: WeightSource(w: w, ld: c), c: ep.baseAddress! + img * p * o, ldc: o, accumulate: true)
                }
            }
        }
        XCTAssertEqual(bits(tokens), expected.map(\.bitPattern))

        let t = randomTensor([n, p, c], seed: 59), w2 = half(randomTensor([c, c, 1, 1], seed: 60))
        let res = randomTensor([n, c, 16, 16], seed: 61), b2 = Weight(randomTensor([c], seed: 62))
        let img = conv1x1FromTokens(t, w2, b2, residual: res)
        let bf = b2.toTensor().data
        var back: [Float] = (0..<res.count).map { i in res.data[i] + bf[(i / p) % c] }
        t.withUnsafe { tp in
            back.withUnsafeMutableBufferPointer { bp in
                for i in 0..<n {
                    gemmParallel(m: c, n: p, k: c, a: WeightSource(w: w2, ld: c),
                                 b: RowMajorSource(base: tp.baseAddress! + i * p * c, ld: c),
                                 c: bp.baseAddress! + i * c * p, ldc: p, accumulate: true)
                }
            }
        }
        XCTAssertEqual(bits(img), back.map(\.bitPattern))
    }

    // linear with bias and residual: residual + bias first, then the product accumulated, as before.
    func testLinearResidualPassMatchesSerialOrder() {
        let x = randomTensor([600, 48], seed: 63), w = half(randomTensor([70, 48], seed: 64))
        let b = Weight(randomTensor([70], seed: 65)), res = randomTensor([600, 70], seed: 66)
        let y = linear(x, w, b, residual: res)
        let bf = b.toTensor().data
        var e: [Float] = (0..<res.count).map { i in res.data[i] + bf[i % 70] }
        x.withUnsafe { xp in
            e.withUnsafeMutableBufferPointer {
                gemmNT(m: 600, n: 70, k: 48, a: xp.baseAddress!, lda: 48, weight: w, c: $0.baseAddress!, ldc: 70, accumulate: true)
            }
        }
        XCTAssertEqual(bits(y), e.map(\.bitPattern))
    }
}
