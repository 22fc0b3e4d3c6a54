import XCTest
@testable import DiffuseCore

/// The tight image-batch layout (GemmImageBatch.swift: images smaller than a tile share tiles) against
/// running each image alone, which pads its pixels to whole tiles. Exact comparisons: both feed every
/// output element the same FMA chain, so not one bit may differ.
final class ImageBatchTests: XCTestCase {
    private var savedThreads = 1
    override func setUp() { savedThreads = Parallel.threads }
    override func tearDown() { Parallel.threads = savedThreads }

    private func bits(_ t: Tensor) -> [UInt32] { t.data.map(\.bitPattern) }
    private func half(_ t: Tensor) -> Weight { Weight(shape: t.shape, dtype: .f16, bytes: encode(t.data, .f16)) }
    private func image(_ t: Tensor, _ i: Int) -> Tensor {
        let size = t.count / t.shape[0]
        return Tensor(shape: [1] + t.shape.dropFirst(), data: Array(t.data[(i * size)..<((i + 1) * size)]))
    }

    /// 4×4 images (2 per 32-wide tile, the UNet's lowest level), 2×2 (8 per tile, a partial last tile), 3×4
    /// (tiles straddling images at unaligned columns), a stride-2 convolution down to 4×4, a 1×1
    /// convolution; K over two blocks (64·9 = 576 > 384); 20 output channels (a partial row tile); 8 images
    /// × 12 channels so that the two threads split C by columns, the others by rows.
    func testSharedTilesEqualPerImageConvolutions() {
        let nr = GemmTile.active.nr
        for (n, c, h, w, o, k, stride) in [(2, 64, 4, 4, 20, 3, 1), (3, 8, 2, 2, 20, 3, 1), (3, 4, 3, 4, 20, 3, 1),
                                           (2, 16, 8, 8, 20, 3, 2), (2, 64, 4, 4, 20, 1, 1), (8, 64, 4, 4, 12, 3, 1)] {
            let pad = k / 2, ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
            // Every shape shares tiles on the 32-wide AVX-512 tile; on the 16-wide AVX2 one only the 2×2 images
            // do, and the rest still checks the padded batch against single images.
            if GemmTile.active == .avx512 || ho * wo == 4 {
                XCTAssertTrue(imagesShareTiles(n: n, p: ho * wo, width: nr), "\(n)×\(ho)×\(wo) should share tiles")
            }
            let x = randomTensor([n, c, h, w], seed: 91), wt = half(randomTensor([o, c, k, k], seed: 92))
            let b = Weight(randomTensor([o], seed: 93)), residual = randomTensor([n, o, ho, wo], seed: 94)
            for threads in [1, 2] {
                Parallel.threads = threads
                for r in [nil, residual] {
                    let batch = conv2d(x, wt, b, stride: stride, padding: pad, residual: r)
                    let alone = (0..<n).flatMap { i in
                        conv2d(image(x, i), wt, b, stride: stride, padding: pad, residual: r.map { image($0, i) }).data
                    }
                    XCTAssertEqual(bits(batch), alone.map(\.bitPattern),
                                   "\(n)×\(c)×\(h)×\(w) k\(k) s\(stride) → \(o), \(threads) threads, residual \(r != nil)")
                }
            }
            // K ≤ 576 products of values in [-1, 1] summed in float32: 1e-4 covers the rounding (f16 weights
            // are compared through their widened values, so storage rounding does not count).
            let ref = conv2dReference(x, wt.toTensor(), b.toTensor(), stride: stride, padding: pad)
            XCTAssertLessThan(conv2d(x, wt, b, stride: stride, padding: pad).maxAbsDifference(ref), 1e-4)
        }
    }

    /// The transformer's 1×1 projections at the 4×4 level (16 tokens per image): into tokens (the pixels as
    /// A rows, 12-row panels straddling images) and back (tokens as B columns, two images per tile), each
    /// against per-image GEMMs.
    func testSharedTilesEqualPerImageTokenProjections() {
        let (n, c, o, p) = (2, 64, 48, 16)
        XCTAssertEqual(imagesShareTiles(n: n, p: p, width: GemmTile.active.nr), GemmTile.active == .avx512)
        let x = randomTensor([n, c, 4, 4], seed: 95), w = half(randomTensor([o, c, 1, 1], seed: 96))
        let b = Weight(randomTensor([o], seed: 97))
        let t = randomTensor([n, p, o], seed: 98), w2 = half(randomTensor([c, o, 1, 1], seed: 99))
        let res = randomTensor([n, c, 4, 4], seed: 100), b2 = Weight(randomTensor([c], seed: 101))
        for threads in [1, 2] {
            Parallel.threads = threads
            let tokens = conv1x1ToTokens(x, w, b)   // [n, p, o]
            let tokensAlone = (0..<n).flatMap { conv1x1ToTokens(image(x, $0), w, b).data }
            XCTAssertEqual(bits(tokens), tokensAlone.map(\.bitPattern), "to tokens, \(threads) threads")

            let back = conv1x1FromTokens(t, w2, b2, residual: res)   // [n, c, 4, 4]
            let backAlone = (0..<n).flatMap { conv1x1FromTokens(image(t, $0), w2, b2, residual: image(res, $0)).data }
            XCTAssertEqual(bits(back), backAlone.map(\.bitPattern), "from tokens, \(threads) threads")
        }
    }

    /// A panel straddling images packs each image's rows into its columns and zeros the rest, whatever the
    /// width and start (checked element by element against the images' own rows).
    func testStraddlingPanelPacking() {
        let (rows, k) = (5, 7)
        let images = (0..<3).map { randomTensor([k, rows], seed: 102 + UInt64($0)) }   // K-major, [K, rows]
        let data = images.flatMap(\.data)
        data.withUnsafeBufferPointer { dp in
            let src = ImageBatchSource(images: (0..<3).map { KMajorSource(base: dp.baseAddress! + $0 * k * rows, ld: rows) },
                                       rowsPerImage: rows, validRows: rows)
            for (r0, count, width) in [(3, 8, 8), (0, 12, 12), (4, 11, 16), (9, 2, 6)] {
                var dst = [Float](repeating: .nan, count: width * (k - 1))
                dst.withUnsafeMutableBufferPointer { src.pack(rows: r0, count: count, width: width, k: 1, kc: k - 1, into: $0.baseAddress!) }
                for p in 0..<(k - 1) { for q in 0..<width {
                    let r = r0 + q
                    let want: Float = q < count ? images[r / rows].data[(p + 1) * rows + r % rows] : 0
                    XCTAssertEqual(dst[p * width + q].bitPattern, want.bitPattern, "r0 \(r0) count \(count) width \(width) p \(p) q \(q)")
                } }
            }
        }
    }
}
