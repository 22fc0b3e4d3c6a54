import Foundation

// Activations and shape plumbing. Formulas follow torch's definitions exactly (erf GELU, tanh GELU,
// CLIP's quick GELU = x·σ(1.702x)).

@inline(__always)
func mapParallel(_ x: Tensor, _ f: @escaping (Float) -> Float) -> Tensor {
    var y = x
    y.withUnsafeMutable { p in
        let base = p.baseAddress!
        Parallel.forRange(p.count, minChunk: 16384) { r in for i in r { base[i] = f(base[i]) } }
    }
    return y
}

/// f applied to 8 lanes at a time (`exactExp` inside keeps results identical to the scalar formula).
@inline(__always)
func mapParallel8(_ x: Tensor, _ f: @escaping (SIMD8<Float>) -> SIMD8<Float>) -> Tensor {
    var y = x
    y.withUnsafeMutable { p in
        let base = p.baseAddress!, n = p.count
        Parallel.forRange((n + 7) / 8, minChunk: 2048) { r in
            for v in r {
                let i = v * 8
                if i + 8 <= n { store8f(base + i, f(load8f(base + i))); continue }
                var t = SIMD8<Float>()
                for j in i..<n { t[j - i] = base[j] }
                t = f(t)
                for j in i..<n { base[j] = t[j - i] }
            }
        }
    }
    return y
}

public func silu(_ x: Tensor) -> Tensor {
    var y = x
    y.withUnsafeMutable { p in
        let base = p.baseAddress!
        Parallel.forRange(p.count, minChunk: 16384) { r in siluInPlace(base + r.lowerBound, count: r.count) }
    }
    return y
}
public func gelu(_ x: Tensor) -> Tensor {
    var y = x
    y.withUnsafeMutable { p in
        let base = p.baseAddress!
        Parallel.forRange(p.count, minChunk: 16384) { r in geluInPlace(base + r.lowerBound, count: r.count) }
    }
    return y
}
public func geluTanh(_ x: Tensor) -> Tensor {
    mapParallel(x) { v in 0.5 * v * (1 + Foundation.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) }
}
public func quickGelu(_ x: Tensor) -> Tensor { mapParallel8(x) { $0 / (1 + exactExp(-1.702 * $0)) } }

/// The scalar definition; `gelu8` (VectorErf.swift) computes the same values 8 lanes at a time.
@inline(__always)
public func geluScalar(_ v: Float) -> Float { 0.5 * v * (1 + Foundation.erf(v * 0.7071067811865476)) }

/// GEGLU: x [..., 2N] → x[..., :N] · gelu(x[..., N:]) (diffusers' GEGLU splits hidden, gate in that order).
public func geglu(_ x: Tensor) -> Tensor {
    let d2 = x.shape.last!, d = d2 / 2
    let rows = x.count / d2
    var shape = x.shape
    shape[shape.count - 1] = d
    var y = Tensor(zeros: shape)
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            let xb = xp.baseAddress!, yb = yp.baseAddress!
            Parallel.forRange(rows, minChunk: 16) { r in
                for row in r {
                    let s = xb + row * d2, o = yb + row * d
                    gegluRow(value: s, gate: s + d, out: o, count: d)
                }
            }
        }
    }
    return y
}

/// a + b elementwise (same shape).
public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
    var y = a
    y.withUnsafeMutable { yp in
        b.withUnsafe { bp in
            let yb = yp.baseAddress!, bb = bp.baseAddress!
            Parallel.forRange(yp.count, minChunk: 16384) { r in for i in r { yb[i] += bb[i] } }
        }
    }
    return y
}

/// x · s elementwise.
public func scale(_ x: Tensor, _ s: Float) -> Tensor { mapParallel(x) { $0 * s } }

/// x [N, C, H, W] + v [N, C] broadcast over the plane (time embeddings into ResNet blocks).
public func addPerChannel(_ x: Tensor, _ v: Tensor) -> Tensor {
    let n = x.shape[0], c = x.shape[1], plane = x.count / (n * c)
    precondition(v.count == n * c, "addPerChannel: \(x.shape) vs \(v.shape)")
    // Written into a fresh tensor (x is normally still referenced: `var y = x` would copy it on one thread).
    return Tensor.overwritten(shape: x.shape) { yb in
        x.withUnsafe { xp in
            let xb = xp.baseAddress!
            Parallel.forRange(n * c) { r in
                for nc in r { let add = v.data[nc]; for i in 0..<plane { yb[nc * plane + i] = xb[nc * plane + i] + add } }
            }
        }
    }
}

