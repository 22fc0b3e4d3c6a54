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

/// dy · (Φ(x) + x·φ(x)) for the exact (erf) GELU. erf and exp come from DiffuseCore's array kernels
/// (`exactErfScaled`, `exactExpInPlace`), which return Foundation.erf's and Foundation.exp's values, and
/// the lane arithmetic is `geluDerivative`'s, so results equal the scalar formula's.
public func geluBackward(x: Tensor, dy: Tensor) -> Tensor {
    precondition(x.count == dy.count, "geluBackward: \(x.shape) vs \(dy.shape)")
    return x.withUnsafe { xp in dy.withUnsafe { gp in
        uninitializedTensor(x.shape) { yp in
            let xb = xp.baseAddress!, gb = gp.baseAddress!, yb = yp.baseAddress!, n = yp.count
            let blocks = (n + geluBlock - 1) / geluBlock
            Parallel.forRange(blocks, minChunk: 32) { r in
                withGeluTables { e, pdf in
                    for blk in r {
                        let i0 = blk * geluBlock, m = min(geluBlock, n - i0)
                        geluTables(xb + i0, m, e, pdf)
                        var i = 0
                        while i + 8 <= m {
                            let v = load8(xb + i0 + i)
                            store8(yb + i0 + i, load8(gb + i0 + i) * geluDerivative8(v, load8(e + i), load8(pdf + i)))
                            i += 8
                        }
                        for i in i..<m { yb[i0 + i] = gb[i0 + i] * geluDerivative(xb[i0 + i], erf: e[i], exp: pdf[i]) }
                    }
                }
            }
        }
    } }
}

/// Φ(v) + v·φ(v) given erf(v/√2) and exp(−v²/2).
@inline(__always)
func geluDerivative(_ v: Float, erf e: Float, exp ex: Float) -> Float {
    let cdf = 0.5 * (1 + e)
    let pdf = ex * 0.3989422804014327
    return cdf + v * pdf
}

/// `geluDerivative` for 8 lanes, the same operations in the same order.
@inline(__always)
func geluDerivative8(_ v: SIMD8<Float>, _ e: SIMD8<Float>, _ ex: SIMD8<Float>) -> SIMD8<Float> {
    let cdf = 0.5 * (1 + e)
    let pdf = ex * 0.3989422804014327
    return cdf + v * pdf
}

/// Values per block of the GELU backward passes: erf and exp tables of one block stay in L1.
let geluBlock = 256

/// Two scratch tables of `geluBlock` floats (erf values, exp values).
@inline(__always)
func withGeluTables(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * geluBlock) { t in body(t.baseAddress!, t.baseAddress! + geluBlock) }
}

/// e[i] = erf(v[i]/√2), ex[i] = exp(−v[i]²/2) for i < n ≤ geluBlock.
@inline(__always)
func geluTables(_ v: UnsafePointer<Float>, _ n: Int, _ e: UnsafeMutablePointer<Float>, _ ex: UnsafeMutablePointer<Float>) {
    exactErfScaled(v, scale: 0.7071067811865476, into: e, count: n)
    var i = 0
    while i + 8 <= n { let x = load8(v + i); store8(ex + i, -0.5 * x * x); i += 8 }
    for i in i..<n { ex[i] = -0.5 * v[i] * v[i] }
    exactExpInPlace(ex, count: n)
}

/// GEGLU x [..., 2N] → y [..., N] = x[..., :N] · gelu(x[..., N:]); returns dx [..., 2N].
public func gegluBackward(x: Tensor, dy: Tensor) -> Tensor {
    let d2 = x.shape.last!, d = d2 / 2, rows = x.count / d2
    var dx = uninitializedTensor(x.shape) { _ in }   // every element written below
    x.withUnsafe { xp in dy.withUnsafe { gp in dx.withUnsafeMutable { op in
        let xb = xp.baseAddress!, gb = gp.baseAddress!, ob = op.baseAddress!
        Parallel.forRange(rows, minChunk: 16) { r in
            withGeluTables { e, pdf in
                for row in r {
                    let s = xb + row * d2, g = gb + row * d, o = ob + row * d2
                    var i0 = 0
                    while i0 < d {
                        let m = min(geluBlock, d - i0)
                        gegluBackwardBlock(hidden: s + i0, gate: s + d + i0, dy: g + i0, dHidden: o + i0, dGate: o + d + i0,
                                           count: m, e, pdf)
                        i0 += m
                    }
                }
            }
        }
    } } }
    return dx
}

/// One block of ≤ geluBlock columns: dHidden = dy·gelu(gate), dGate = dy·hidden·gelu′(gate), as the
/// scalar formulas (`geluScalar`, `geluDerivative`) compute them.
@inline(__always)
private func gegluBackwardBlock(hidden: UnsafePointer<Float>, gate: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                dHidden: UnsafeMutablePointer<Float>, dGate: UnsafeMutablePointer<Float>, count m: Int,
                                _ e: UnsafeMutablePointer<Float>, _ pdf: UnsafeMutablePointer<Float>) {
    geluTables(gate, m, e, pdf)
    var i = 0
    while i + 8 <= m {
        let h = load8(hidden + i), v = load8(gate + i), gv = load8(dy + i), ev = load8(e + i)
        store8(dHidden + i, gv * (0.5 * v * (1 + ev)))
        store8(dGate + i, gv * h * geluDerivative8(v, ev, load8(pdf + i)))
        i += 8
    }
    for i in i..<m {
        dHidden[i] = dy[i] * (0.5 * gate[i] * (1 + e[i]))
        dGate[i] = dy[i] * hidden[i] * geluDerivative(gate[i], erf: e[i], exp: pdf[i])
    }
}

/// SIMD8 loads/stores at any alignment (also used by the optimiser kernels).
@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) func store8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Nearest 2× upsampling backward: each input pixel collects the four outputs it was copied to.
public func upsampleNearest2xBackward(dy: Tensor) -> Tensor {
    let (n, c, h2, w2) = (dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3])
    let h = h2 / 2, w = w2 / 2
    return uninitializedTensor([n, c, h, w]) { out in
        dy.withUnsafe { g in
            let gb = g.baseAddress!, ob = out.baseAddress!
            Parallel.forRange(n * c, minChunk: max(1, 16384 / max(h2 * w2, 1))) { r in
                for nc in r {
                    let s = gb + nc * h2 * w2
                    for y in 0..<h { for x in 0..<w {
                        let a = s + 2 * y * w2 + 2 * x
                        ob[nc * h * w + y * w + x] = a[0] + a[1] + a[w2] + a[w2 + 1]
                    } }
                }
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
