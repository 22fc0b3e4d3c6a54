import CDiffuseCPU
import DiffuseKernelsAVX512
import Foundation

// A vectorised float32 exp that returns exactly what the C library's expf (Foundation.exp) returns.
//
// Each lane is computed in double precision (Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, degree-10
// Taylor polynomial: relative error about 1e-13) and rounded once to float. That rounding is the
// correctly rounded exp unless the exact value lies within the error of a rounding midpoint. glibc's
// expf is documented to be within 0.502 ulp, so it too returns the correctly rounded value except within
// 0.002 ulp of a midpoint. Lanes within 1/256 ulp of a midpoint (about 0.8% of inputs), and lanes whose
// result would be subnormal, overflow or NaN, are recomputed with the scalar library call: the result is
// bit-identical to Foundation.exp for every input (checked exhaustively by `diffuse-bench-kernels
// --exhaustive-exp`, sampled in the tests).
//
// On AVX-512 the in-place loops run CDiffuseCPU's exp512.c instead: the same double-then-midpoint-test
// scheme, but with a 16-entry table of 2^(j/16) in registers so the polynomial is degree 5, and the
// midpoint test on the double's bits (about 3× cheaper per element; its error budget is in that file).

/// exp(x) for 8 lanes, bit-identical to `Foundation.exp(Float)` lane by lane.
public func exactExp(_ x: SIMD8<Float>) -> SIMD8<Float> { exp8(x) }

@inline(__always)
private func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo = expHalf(x.lowHalf), hi = expHalf(x.highHalf)
    var y = SIMD8<Float>(lowHalf: lo.0, highHalf: hi.0)
    let redo = lo.1 | (hi.1 << 4)
    if redo != 0 { redoLanes(&y, x, redo) }
    return y
}

/// The rare lanes near a rounding midpoint or out of range, through the library call (kept out of line
/// so the common path stays small).
@inline(never)
private func redoLanes(_ y: inout SIMD8<Float>, _ x: SIMD8<Float>, _ redo: UInt8) {
    for i in 0..<8 where redo & (1 << i) != 0 { y[i] = Foundation.exp(x[i]) }
}

