import DiffuseCore
import Foundation

// Backward of the activations and shape plumbing; formulas are the derivatives of DiffuseCore's
// forward definitions (erf GELU, diffusers' GEGLU = hidden · gelu(gate)).

/// dy · d/dx[x·σ(x)] = dy · σ(x)·(1 + x·(1 − σ(x))), eight lanes at a time: `exactExp` gives the values of
/// Foundation.exp, and the lane arithmetic is the scalar formula's, so results equal the scalar loop's.
public func siluBackward(x: Tensor, dy: Tensor) -> Tensor {
    precondition(x.count == dy.count, "siluBackward: \(x.shape) vs \(dy.shape)")
    return x.withUnsafe { xp in dy.withUnsafe { gp in
        uninitializedTensor(x.shape) { yp in
            let xb = xp.baseAddress!, gb = gp.baseAddress!, yb = yp.baseAddress!, n = yp.count
            @inline(__always) func grad(_ v: Float, _ g: Float) -> Float {
                let s = 1 / (1 + Foundation.exp(-v)); return g * s * (1 + v * (1 - s))
            }
            // Chunks of whole vectors; a thread hop only for tensors worth it.
            Parallel.forRange(n / 8, minChunk: 8192) { r in
                for v in r {
                    let i = v * 8
                    let xv = UnsafeRawPointer(xb + i).loadUnaligned(as: SIMD8<Float>.self)
                    let gv = UnsafeRawPointer(gb + i).loadUnaligned(as: SIMD8<Float>.self)
                    let sv = 1 / (1 + exactExp(-xv))
                    let out = gv * sv * (1 + xv * (1 - sv))
                    UnsafeMutableRawPointer(yb + i).storeBytes(of: out, as: SIMD8<Float>.self)
                }
            }
            for i in (n / 8 * 8)..<n { yb[i] = grad(xb[i], gb[i]) }
        }
    } }
}

/// dy · (Φ(x) + x·φ(x)) for the exact (erf) GELU; 8 lanes at a time with `exactErf` and `exactExp`,
/// which return Foundation.erf's and Foundation.exp's values, so results equal the scalar formula's.
public func geluBackward(x: Tensor, dy: Tensor) -> Tensor {
    precondition(x.count == dy.count, "geluBackward: \(x.shape) vs \(dy.shape)")
    return x.withUnsafe { xp in dy.withUnsafe { gp in
        uninitializedTensor(x.shape) { yp in
            let xb = xp.baseAddress!, gb = gp.baseAddress!, yb = yp.baseAddress!, n = yp.count
            Parallel.forRange(n / 8, minChunk: 2048) { r in
                for v in r {
                    let i = v * 8
                    let xv = load8(xb + i), gv = load8(gb + i)
                    store8(yb + i, gv * geluDerivative8(xv, erf: exactErf(xv * 0.7071067811865476)))
                }
            }
            for i in (n / 8 * 8)..<n { yb[i] = gb[i] * geluDerivative(xb[i]) }
        }
    } }
}

@inline(__always)
func geluDerivative(_ v: Float) -> Float {
    let cdf = 0.5 * (1 + Foundation.erf(v * 0.7071067811865476))
    let pdf = Foundation.exp(-0.5 * v * v) * 0.3989422804014327
    return cdf + v * pdf
}

/// `geluDerivative` for 8 lanes, given erf(v/√2) (shared with the forward value in GEGLU's backward).
@inline(__always)
func geluDerivative8(_ v: SIMD8<Float>, erf e: SIMD8<Float>) -> SIMD8<Float> {
    let cdf = 0.5 * (1 + e)
    let pdf = exactExp(-0.5 * v * v) * 0.3989422804014327
    return cdf + v * pdf
}