/// Nearest-neighbour 2× upsampling of x [N, C, H, W] → [N, C, 2H, 2W].
public func upsampleNearest2x(_ x: Tensor) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var y = Tensor.overwritten(shape: [n, c, 2 * h, 2 * w]) { _ in }   // every element written below
    x.withUnsafe { xp in
        y.withUnsafeMutable { yp in
            let xb = xp.baseAddress!, yb = yp.baseAddress!
            Parallel.forRange(n * c) { r in
                for nc in r {
                    let s = xb + nc * h * w, d = yb + nc * 4 * h * w
                    for iy in 0..<h {
                        let row = d + 2 * iy * 2 * w
                        for ix in 0..<w { let v = s[iy * w + ix]; row[2 * ix] = v; row[2 * ix + 1] = v }
                        (row + 2 * w).update(from: row, count: 2 * w)
                    }
                }
            }
        }
    }
    return y
}

/// Concatenates along `axis` (all other dimensions equal).
public func concat(_ ts: [Tensor], axis: Int) -> Tensor {
    var shape = ts[0].shape
    shape[axis] = ts.reduce(0) { $0 + $1.shape[axis] }
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    let rowLen = shape[axis] * inner
    // Every element written once; the copies split over the threads by outer index (images).
    return Tensor.overwritten(shape: shape) { yp in
        forRows(outer, cols: rowLen) { os in
            var offset = 0
            for t in ts {
                let len = t.shape[axis] * inner
                t.withUnsafe { tp in
                    for o in os { (yp + o * rowLen + offset).update(from: tp.baseAddress! + o * len, count: len) }
                }
                offset += len
            }
        }
    }
}

/// Splits along `axis` into `parts` equal pieces.
public func split(_ x: Tensor, parts: Int, axis: Int) -> [Tensor] {
    let size = x.shape[axis] / parts
    let outer = x.shape[..<axis].reduce(1, *)
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    var shape = x.shape
    shape[axis] = size
    return (0..<parts).map { k in
        Tensor(shape: shape) { buf in
            x.withUnsafe { xp in
                for o in 0..<outer {
                    (buf.baseAddress! + o * size * inner).update(
                        from: xp.baseAddress! + (o * x.shape[axis] + k * size) * inner, count: size * inner)
                }
            }
        }
    }
}

/// [N, C, H, W] → [N, H·W, C] (image to token sequence) and back.
/// [N, C, H, W] → [N, H·W, C] (a blocked copy, images split over the threads: `toChannelsLast`).
public func channelsLast(_ x: Tensor) -> Tensor {
    let (n, c) = (x.shape[0], x.shape[1]), p = x.count / max(n * c, 1)
    return Tensor.overwritten(shape: [n, p, c]) { buf in
        x.withUnsafe { toChannelsLast($0.baseAddress!, images: n, channels: c, plane: p, into: buf) }
    }
}

/// [N, H·W, C] → [N, C, H, W]: the same per-image transpose read the other way.
public func channelsFirst(_ x: Tensor, height: Int, width: Int) -> Tensor {
    let (n, p, c) = (x.shape[0], x.shape[1], x.shape[2])
    return Tensor.overwritten(shape: [n, c, height, width]) { buf in
        x.withUnsafe { toChannelsLast($0.baseAddress!, images: n, channels: p, plane: c, into: buf) }
    }
}

/// Rows of an embedding table: ids [L] → [L, D].
public func embedding(_ ids: [Int], table: Weight) -> Tensor {
    let d = table.shape[1]
    return Tensor(shape: [ids.count, d]) { buf in
        for (r, id) in ids.enumerated() { table.widen(from: id * d, count: d, into: buf.baseAddress! + r * d) }
    }
}

// File-local SIMD load/store: in debug builds (no whole-module optimisation) a helper from another file
// is an out-of-line call even when marked always-inline, which costs more than the load itself.
@inline(__always)
fileprivate func load8f(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
fileprivate func load8f(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
fileprivate func store8f(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