/// 4 lanes in double; returns the rounded floats and a bit mask (lane i at bit i) of lanes that need the
/// scalar call.
@inline(__always)
private func expHalf(_ xf: SIMD4<Float>) -> (SIMD4<Float>, UInt8) {
    let x = SIMD4<Double>(Double(xf[0]), Double(xf[1]), Double(xf[2]), Double(xf[3]))
    // n = round(x / ln2) via the 1.5·2⁵² shifter: the low mantissa bits of t then hold n.
    let shifter = SIMD4<Double>(repeating: 6_755_399_441_055_744.0)
    let t = shifter.addingProduct(x, SIMD4(repeating: 1.4426950408889634))
    let n = t - shifter
    // r = x − n·ln2 in two steps (ln2Hi has 32 significant bits, so n·ln2Hi is exact for |n| < 2²¹).
    var r = x.addingProduct(-n, SIMD4(repeating: 0.6931471803691238))
    r = r.addingProduct(-n, SIMD4(repeating: 1.9082149292705877e-10))
    // exp(r) = Σ rᵏ/k!, k ≤ 10: truncation error below (ln2/2)¹¹/11! ≈ 2e-13, relative. Estrin's
    // scheme (pairs, then powers r², r⁴, r⁸) keeps the dependency chain 4 FMAs deep instead of 10.
    let r2 = r * r, r4 = r2 * r2, r8 = r4 * r4
    let q01 = SIMD4<Double>(repeating: 1).addingProduct(r, SIMD4(repeating: 1))
    let q23 = SIMD4<Double>(repeating: 1.0 / 2).addingProduct(r, SIMD4(repeating: 1.0 / 6))
    let q45 = SIMD4<Double>(repeating: 1.0 / 24).addingProduct(r, SIMD4(repeating: 1.0 / 120))
    let q67 = SIMD4<Double>(repeating: 1.0 / 720).addingProduct(r, SIMD4(repeating: 1.0 / 5_040))
    let q89 = SIMD4<Double>(repeating: 1.0 / 40_320).addingProduct(r, SIMD4(repeating: 1.0 / 362_880))
    let q03 = q01.addingProduct(r2, q23), q47 = q45.addingProduct(r2, q67)
    let q810 = q89.addingProduct(r2, SIMD4(repeating: 1.0 / 3_628_800))
    let p = q03.addingProduct(r4, q47).addingProduct(r8, q810)
    let scaleBits = (unsafeBitCast(t, to: SIMD4<UInt64>.self) &<< 52) &+ SIMD4<UInt64>(repeating: 0x3FF0_0000_0000_0000)
    let y = p * unsafeBitCast(scaleBits, to: SIMD4<Double>.self)
    let f = SIMD4<Float>(Float(y[0]), Float(y[1]), Float(y[2]), Float(y[3]))
    // Distance of y from the nearest rounding midpoint, in float ulps of y's binade (2^(e−23)): the
    // rounding error d = y − f is exact in double, and the midpoint sits at |d| = ulp/2. Lanes within
    // ulp/256 of it are flagged, far beyond the double computation's error (about 2⁻²³ ulp). Only float
    // and masked-bit vector operations here: Swift's integer SIMD comparisons are not vectorised.
    let yBits = unsafeBitCast(y, to: SIMD4<UInt64>.self) & 0x7FF0_0000_0000_0000
    let ulp = unsafeBitCast(yBits &- (23 << 52), to: SIMD4<Double>.self)
    let d = y - SIMD4<Double>(Double(f[0]), Double(f[1]), Double(f[2]), Double(f[3]))
    let absD = unsafeBitCast(unsafeBitCast(d, to: SIMD4<UInt64>.self) & 0x7FFF_FFFF_FFFF_FFFF, to: SIMD4<Double>.self)
    let e = absD - ulp * 0.5, tol = ulp * (1.0 / 256)
    let nearMidpoint = (e .< tol) .& (e .> -tol)
    // Outside [-87, 88.5] the float result is subnormal, infinite or zero; NaN fails both comparisons.
    let low: SIMDMask<SIMD4<Int64>> = x .< -87, high: SIMDMask<SIMD4<Int64>> = x .> 88.5
    let outOfRange = low .| high .| (x .!= x)
    let redo = nearMidpoint .| outOfRange
    if !any(redo) { return (f, 0) }
    var mask: UInt8 = 0
    for i in 0..<4 where redo[i] { mask |= 1 << i }
    return (f, mask)
}


/// p[i] = exp(p[i]) for i < count, bit-identical to Foundation.exp. Loops here rather than in callers:
/// one call per vector from another file cannot be inlined in debug builds and serialises the
/// dependency chains of consecutive vectors.
public func exactExpInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    #if arch(x86_64)
    if GemmTile.active == .avx512 { diffuse_exp_avx512(p, count); return }
    #endif
    exactExpInPlaceAVX2(p, count: count)
}

/// The AVX2 (4 doubles per register) version; also the reference the AVX-512 one is tested against.
func exactExpInPlaceAVX2(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
        let a = exp8(loadF8(p + i)), b = exp8(loadF8(p + i + 8))
        storeF8(p + i, a); storeF8(p + i + 8, b)
        i += 16
    }
    while i < count { p[i] = Foundation.exp(p[i]); i += 1 }
}

/// p[i] = p[i] / (1 + exp(−p[i])) (SiLU), bit-identical to that scalar formula with Foundation.exp.
public func siluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    #if arch(x86_64)
    if GemmTile.active == .avx512 { diffuse_silu_avx512(p, count); return }
    #endif
    siluInPlaceAVX2(p, count: count)
}

func siluInPlaceAVX2(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
        let x0 = loadF8(p + i), x1 = loadF8(p + i + 8)
        let e0 = exp8(-x0), e1 = exp8(-x1)
        storeF8(p + i, x0 / (1 + e0)); storeF8(p + i + 8, x1 / (1 + e1))
        i += 16
    }
    while i < count { let v = p[i]; p[i] = v / (1 + Foundation.exp(-v)); i += 1 }
}

@inline(__always)
private func loadF8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
private func storeF8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
