/// The generator's own PRNG: SplitMix64 (Steele, Lea & Flood 2014, the seeding generator of
/// java.util.SplittableRandom and xoshiro). Small, fast, and fixed here forever, so a dataset is a pure
/// function of (seed, index) on every platform; it is deliberately not the torch generator, whose stream
/// belongs to sampling noise.
public struct ShapesRandom: Sendable {
    private var state: UInt64

    /// Image `stream` of the dataset with seed `seed`: every image has its own stream, so images can be
    /// drawn in any order or in parallel and one of them can be redrawn alone.
    public init(seed: UInt64, stream: UInt64 = 0) {
        state = seed
        state = next() ^ (stream &* 0xD1B5_4A32_D192_ED03)
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }

    /// Uniform in 0..<n (53 random bits modulo n: the bias is below n / 2^53, nothing for our small n).
    public mutating func below(_ n: Int) -> Int { Int((next() >> 11) % UInt64(n)) }

    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}
