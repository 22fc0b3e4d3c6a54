import Foundation

/// The training loop's random numbers: xoshiro256** (Blackman & Vigna 2018) for uniforms, Box–Muller
/// for normals. Chosen over TorchGenerator because its whole state is four words (plus one cached
/// normal) that a checkpoint stores exactly, which is what makes resume bit-for-bit. Not torch's stream.
public struct TrainingRNG: Equatable, Sendable {
    public private(set) var state: [UInt64]
    private var cached: Float?

    public init(seed: UInt64) {
        // SplitMix64 expands the seed into the four state words (the generator's recommended seeding).
        var z = seed
        var s: [UInt64] = []
        for _ in 0..<4 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            s.append(x ^ (x >> 31))
        }
        state = s
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]; state[3] ^= state[1]; state[1] ^= state[2]; state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 24 bits.
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform integer in 0..<n (n > 0).
    public mutating func nextInt(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// Standard normal (Box–Muller in Double; the second value of each pair is kept for the next call).
    public mutating func nextNormal() -> Float {
        if let c = cached { cached = nil; return c }
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_993.0)  // (0, 1]
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let r = (-2 * Foundation.log(u1)).squareRoot()
        cached = Float(r * Foundation.sin(2 * Double.pi * u2))
        return Float(r * Foundation.cos(2 * Double.pi * u2))
    }

    public mutating func normals(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in nextNormal() })
    }

    /// The state as text for a checkpoint's metadata: four hex words and the cached normal's bits.
    public var serialized: String {
        (state.map { String($0, radix: 16) } + [cached.map { String($0.bitPattern, radix: 16) } ?? "-"]).joined(separator: " ")
    }

    public init?(serialized: String) {
        let parts = serialized.split(separator: " ").map(String.init)
        guard parts.count == 5 else { return nil }
        let words = parts[0..<4].compactMap { UInt64($0, radix: 16) }
        guard words.count == 4 else { return nil }
        state = words
        if parts[4] == "-" { cached = nil } else {
            guard let bits = UInt32(parts[4], radix: 16) else { return nil }
            cached = Float(bitPattern: bits)
        }
    }
}

@inline(__always)
private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