/// GEGLU x [..., 2N] → y [..., N] = x[..., :N] · gelu(x[..., N:]); returns dx [..., 2N].
public func gegluBackward(x: Tensor, dy: Tensor) -> Tensor {
    let d2 = x.shape.last!, d = d2 / 2, rows = x.count / d2
    var dx = uninitializedTensor(x.shape) { _ in }   // every element written below
    x.withUnsafe { xp in dy.withUnsafe { gp in dx.withUnsafeMutable { op in
        let xb = xp.baseAddress!, gb = gp.baseAddress!, ob = op.baseAddress!
        Parallel.forRange(rows, minChunk: 16) { r in
            for row in r {
                let s = xb + row * d2, g = gb + row * d, o = ob + row * d2
                var i = 0
                while i + 8 <= d {
                    let hidden = load8(s + i), gate = load8(s + d + i), gv = load8(g + i)
                    let e = exactErf(gate * 0.7071067811865476)
                    store8(o + i, gv * (0.5 * gate * (1 + e)))   // gelu(gate), as geluScalar
                    store8(o + d + i, gv * hidden * geluDerivative8(gate, erf: e))
                    i += 8
                }
                for i in i..<d {
                    let hidden = s[i], gate = s[d + i]
                    o[i] = g[i] * geluScalar(gate)
                    o[d + i] = g[i] * hidden * geluDerivative(gate)
                }
            }
        }
    } } }
    return dx
}

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) private func store8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Nearest 2× upsampling backward: each input pixel collects the four outputs it was copied to.
public func upsampleNearest2xBackward(dy: Tensor) -> Tensor {
    let (n, c, h2, w2) = (dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3])
    let h = h2 / 2, w = w2 / 2
    return uninitializedTensor([n, c, h, w]) { out in
        dy.withUnsafe { g in
            for nc in 0..<(n * c) {
                let s = g.baseAddress! + nc * h2 * w2
                for y in 0..<h { for x in 0..<w {
                    let a = s + 2 * y * w2 + 2 * x
                    out[nc * h * w + y * w + x] = a[0] + a[1] + a[w2] + a[w2 + 1]
                } }
            }
        }
    }
}

/// Splits `x` along `axis` into pieces of the given sizes: the backward of `concat`.
public func splitSizes(_ x: Tensor, sizes: [Int], axis: Int) -> [Tensor] {
    precondition(sizes.reduce(0, +) == x.shape[axis], "splitSizes: \(sizes) vs \(x.shape) axis \(axis)")
    let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
    let rowLen = x.shape[axis] * inner
    var offset = 0
    return sizes.map { size in
        var shape = x.shape
        shape[axis] = size
        let start = offset
        offset += size * inner
        return uninitializedTensor(shape) { buf in
            x.withUnsafe { xp in
                for o in 0..<outer {
                    (buf.baseAddress! + o * size * inner).update(from: xp.baseAddress! + o * rowLen + start, count: size * inner)
                }
            }
        }
    }
}

/// Embedding backward: row `ids[i]` of dTable [V, D] gains row i of dy [L, D].
public func embeddingBackward(ids: [Int], dy: Tensor, dTable: inout Tensor) {
    let d = dTable.shape[1]
    for (r, id) in ids.enumerated() { for x in 0..<d { dTable.data[id * d + x] += dy.data[r * d + x] } }
}

/// Mean squared error over all elements and its gradient with respect to `prediction`.
public func mseLoss(_ prediction: Tensor, _ target: Tensor) -> (loss: Float, grad: Tensor) {
    precondition(prediction.shape == target.shape, "mseLoss: \(prediction.shape) vs \(target.shape)")
    let n = Float(prediction.count)
    var sum = 0.0
    var grad = Tensor(zeros: prediction.shape)
    for i in 0..<prediction.count {
        let e = prediction.data[i] - target.data[i]
        sum += Double(e) * Double(e)
        grad.data[i] = 2 * e / n
    }
    return (Float(sum / Double(prediction.count)), grad)
}

/// Sinusoidal timestep embedding as diffusers' get_timestep_embedding(t, dim, flip_sin_to_cos=True,
/// downscale_freq_shift=0): [cos(t·f), sin(t·f)] with f_i = exp(−ln(10000)·i/half). t [B] → [B, dim].
/// Not differentiated: the timestep is an input, the learned part is the MLP after it.
public func timestepEmbedding(_ t: [Float], dim: Int) -> Tensor {
    let half = dim / 2
    let freqs = (0..<half).map { Float(Foundation.exp(-Foundation.log(10000.0) * Double($0) / Double(half))) }
    return Tensor(shape: [t.count, dim]) { out in
        for (b, tv) in t.enumerated() {
            for i in 0..<half {
                let arg = tv * freqs[i]
                out[b * dim + i] = Foundation.cos(arg)
                out[b * dim + half + i] = Foundation.sin(arg)
            }
        }
    }
}

/// f(a[i], b[i]) elementwise into a new tensor of a's shape.
func zipMap(_ a: Tensor, _ b: Tensor, _ f: @escaping (Float, Float) -> Float) -> Tensor {
    precondition(a.count == b.count, "zipMap: \(a.shape) vs \(b.shape)")
    return a.withUnsafe { ap in b.withUnsafe { bp in uninitializedTensor(a.shape) { yp in
        let ab = ap.baseAddress!, bb = bp.baseAddress!, yb = yp.baseAddress!
        Parallel.forRange(a.count, minChunk: 16384) { r in for i in r { yb[i] = f(ab[i], bb[i]) } }
    } } }
}
