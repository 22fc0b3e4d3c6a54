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

/// erf(x) for 8 lanes, bit-identical to `Foundation.erf(Float)` lane by lane.
@inline(__always)
public func exactErf(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let signBit = unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x8000_0000
    let ax = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: F8.self)
    var y = erfSmall(x)
    // The ranges beyond 0.84375 are evaluated only when some lane lies in them; their results are
    // computed for |x| and the sign restored at the end (erf is odd, and float negation is exact).
    let mid = ax .>= 0.84375
    if any(mid) {
        var big = erfMid(ax)
        let far = ax .>= 1.25
        if any(far) { big.replace(with: erfFar(ax), where: far) }
        // ±∞ and |x| ≥ 6 give 1 (fdlibm's 1 − tiny rounds to 1); NaN propagates as in 1 + 1/x.
        big.replace(with: 1, where: ax .>= 6)
        big.replace(with: 1 + 1 / ax, where: ax .!= ax)
        let signed = unsafeBitCast(unsafeBitCast(big, to: SIMD8<UInt32>.self) | signBit, to: F8.self)
        y.replace(with: signed, where: mid .| (ax .!= ax))
    }
    return y
}

/// |x| < 0.84375: x + x·P(x²)/Q(x²), with the tiny-argument forms below 2⁻²⁸ (other lanes are ignored).
@inline(__always)
private func erfSmall(_ x: F8) -> F8 {
    let z = x * x
    let r = c(0x3E03_75D4) + z * (c(0xBEA6_6BEB) + z * (c(0xBCE9_528F) + z * (c(0xBBBD_1489) + z * c(0xB7C7_56B1))))
    let s = 1 + z * (c(0x3ECB_BBCE) + z * (c(0x3D85_2A63) + z * (c(0x3BA6_8116) + z * (c(0x390A_EE49) + z * c(0xB684_E21A)))))
    var y = x + x * (r / s)
    let ax = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: F8.self)
    let tiny = ax .< Float(bitPattern: 0x3180_0000)   // 2⁻²⁸: x·(1 + efx) in one step
    if any(tiny) {
        y.replace(with: x + c(0x3E03_75D4) * x, where: tiny)
        // Below 2⁻¹¹⁹ the product efx·x would lose bits to underflow: scaled by 16 first (glibc's form;
        // fdlibm's original scales by 8, which differs from glibc 2.36 on 255,255 subnormal inputs).
        y.replace(with: 0.0625 * (16 * x + c(0x4003_75D4) * x), where: ax .< Float(bitPattern: 0x0400_0000))
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

/// 1.25 ≤ a < 6: 1 − exp(−z² − 0.5625)·exp((z − a)(z + a) + R(1/a²)/S(1/a²))/a (a = |x|; other lanes
/// are ignored). R and S have one coefficient table below 1/0.35 and another, one degree shorter, above
/// it; padding the shorter one with a zero top coefficient leaves the nested evaluation's values unchanged
/// (c + s·0 = c exactly), so one polynomial with per-lane coefficients serves both.
@inline(__always)
private func erfFar(_ absX: F8) -> F8 {
    // Lanes outside [1.25, 6] are clamped into it so that no exp argument leaves exactExp's fast range.
    var a = absX
    a.replace(with: 1.25, where: a .< 1.25)
    a.replace(with: 6, where: .!(a .<= 6))
    let s = 1 / (a * a)
    let outer = a .>= Float(bitPattern: 0x4036_DB6E)   // 1/0.35
    @inline(__always) func k(_ inner: UInt32, _ outerBits: UInt32) -> F8 {
        c(inner).replacing(with: Float(bitPattern: outerBits), where: outer)
    }
    let r = k(0xBC21_A093, 0xBC21_A092) + s * (k(0xBF31_A0B7, 0xBF4C_9DD4) + s * (k(0xC128_F022, 0xC18E_104B)
        + s * (k(0xC279_8057, 0xC320_A2EA) + s * (k(0xC322_658C, 0xC41F_6441) + s * (k(0xC338_9AE7, 0xC480_230B)
        + s * (k(0xC2A2_932B, 0xC3F1_C275) + s * k(0xC11D_077E, 0)))))))
    let q = 1 + s * (k(0x419D_35CE, 0x41F2_B459) + s * (k(0x4309_A863, 0x43A2_E571) + s * (k(0x43D9_486F, 0x44C0_1759)
        + s * (k(0x4421_58C9, 0x4547_FDBB) + s * (k(0x43D6_810B, 0x451F_90CE) + s * (k(0x42D9_451F, 0x43ED_43A7)
        + s * (k(0x40D2_3F7C, 0xC1B3_8712) + s * k(0xBD77_7F97, 0))))))))
    // z: a with its low 12 mantissa bits cleared, so z·z is exact and the split keeps exp's argument exact.
    let z = unsafeBitCast(unsafeBitCast(a, to: SIMD8<UInt32>.self) & 0xFFFF_F000, to: F8.self)
    let e = exactExp(-z * z - 0.5625) * exactExp((z - a) * (z + a) + r / q)
    return 1 - e / a
}

/// The exact GELU 0.5·v·(1 + erf(v/√2)) for 8 lanes, bit-identical to `geluScalar`.
@inline(__always)
public func gelu8(_ v: SIMD8<Float>) -> SIMD8<Float> {
    0.5 * v * (1 + exactErf(v * 0.7071067811865476))
}

/// out[i] = value[i] · gelu(gate[i]) for i < count (one GEGLU row), bit-identical to the scalar loop.
public func gegluRow(value: UnsafePointer<Float>, gate: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let g = gelu8(UnsafeRawPointer(gate + i).loadUnaligned(as: F8.self))
        let v = UnsafeRawPointer(value + i).loadUnaligned(as: F8.self)
        UnsafeMutableRawPointer(out + i).storeBytes(of: v * g, as: F8.self)
        i += 8
    }
    while i < count { out[i] = value[i] * geluScalar(gate[i]); i += 1 }
}

/// p[i] = gelu(p[i]) for i < count, bit-identical to `geluScalar`.
public func geluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let v = UnsafeRawPointer(p + i).loadUnaligned(as: F8.self)
        UnsafeMutableRawPointer(p + i).storeBytes(of: gelu8(v), as: F8.self)
        i += 8
    }
    while i < count { p[i] = geluScalar(p[i]); i += 1 }
}
