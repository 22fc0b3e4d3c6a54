// Weights stay in memory in the dtype they were stored in (f32, f16 or bf16) — for a memory-mapped file
// that means not copied at all — and are widened to float32 block by block where a kernel reads them.

public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"

    public var byteSize: Int { self == .f32 ? 4 : 2 }
}

/// Keeps the bytes behind a `Weight` alive (an mmap'd file, or an owned array).
public protocol WeightOwner: AnyObject, Sendable {}

public final class ArrayOwner: WeightOwner, @unchecked Sendable {
    public let bytes: [UInt8]
    public let floats: [Float]
    init(bytes: [UInt8]) { self.bytes = bytes; self.floats = [] }
    init(floats: [Float]) { self.bytes = []; self.floats = floats }
}

public struct Weight: @unchecked Sendable {
    public let shape: [Int]
    public let dtype: DType
    public let base: UnsafeRawPointer
    let owner: WeightOwner

    public var count: Int { shape.reduce(1, *) }

    /// A view of `count` elements at `base`; `owner` keeps the memory alive.
    public init(shape: [Int], dtype: DType, base: UnsafeRawPointer, owner: WeightOwner) {
        self.shape = shape
        self.dtype = dtype
        self.base = base
        self.owner = owner
    }

    /// An f32 weight owning a copy of `tensor`'s values (tests, converted weights).
    public init(_ tensor: Tensor) {
        let o = ArrayOwner(floats: tensor.data)
        self.shape = tensor.shape
        self.dtype = .f32
        self.owner = o
        self.base = o.floats.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!) }
    }

    /// A weight owning raw little-endian bytes of `dtype`.
    public init(shape: [Int], dtype: DType, bytes: [UInt8]) {
        let o = ArrayOwner(bytes: bytes)
        self.shape = shape
        self.dtype = dtype
        self.owner = o
        self.base = o.bytes.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!) }
    }

    /// Same bytes, another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Weight {
        Weight(shape: newShape, dtype: dtype, base: base, owner: owner)
    }

    /// Widens elements [start, start + n) into `out`.
    @inlinable
    public func widen(from start: Int, count n: Int, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            let p = base.assumingMemoryBound(to: Float.self) + start
            out.update(from: p, count: n)
        case .f16:
            let p = base.assumingMemoryBound(to: UInt16.self) + start
            for i in 0..<n { out[i] = halfToFloat(p[i]) }
        case .bf16:
            let p = base.assumingMemoryBound(to: UInt16.self) + start
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(p[i]) << 16) }
        }
    }

    /// The whole weight as a float32 tensor.
    public func toTensor() -> Tensor {
        Tensor(shape: shape) { buf in widen(from: 0, count: count, into: buf.baseAddress!) }
    }

    public subscript(i: Int) -> Float {
        var v: Float = 0
        widen(from: i, count: 1, into: &v)
        return v
    }
}

/// IEEE half → float, exact for every value including subnormals, infinities and NaN.
@inlinable
public func halfToFloat(_ h: UInt16) -> Float {
    #if !(os(macOS) && arch(x86_64))
    return Float(Float16(bitPattern: h))
    #else
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1f
    let mant = UInt32(h & 0x3ff)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = mant * 2^-24.
        let v = Float(mant) * (1.0 / 16_777_216.0)
        return sign != 0 ? -v : v
    }
    if exp == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    #endif
}

/// float → IEEE half with round-to-nearest-even (used when writing f16 files).
public func floatToHalf(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exp = Int((bits >> 23) & 0xff)
    var mant = bits & 0x7f_ffff
    if exp == 0xff { return sign | 0x7c00 | (mant != 0 ? 0x200 : 0) }
    let e = exp - 127 + 15
    if e >= 0x1f { return sign | 0x7c00 }
    if e <= 0 {
        if e < -10 { return sign }
        mant |= 0x80_0000
        let shift = UInt32(14 - e)
        var half = mant >> shift
        let rem = mant & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        if rem > halfway || (rem == halfway && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half)
    }
    var half = UInt32(e << 10) | (mant >> 13)
    let rem = mant & 0x1fff
    if rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1) { half += 1 }
    return sign | UInt16(half)
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation

extension Weight {
    /// Whether the Stable Diffusion pipeline drops a network's memory-mapped weights from the resident set
    /// when it moves on to another network (see `releaseResidentPages`; Diffuse's WeightResidency.swift).
    /// On: the pipeline's peak memory is the largest single network plus its activations rather than all
    /// three networks at once, for one round of page faults per network per request.
    nonisolated(unsafe) public static var releaseAfterUse = ProcessInfo.processInfo.environment["DIFFUSE_KEEP_WEIGHTS"] == nil

    /// Drops the pages behind a memory-mapped weight from this process's resident set. The file's pages
    /// stay in the page cache, so the next read maps them back with a minor fault (no disk I/O). Weights
    /// owning their bytes (arrays) are left alone: for anonymous memory the same call would zero them.
    public static func releaseResidentPages(_ weights: [Weight]) {
        #if os(Linux)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for w in weights where !(w.owner is ArrayOwner) {
            let start = Int(bitPattern: w.base), end = start + w.count * w.dtype.byteSize
            let lo = start / page * page, hi = (end + page - 1) / page * page
            // Read-only private file mapping: MADV_DONTNEED unmaps, it never discards data.
            _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, MADV_DONTNEED)
        }
        #endif
    }
}
