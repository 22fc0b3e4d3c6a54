import Foundation

// A vectorised float32 erf that returns exactly what the C library's erff (Foundation.erf) returns on
// glibc 2.36, and the exact GELU built on it.
//
// glibc 2.36's erff is the float conversion of Sun's fdlibm erf (1993): per range of |x| a rational
// function evaluated in float, no fused multiply-adds on x86_64. This file re-derives it from fdlibm's
// published algorithm notes and its coefficients (rounded to float, written as bit patterns):
//   |x| < 2⁻²⁸        erf = x + efx·x          (efx = 2/√π − 1; below 2⁻¹¹⁹: (16x + 16efx·x)/16)
//   |x| < 0.84375     erf = x + x·P(x²)/Q(x²)
//   |x| < 1.25        erf = erx + P(s)/Q(s),  s = |x| − 1, erx = erf(1) rounded to 24 bits
//   |x| < 6           erf = 1 − exp(−z² − 0.5625)·exp((z − |x|)(z + |x|) + R(1/x²)/S(1/x²))/|x|,
//                     z = |x| with its low 12 mantissa bits cleared, R/S from two tables (split at 1/0.35)
//   |x| ≥ 6           erf = ±1;  erf(±∞) = ±1, erf(NaN) = NaN
// with erf(−x) = −erf(x). Every lane runs the same float operations in the same order as the scalar
// algorithm (Swift never contracts a * b + c into an FMA), the two exps go through `exactExp`, and the
// ranges are blended per lane, so the result equals Foundation.erf bit for bit: checked over every float
// by `diffuse-bench-kernels --exhaustive-erf`, sampled in VectorErfTests.

private typealias F8 = SIMD8<Float>

@inline(__always) private func c(_ bits: UInt32) -> F8 { F8(repeating: Float(bitPattern: bits)) }

/// erf(x) for 8 lanes, bit-identical to `Foundation.erf(Float)` lane by lane. For arrays use
/// `exactErfInPlace`, which runs the costly range |x| in [1.25, 6) on gathered lanes only.
public func exactErf(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let ax = magnitude(x)
    var y = erfNear(x, ax)
    let far = (ax .>= 1.25) .& (ax .< 6)
    if any(far) {
        // Lanes outside [1.25, 6] are clamped into it so that no exp argument leaves exactExp's fast range.
        var a = ax
        a = select(a .< 1.25, c(0x3FA0_0000), a)   // 1.25
        a = select(.!(a .<= 6), c(0x40C0_0000), a)   // 6
        let (e1, e2) = erfFarExpArguments(a)
        y = select(far, withSign(erfFarFinish(a, exactExp(e1), exactExp(e2)), of: x), y)
    }
    return y
}

/// erf for every lane except those with |x| in [1.25, 6), whose values are left arbitrary.
@inline(__always)
private func erfNear(_ x: F8, _ ax: F8) -> F8 {
    var y = erfSmall(x, ax)
    let big = .!(ax .< 0.84375)   // NaN included
    if any(big) {
        // Computed for |x|, the sign restored at the end (erf is odd, and float negation is exact).
        var b = erfMid(ax)
        // |x| ≥ 6 and ±∞ give 1 (fdlibm's 1 − tiny rounds to 1); NaN propagates as in 1 + 1/x.
        b = select(ax .>= 6, c(0x3F80_0000), b)
        b = select(ax .!= ax, 1 + 1 / ax, b)
        y = select(big, withSign(b, of: x), y)
    }
    return y
}

/// m ? a : b per lane.
@inline(__always) private func select(_ m: SIMDMask<SIMD8<Int32>>, _ a: F8, _ b: F8) -> F8 { b.replacing(with: a, where: m) }

@inline(__always) private func magnitude(_ x: F8) -> F8 {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: F8.self)
}
/// |m| with the sign of x (m ≥ 0).
@inline(__always) private func withSign(_ m: F8, of x: F8) -> F8 {
    let sign = unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x8000_0000
    return unsafeBitCast(unsafeBitCast(m, to: SIMD8<UInt32>.self) | sign, to: F8.self)
}

/// |x| < 0.84375: x + x·P(x²)/Q(x²), with the tiny-argument forms below 2⁻²⁸ (other lanes are ignored).
@inline(__always)
private func erfSmall(_ x: F8, _ ax: F8) -> F8 {
    let z = x * x
    let r = c(0x3E03_75D4) + z * (c(0xBEA6_6BEB) + z * (c(0xBCE9_528F) + z * (c(0xBBBD_1489) + z * c(0xB7C7_56B1))))
    let s = 1 + z * (c(0x3ECB_BBCE) + z * (c(0x3D85_2A63) + z * (c(0x3BA6_8116) + z * (c(0x390A_EE49) + z * c(0xB684_E21A)))))
    var y = x + x * (r / s)
    let tiny = ax .< Float(bitPattern: 0x3180_0000)   // 2⁻²⁸: x·(1 + efx) in one step
    if any(tiny) {
        y = select(tiny, x + c(0x3E03_75D4) * x, y)
        // Below 2⁻¹¹⁹ the product efx·x would lose bits to underflow: scaled by 16 first (glibc's form;
        // fdlibm's original scales by 8, which differs from glibc 2.36 on 255,255 subnormal inputs).
        y = select(ax .< Float(bitPattern: 0x0400_0000), 0.0625 * (16 * x + c(0x4003_75D4) * x), y)
    }
    return y
}

