/// Elementwise float32 arithmetic in the order torch evaluates the scheduler expressions: every
/// operation rounds on its own (no fused multiply–add), as torch's CPU kernels do for these ops, so
/// results agree with diffusers to the last bit wherever the scalars agree.
extension Tensor {
    @inline(__always)
    func map(_ f: (Float) -> Float) -> Tensor {
        Tensor(shape: shape, data: data.map(f))
    }

    @inline(__always)
    func zip(_ other: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "sampler: tensor shapes \(shape) and \(other.shape) differ")
        var out = data
        other.data.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<o.count { o[i] = f(o[i], b[i]) }
            }
        }
        return Tensor(shape: shape, data: out)
    }

    @inline(__always)
    func zip(_ b: Tensor, _ c: Tensor, _ f: (Float, Float, Float) -> Float) -> Tensor {
        precondition(shape == b.shape && shape == c.shape, "sampler: tensor shapes \(shape), \(b.shape), \(c.shape) differ")
        var out = data
        b.data.withUnsafeBufferPointer { bb in
            c.data.withUnsafeBufferPointer { cc in
                out.withUnsafeMutableBufferPointer { o in
                    for i in 0..<o.count { o[i] = f(o[i], bb[i], cc[i]) }
                }
            }
        }
        return Tensor(shape: shape, data: out)
    }
}

/// The clean-sample estimate x0 of the alphas_cumprod samplers (DDPM, DDIM, LCM), as diffusers
/// writes it for each prediction type; `alphaProd` is alphas_cumprod[t].
func alphaPredictedOriginal(_ p: Prediction, model m: Tensor, sample s: Tensor, alphaProd a: Float) -> Tensor {
    let sqrtA = a.squareRoot(), sqrtB = (1 - a).squareRoot()
    switch p {
    case .epsilon: return s.zip(m) { s, m in (s - sqrtB * m) / sqrtA }
    case .vPrediction: return s.zip(m) { s, m in sqrtA * s - sqrtB * m }
    case .sample: return m
    }
}

/// diffusers' `add_noise` of the alphas_cumprod samplers:
/// sqrt(alphas_cumprod[t]) * x0 + sqrt(1 - alphas_cumprod[t]) * noise.
func alphaAddNoise(original: Tensor, noise: Tensor, alphaProd a: Float) -> Tensor {
    let sqrtA = a.squareRoot(), sqrtB = (1 - a).squareRoot()
    return original.zip(noise) { x, n in sqrtA * x + sqrtB * n }
}

/// Integer timesteps of DDPM/DDIM for the three spacings, descending (diffusers' set_timesteps).
func discreteTimesteps(_ c: ResolvedConfig, steps n: Int) -> [Int] {
    let train = c.numTrainTimesteps
    switch c.timestepSpacing {
    case "linspace":
        return npLinspace(0, Double(train - 1), n).map { Int(npRound($0)) }.reversed()
    case "trailing":
        return npArange(Double(train), 0, -Double(train) / Double(n)).map { Int(npRound($0)) - 1 }
    default:  // leading
        let ratio = train / n
        return (0..<n).reversed().map { $0 * ratio + c.stepsOffset }
    }
}
