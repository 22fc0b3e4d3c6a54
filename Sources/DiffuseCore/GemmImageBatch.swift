// A batch of images as one GEMM operand: the images' pixels side by side as the GEMM's columns (or rows),
// so a layer's weights are packed once per call instead of once per image.
//
// Two layouts. Padded: each image takes a whole number of tiles, its last tile partly padding (computed,
// never stored). Tight: images follow each other with no gap, and a tile may hold the end of one image and
// the start of the next; it is computed into a scratch tile and scattered to each image. At the UNet's
// lowest level (4×4 = 16 pixels per image against the 32-wide AVX-512 tile) the tight layout computes one
// tile for two images where padding computed two, half of them padding. Either way every element of C is
// the same FMA chain (K blocking depends on K only; a tile's column position changes no arithmetic), so
// both layouts give bit-identical results.

import Foundation

/// Whether n images of p pixels need fewer `width`-wide tiles laid out tight than padded image by image.
@inline(__always)
func imagesShareTiles(n: Int, p: Int, width: Int) -> Bool {
    sharedImageTilesEnabled && n > 1 && roundUp(n * p, width) < n * roundUp(p, width)
}

/// `DIFFUSE_NO_SHARED_TILES=1` pads every image to whole tiles as before, so that both layouts can be timed
/// in one build (their results are identical).
let sharedImageTilesEnabled = ProcessInfo.processInfo.environment["DIFFUSE_NO_SHARED_TILES"] != "1"

/// Where column j of C lives when C is a batch of images (NCHW convolution output): image j / columns,
/// at offset (j / columns) · stride + j % columns. Padded layout: `columns` is a multiple of the tile's
/// width, of which the first `valid` are the image's (the rest are computed but never stored). Tight
/// layout: `valid == columns`, any number, and a tile may straddle images (`straddles`). `.plain` is an
/// ordinary matrix.
struct ImageColumns {
    let columns: Int, stride: Int, valid: Int
    static let plain = ImageColumns(columns: Int.max, stride: 0)

    init(columns: Int, stride: Int, valid: Int? = nil) {
        self.columns = columns; self.stride = stride; self.valid = valid ?? columns
    }

    @inline(__always)
    func offset(ofColumn j: Int) -> Int { columns == Int.max ? j : (j / columns) * stride + j % columns }

    /// Stored columns from j to the end of its image.
    @inline(__always)
    func remaining(ofColumn j: Int) -> Int { columns == Int.max ? Int.max : valid - j % columns }

    /// Whether the tile of `count` columns from j holds columns of more than one image (tight layout only:
    /// in the padded one a tile ends at its image's padding).
    @inline(__always)
    func straddles(column j: Int, count: Int) -> Bool {
        columns != Int.max && valid == columns && j % columns + count > columns
    }
}

/// A tile whose columns j ..< j + nr span several images: computed whole into a scratch tile, then each
/// image's columns added onto (or copied into) C, as `microTile` does for a partial tile (C + tile sum, the
/// same rounding as the kernels' own store). c points at the tile's first row in image 0, column 0.
@inline(never)
func scatteredTile(_ tile: GemmTile, _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int, out: ImageColumns, column j: Int, mr: Int, nr: Int,
                   _ accumulate: Bool) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 12 * 32) { t in
        let scratch = t.baseAddress!, tc = tile.nr
        fullTile(tile, kc, a, b, scratch, tc, false)
        var q = 0
        while q < nr {
            let run = min(nr - q, out.remaining(ofColumn: j + q))
            addOrCopyRows(from: scratch + q, tc, to: c + out.offset(ofColumn: j + q), ldc, rows: mr, columns: run,
                          accumulate)
            q += run
        }
    }
}

/// GEMM rows spread over images, one source per image, `rowsPerImage` each, of which the first `validRows`
/// are the image's (the rest pack as zeros: the padded layout of `ImageColumns`). A panel that straddles
/// images (tight layout) is packed image by image through a scratch panel.
struct ImageBatchSource<S: PanelSource>: PanelSource {
    let images: [S]
    let rowsPerImage: Int, validRows: Int

    @inline(__always)
    func pack(rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        let local = r0 % rowsPerImage
        if local + count <= rowsPerImage {
            images[r0 / rowsPerImage].pack(rows: local, count: min(count, validRows - local), width: width, k: p0,
                                           kc: kc, into: dst)
        } else {
            packStraddling(rows: r0, count: count, width: width, k: p0, kc: kc, into: dst)
        }
    }

    /// Each image's run of rows packed alone (sources write whole panels, zeros included), then copied into
    /// its columns of dst. Only the lowest levels' few panels take this path, and there the weights, not B,
    /// dominate the cost.
    @inline(never)
    func packStraddling(rows r0: Int, count: Int, width: Int, k p0: Int, kc: Int,
                        into dst: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: kc * width) { t in
            let scratch = t.baseAddress!
            var q = 0
            while q < count {
                let r = r0 + q, local = r % rowsPerImage
                let run = min(count - q, rowsPerImage - local)
                images[r / rowsPerImage].pack(rows: local, count: max(0, min(run, validRows - local)), width: width,
                                              k: p0, kc: kc, into: scratch)
                for p in 0..<kc { copyFloats(dst + p * width + q, scratch + p * width, run) }
                q += run
            }
            if count < width { for p in 0..<kc { zeroFloats(dst + p * width + count, width - count) } }
        }
    }
}