/// 0.84375 ≤ a < 1.25: erx + P(a − 1)/Q(a − 1) (a = |x|).
@inline(__always)
private func erfMid(_ a: F8) -> F8 {
    let s = a - 1
    let p = c(0xBB1A_CDC6) + s * (c(0x3ED4_6805) + s * (c(0xBEBE_9208) + s * (c(0x3EA2_FE54)
        + s * (c(0xBDE3_1CC2) + s * (c(0x3D11_51B3) + s * c(0xBB0D_F9C0))))))
    let q = 1 + s * (c(0x3DD9_F331) + s * (c(0x3F0A_5785) + s * (c(0x3D93_1AE7)
        + s * (c(0x3E01_3307) + s * (c(0x3C5F_6E13) + s * c(0x3C44_5AA3))))))
    return c(0x3F58_560B) + p / q
}

/// 1.25 ≤ a < 6 (a = |x|): erf = 1 − exp(−z² − 0.5625)·exp((z − a)(z + a) + R(1/a²)/S(1/a²))/a; returns
/// the two exp arguments. R and S have one coefficient table below 1/0.35 and another, one degree
/// shorter, above it; padding the shorter one with a zero top coefficient leaves the nested evaluation's
/// values unchanged (c + s·0 = c exactly), so one polynomial with per-lane coefficients serves both.
@inline(__always)
private func erfFarExpArguments(_ a: F8) -> (F8, F8) {
    let s = 1 / (a * a)
    let outer = a .>= Float(bitPattern: 0x4036_DB6E)   // 1/0.35
    @inline(__always) func k(_ inner: UInt32, _ outerBits: UInt32) -> F8 {
        select(outer, c(outerBits), c(inner))
    }
    let r = k(0xBC21_A093, 0xBC21_A092) + s * (k(0xBF31_A0B7, 0xBF4C_9DD4) + s * (k(0xC128_F022, 0xC18E_104B)
        + s * (k(0xC279_8057, 0xC320_A2EA) + s * (k(0xC322_658C, 0xC41F_6441) + s * (k(0xC338_9AE7, 0xC480_230B)
        + s * (k(0xC2A2_932B, 0xC3F1_C275) + s * k(0xC11D_077E, 0)))))))
    let q = 1 + s * (k(0x419D_35CE, 0x41F2_B459) + s * (k(0x4309_A863, 0x43A2_E571) + s * (k(0x43D9_486F, 0x44C0_1759)
        + s * (k(0x4421_58C9, 0x4547_FDBB) + s * (k(0x43D6_810B, 0x451F_90CE) + s * (k(0x42D9_451F, 0x43ED_43A7)
        + s * (k(0x40D2_3F7C, 0xC1B3_8712) + s * k(0xBD77_7F97, 0))))))))
    // z: a with its low 12 mantissa bits cleared, so z·z is exact and the split keeps exp's argument exact.
    let z = unsafeBitCast(unsafeBitCast(a, to: SIMD8<UInt32>.self) & 0xFFFF_F000, to: F8.self)
    return (-z * z - 0.5625, (z - a) * (z + a) + r / q)
}

/// 1 − exp₁·exp₂/a, the far range's result for |x| = a from the two exps' values.
@inline(__always)
private func erfFarFinish(_ a: F8, _ e1: F8, _ e2: F8) -> F8 { 1 - e1 * e2 / a }

// MARK: Arrays

// In transformer activations every 8-lane vector mixes all ranges, so `exactErf` would pay for the far
// range (two exps) on every vector. The array path instead works on blocks: a first pass computes the
// cheap ranges for all lanes and gathers the lanes with |x| in [1.25, 6) (a quarter of GELU's inputs)
// into a dense buffer, whose exps then run 16 lanes at a time through `exactExpInPlace`.

/// Elements per block: the gathered buffers stay in L1.
let erfBlockSize = 256

/// Working memory of one block, allocated once per call.
struct ErfScratch {
    let x: UnsafeMutablePointer<Float>      // [erfBlockSize + 8] gathered signed x, then the results
    let args: UnsafeMutablePointer<Float>   // [2·(erfBlockSize + 8)] exp arguments, then exp values
    let index: UnsafeMutablePointer<Int32>  // [erfBlockSize] where each gathered lane came from
}

@inline(__always)
func withErfScratch<R>(_ body: (ErfScratch) -> R) -> R {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * (erfBlockSize + 8)) { f in
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: erfBlockSize) { i in
            body(ErfScratch(x: f.baseAddress!, args: f.baseAddress! + erfBlockSize + 8, index: i.baseAddress!))
        }
    }
}

/// p[i] = erf(p[i]) for i < count, bit-identical to Foundation.erf.
public func exactErfInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    withErfScratch { w in
        var i = 0
        while i < count { let n = min(erfBlockSize, count - i); erfBlock(p + i, n, w); i += n }
    }
}

