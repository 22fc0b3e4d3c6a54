import Foundation

/// Anything that can hand out standard-normal noise in draw order (the sampler asks for it inside
/// `step`, exactly where diffusers calls `randn_tensor(..., generator=generator)`).
public protocol NoiseSource {
    mutating func randn(_ shape: [Int]) -> Tensor
}

/// torch's CPU generator: `torch.Generator("cpu").manual_seed(seed)` followed by `torch.randn` /
/// `torch.rand` in float32, draw for draw.
///
/// Matches torch 2.x `at::CPUGeneratorImpl` + `normal_kernel` on x86-64 builds whose kernels run at
/// the AVX2 or AVX512 capability (the default on any AVX2 machine):
/// - mt19937 seeded with the low 32 bits of the seed (`random()` = one output, `random64()` = two,
///   high word first);
/// - randn of 16+ numbers: every number first becomes a 24-bit uniform, then Box–Muller runs in
///   blocks of 16 (8 pairs `u[j]`, `u[j+8]`) with torch's AVX2 Cephes log/sincos (see
///   `TorchMath.swift`); a tail that is not a multiple of 16 redraws 16 fresh uniforms and rewrites
///   the last 16 numbers;
/// - randn of fewer than 16: the scalar double path (53-bit uniforms, `log1p`, libm sin/cos), whose
///   second value is cached in the generator and handed out by the next small draw.
/// Leaves out: torch's DEFAULT-capability build (no AVX2; e.g. `ATEN_CPU_CAPABILITY=default`), which
/// uses libm `logf`/`cosf` for the 16-blocks and differs by up to ~2e-6; non-float32 dtypes;
/// `get_state`/`set_state`.
public struct TorchGenerator: NoiseSource {
    public let seed: UInt64
    private var engine: MT19937
    /// torch's `next_double_normal_sample`: the sin() half of the last scalar Box–Muller pair.
    private var cachedNormal: Double?

    public init(seed: UInt64) {
        self.seed = seed
        engine = MT19937(seed: UInt32(truncatingIfNeeded: seed))
    }

    /// `torch.randn(shape, generator=g)` (float32).
    public mutating func randn(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        if n < 16 {
            return Tensor(shape: shape, data: (0..<n).map { _ in Float(nextDoubleNormal()) })
        }
        var data = [Float](repeating: 0, count: n)
        for i in 0..<n { data[i] = nextUniform24() }
        data.withUnsafeMutableBufferPointer { buf in
            var i = 0
            while i + 16 <= n {
                TorchMath.boxMuller16(buf.baseAddress! + i)
                i += 16
            }
            if n % 16 != 0 {
                let tail = buf.baseAddress! + (n - 16)
                for j in 0..<16 { tail[j] = nextUniform24() }
                TorchMath.boxMuller16(tail)
            }
        }
        return Tensor(shape: shape, data: data)
    }

    /// `torch.rand(shape, generator=g)` (float32, uniform in [0, 1)).
    public mutating func rand(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, data: (0..<n).map { _ in nextUniform24() })
    }

    /// `uniform_real_distribution<float>(0, 1)`: the low 24 bits of one 32-bit draw.
    private mutating func nextUniform24() -> Float {
        Float(engine.next32() & 0xFF_FFFF) * (1.0 / 16_777_216.0)
    }

    /// `uniform_real_distribution<double>(0, 1)`: the low 53 bits of one 64-bit draw.
    private mutating func nextUniform53() -> Double {
        Double(engine.next64() & ((1 << 53) - 1)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `normal_distribution<double>(0, 1)` with torch's cache of the second value.
    private mutating func nextDoubleNormal() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = nextUniform53()
        let u2 = nextUniform53()
        let r = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = r * sin(theta)
        return r * cos(theta)
    }
}

/// The 32-bit Mersenne Twister exactly as `at::mt19937` (standard MT19937 with torch's seeding).
struct MT19937 {
    private static let n = 624
    private static let m = 397
    private var state: [UInt32]
    private var index: Int

    init(seed: UInt32) {
        var s = [UInt32](repeating: 0, count: Self.n)
        s[0] = seed
        for j in 1..<Self.n {
            s[j] = 1_812_433_253 &* (s[j - 1] ^ (s[j - 1] >> 30)) &+ UInt32(j)
        }
        state = s
        index = Self.n  // torch sets left = 1: the first draw regenerates the state
    }

    mutating func next32() -> UInt32 {
        if index == Self.n { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// torch's `random64()`: first draw in the high word.
    mutating func next64() -> UInt64 {
        let hi = UInt64(next32())
        let lo = UInt64(next32())
        return (hi << 32) | lo
    }

    private mutating func twist() {
        let n = Self.n, m = Self.m
        for k in 0..<n {
            let y = (state[k] & 0x8000_0000) | (state[(k + 1) % n] & 0x7FFF_FFFF)
            let mag: UInt32 = (state[(k + 1) % n] & 1) != 0 ? 0x9908_B0DF : 0
            state[k] = state[(k + m) % n] ^ (y >> 1) ^ mag
        }
        index = 0
    }
}
