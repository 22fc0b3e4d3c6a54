import Foundation

// Small operations the networks need beyond DiffuseCore's kernels.

/// Sinusoidal timestep embedding, as diffusers' `get_timestep_embedding` computes it in float32:
/// freq_i = exp(-ln(10000) · i / (half − freqShift)), emb = [sin(t·freq), cos(t·freq)] (cos first when
/// `flipSinToCos`). Each step is rounded to Float like torch's float32 ops, so t ≈ 1000 arguments agree.
/// Returns [batch, dim], the same row for every batch element.
func timestepEmbedding(_ t: Float, dim: Int, batch: Int, flipSinToCos: Bool, freqShift: Float) -> Tensor {
    let half = dim / 2
    var row = [Float](repeating: 0, count: dim)
    let logMax = Float(-Foundation.log(10000.0))
    for i in 0..<half {
        let exponent = (logMax * Float(i)) / (Float(half) - freqShift)
        let freq = Float(Foundation.exp(Double(exponent)))
        let arg = t * freq
        let s = Float(Foundation.sin(Double(arg))), c = Float(Foundation.cos(Double(arg)))
        row[i] = flipSinToCos ? c : s
        row[half + i] = flipSinToCos ? s : c
    }
    // An odd `dim` leaves the last column zero, like diffusers' zero padding.
    return Tensor(shape: [batch, dim], data: Array([[Float]](repeating: row, count: batch).joined()))
}

/// Zero-pads x [N, C, H, W] by one row at the bottom and one column at the right → [N, C, H+1, W+1]
/// (diffusers' Downsample2D with padding 0 pads (0, 1, 0, 1) before its stride-2 convolution).
func padBottomRight(_ x: Tensor) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return Tensor(shape: [n, c, h + 1, w + 1]) { buf in
        x.withUnsafe { xp in
            for nc in 0..<(n * c) {
                for y in 0..<h {
                    (buf.baseAddress! + (nc * (h + 1) + y) * (w + 1))
                        .update(from: xp.baseAddress! + (nc * h + y) * w, count: w)
                }
            }
        }
    }
}

/// Nearest-neighbour resize of x [N, C, H, W] to [N, C, outH, outW] with torch's rule
/// src = floor(dst · in / out). Only used when a skip connection's size is not exactly twice the input
/// (latent sizes not divisible by the UNet's downsampling factor).
func resizeNearest(_ x: Tensor, height outH: Int, width outW: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    if outH == 2 * h && outW == 2 * w { return upsampleNearest2x(x) }
    let sy = Float(h) / Float(outH), sx = Float(w) / Float(outW)
    let ys = (0..<outH).map { min(h - 1, Int((Float($0) * sy).rounded(.down))) }
    let xs = (0..<outW).map { min(w - 1, Int((Float($0) * sx).rounded(.down))) }
    return Tensor(shape: [n, c, outH, outW]) { buf in
        x.withUnsafe { xp in
            for nc in 0..<(n * c) {
                for (oy, iy) in ys.enumerated() {
                    for (ox, ix) in xs.enumerated() { buf[(nc * outH + oy) * outW + ox] = xp[(nc * h + iy) * w + ix] }
                }
            }
        }
    }
}

/// x [B, L, D] + table rows 0..<L (position embeddings), the same rows for every batch element.
func addRows(_ x: Tensor, _ rows: Tensor) -> Tensor {
    let per = rows.count
    var y = x
    y.withUnsafeMutable { yp in
        for b in 0..<(x.count / per) { for i in 0..<per { yp[b * per + i] += rows.data[i] } }
    }
    return y
}