/// erf in place on one block of n ≤ erfBlockSize values.
func erfBlock(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ w: ErfScratch) {
    var m = 0
    /// Records the far lanes of the vector at p[i...] (bit j of `bits` = lane j), then replaces the
    /// vector by its near-range values. A loop over set bits: about two per vector for GELU's inputs.
    @inline(__always) func near(_ x: F8, _ i: Int, _ count: Int) {
        let ax = magnitude(x)
        let far = (ax .>= 1.25) .& (ax .< 6)
        var bits = (unsafeBitCast(far, to: SIMD8<Int32>.self) & SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128)).wrappedSum()
        while bits != 0 {
            let j = bits.trailingZeroBitCount
            w.x[m] = p[i + j]
            w.index[m] = Int32(truncatingIfNeeded: i + j)
            m += 1
            bits &= bits - 1
        }
        let y = erfNear(x, ax)
        if count == 8 { st8(p + i, y) } else { for j in 0..<count { p[i + j] = y[j] } }
    }
    var i = 0
    while i + 8 <= n { near(ld8(p + i), i, 8); i += 8 }
    if i < n {
        var x = F8(repeating: 0)   // padding lanes: 0 is in the near range
        for j in i..<n { x[j - i] = p[j] }
        near(x, i, n - i)
    }
    if m == 0 { return }
    // The far lanes, padded to whole vectors with an in-range value; both exps in one call of 2·mp values
    // (a multiple of 16, so none goes through the scalar tail).
    let mp = (m + 7) & ~7
    for j in m..<mp { w.x[j] = 2 }
    var j = 0
    while j < mp {
        let (e1, e2) = erfFarExpArguments(magnitude(ld8(w.x + j)))
        st8(w.args + j, e1); st8(w.args + mp + j, e2)
        j += 8
    }
    exactExpInPlace(w.args, count: 2 * mp)
    j = 0
    while j < mp {
        let x = ld8(w.x + j)
        st8(w.x + j, withSign(erfFarFinish(magnitude(x), ld8(w.args + j), ld8(w.args + mp + j)), of: x))
        j += 8
    }
    for j in 0..<m { p[Int(w.index[j])] = w.x[j] }
}

/// The exact GELU 0.5·v·(1 + erf(v/√2)) for 8 lanes, bit-identical to `geluScalar`.
@inline(__always)
public func gelu8(_ v: SIMD8<Float>) -> SIMD8<Float> {
    0.5 * v * (1 + exactErf(v * 0.7071067811865476))
}

/// out[i] = erf(x[i]·scale) for i < count: the erf of GELU's argument. x and out must not overlap.
public func exactErfScaled(_ x: UnsafePointer<Float>, scale: Float, into out: UnsafeMutablePointer<Float>, count: Int) {
    withErfScratch { w in
        var i = 0
        while i < count {
            let n = min(erfBlockSize, count - i)
            var j = 0
            while j + 8 <= n { st8(out + i + j, ld8(x + i + j) * scale); j += 8 }
            while j < n { out[i + j] = x[i + j] * scale; j += 1 }
            erfBlock(out + i, n, w)
            i += n
        }
    }
}

/// out[i] = value[i] · gelu(gate[i]) for i < count (one GEGLU row), bit-identical to the scalar loop.
/// `out` may be `value`; it must not overlap `gate`.
public func gegluRow(value: UnsafePointer<Float>, gate: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: erfBlockSize) { t in
        let e = t.baseAddress!
        var i = 0
        while i < count {
            let n = min(erfBlockSize, count - i)
            exactErfScaled(gate + i, scale: 0.7071067811865476, into: e, count: n)
            var j = 0
            while j + 8 <= n {
                let g = ld8(gate + i + j)
                st8(out + i + j, ld8(value + i + j) * (0.5 * g * (1 + ld8(e + j))))
                j += 8
            }
            while j < n { out[i + j] = value[i + j] * (0.5 * gate[i + j] * (1 + e[j])); j += 1 }
            i += n
        }
    }
}

/// p[i] = gelu(p[i]) for i < count, bit-identical to `geluScalar`.
public func geluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: erfBlockSize) { t in
        let e = t.baseAddress!
        var i = 0
        while i < count {
            let n = min(erfBlockSize, count - i)
            exactErfScaled(p + i, scale: 0.7071067811865476, into: e, count: n)
            var j = 0
            while j + 8 <= n { let v = ld8(p + i + j); st8(p + i + j, 0.5 * v * (1 + ld8(e + j))); j += 8 }
            while j < n { let v = p[i + j]; p[i + j] = 0.5 * v * (1 + e[j]); j += 1 }
            i += n
        }
    }
}

@inline(__always) private func ld8(_ p: UnsafePointer<Float>) -> F8 { UnsafeRawPointer(p).loadUnaligned(as: F8.self) }
@inline(__always) private func ld8(_ p: UnsafeMutablePointer<Float>) -> F8 { UnsafeRawPointer(p).loadUnaligned(as: F8.self) }
@inline(__always) private func st8(_ p: UnsafeMutablePointer<Float>, _ v: F8) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}
