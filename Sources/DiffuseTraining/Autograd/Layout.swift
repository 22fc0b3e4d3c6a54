import DiffuseCore

// Layout changes of the spatial transformers, [N, C, P] ↔ [N, P, C]: pure copies in blocks (8 channels ×
// 64 pixels, so reads and writes both stay in a few cache lines) with images split over the threads. The
// same values as DiffuseCore.channelsLast / channelsFirst, which do it serially, element by element.

/// [N, C, H, W] → [N, H·W, C].
func channelsLastTraining(_ x: Tensor) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1]), p = x.count / max(n * c, 1)
    return uninitializedTensor([n, p, c]) { out in
        x.withUnsafe { transposeBlocks($0.baseAddress!, images: n, rows: c, cols: p, into: out.baseAddress!) }
    }
}

/// [N, H·W, C] → [N, C, H, W].
func channelsFirstTraining(_ x: Tensor, height: Int, width: Int) -> Tensor {
    let (n, p, c) = (x.shape[0], x.shape[1], x.shape[2])
    return uninitializedTensor([n, c, height, width]) { out in
        x.withUnsafe { transposeBlocks($0.baseAddress!, images: n, rows: p, cols: c, into: out.baseAddress!) }
    }
}

/// Per image, src [rows, cols] → dst [cols, rows].
private func transposeBlocks(_ src: UnsafePointer<Float>, images n: Int, rows: Int, cols: Int,
                             into dst: UnsafeMutablePointer<Float>) {
    Parallel.forRange(n, minChunk: max(1, 16384 / max(rows * cols, 1))) { imgs in
        for img in imgs {
            let s = src + img * rows * cols, d = dst + img * rows * cols
            var r0 = 0
            while r0 < rows {
                let r1 = min(rows, r0 + 8)
                var c0 = 0
                while c0 < cols {
                    let c1 = min(cols, c0 + 64)
                    for j in c0..<c1 { for i in r0..<r1 { d[j * rows + i] = s[i * cols + j] } }
                    c0 = c1
                }
                r0 = r1
            }
        }
    }
}
