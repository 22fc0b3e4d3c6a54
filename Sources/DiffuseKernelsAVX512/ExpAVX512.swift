// The exact float32 exp of DiffuseCore/VectorMath.swift (bit-identical to the C library's expf, which
// Foundation.exp calls), on 8 double lanes per zmm register instead of 4 per ymm: the same operations in the
// same order, so every lane rounds to the same float, and the same lanes go to the library call. See
// VectorMath.swift for why the double evaluation plus the midpoint check reproduces expf.
//
// No longer on DiffuseCore's path: `exactExpInPlace` and `siluInPlace` call CDiffuseCPU's exp512.c on AVX-512
// (table-driven, about 2× cheaper). Kept as the Swift reference that PackingTests compares with the AVX2 loops;
// delete together with that test.
#if arch(x86_64)
import Foundation

private typealias D8 = SIMD8<Double>
private typealias F8 = SIMD8<Float>

/// p[i] = exp(p[i]) for i < count, bit-identical to Foundation.exp(Float).
@inline(never)
public func avx512ExactExpInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
        // Two independent vectors per iteration: the polynomial is a dependency chain.
        let a = exp8(loadF(p + i)), b = exp8(loadF(p + i + 8))
        storeF(p + i, a); storeF(p + i + 8, b)
        i += 16
    }
    while i < count { p[i] = Foundation.exp(p[i]); i += 1 }
}

/// p[i] = p[i] / (1 + exp(−p[i])), bit-identical to that formula with Foundation.exp.
@inline(never)
public func avx512SiluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
        let x0 = loadF(p + i), x1 = loadF(p + i + 8)
        let e0 = exp8(-x0), e1 = exp8(-x1)
        storeF(p + i, x0 / (1 + e0)); storeF(p + i + 8, x1 / (1 + e1))
        i += 16
    }
    while i < count { let v = p[i]; p[i] = v / (1 + Foundation.exp(-v)); i += 1 }
}

@inline(__always)
private func exp8(_ xf: F8) -> F8 {
    let x = D8(Double(xf[0]), Double(xf[1]), Double(xf[2]), Double(xf[3]),
               Double(xf[4]), Double(xf[5]), Double(xf[6]), Double(xf[7]))
    let shifter = D8(repeating: 6_755_399_441_055_744.0)
    let t = shifter.addingProduct(x, D8(repeating: 1.4426950408889634))
    let n = t - shifter
    var r = x.addingProduct(-n, D8(repeating: 0.6931471803691238))
    r = r.addingProduct(-n, D8(repeating: 1.9082149292705877e-10))
    let r2 = r * r, r4 = r2 * r2, r8 = r4 * r4
    let q01 = D8(repeating: 1).addingProduct(r, D8(repeating: 1))
    let q23 = D8(repeating: 1.0 / 2).addingProduct(r, D8(repeating: 1.0 / 6))
    let q45 = D8(repeating: 1.0 / 24).addingProduct(r, D8(repeating: 1.0 / 120))
    let q67 = D8(repeating: 1.0 / 720).addingProduct(r, D8(repeating: 1.0 / 5_040))
    let q89 = D8(repeating: 1.0 / 40_320).addingProduct(r, D8(repeating: 1.0 / 362_880))
    let q03 = q01.addingProduct(r2, q23), q47 = q45.addingProduct(r2, q67)
    let q810 = q89.addingProduct(r2, D8(repeating: 1.0 / 3_628_800))
    let poly = q03.addingProduct(r4, q47).addingProduct(r8, q810)
    let scaleBits = (unsafeBitCast(t, to: SIMD8<UInt64>.self) &<< 52) &+ SIMD8<UInt64>(repeating: 0x3FF0_0000_0000_0000)
    let y = poly * unsafeBitCast(scaleBits, to: D8.self)
    var f = F8(Float(y[0]), Float(y[1]), Float(y[2]), Float(y[3]), Float(y[4]), Float(y[5]), Float(y[6]), Float(y[7]))
    let yBits = unsafeBitCast(y, to: SIMD8<UInt64>.self) & 0x7FF0_0000_0000_0000
    let ulp = unsafeBitCast(yBits &- (23 << 52), to: D8.self)
    let d = y - D8(Double(f[0]), Double(f[1]), Double(f[2]), Double(f[3]),
                   Double(f[4]), Double(f[5]), Double(f[6]), Double(f[7]))
    let absD = unsafeBitCast(unsafeBitCast(d, to: SIMD8<UInt64>.self) & 0x7FFF_FFFF_FFFF_FFFF, to: D8.self)
    let e = absD - ulp * 0.5, tol = ulp * (1.0 / 256)
    let nearMidpoint = (e .< tol) .& (e .> -tol)
    let low: SIMDMask<SIMD8<Int64>> = x .< -87, high: SIMDMask<SIMD8<Int64>> = x .> 88.5
    let redo = nearMidpoint .| low .| high .| (x .!= x)
    if any(redo) { redoLanes(&f, xf, redo) }
    return f
}

@inline(never)
private func redoLanes(_ y: inout F8, _ x: F8, _ redo: SIMDMask<SIMD8<Int64>>) {
    for i in 0..<8 where redo[i] { y[i] = Foundation.exp(x[i]) }
}

@inline(__always)
private func loadF(_ p: UnsafeMutablePointer<Float>) -> F8 { UnsafeRawPointer(p).loadUnaligned(as: F8.self) }

@inline(__always)
private func storeF(_ p: UnsafeMutablePointer<Float>, _ v: F8) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self) }
#endif
