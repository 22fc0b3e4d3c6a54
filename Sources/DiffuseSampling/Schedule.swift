import Foundation

/// The training noise schedule shared by every diffusers scheduler's `__init__`: betas, then
/// `alphas_cumprod`. Dtypes follow diffusers: betas are a float32 torch tensor (`torch.linspace`
/// in float32, squared in float32 for scaled_linear; the cosine schedule in Python doubles, then
/// float32), `1 - betas` in float32, and `torch.cumprod`, which accumulates in double on the CPU and
/// rounds each output to float32.
/// Leaves out: `rescale_betas_zero_snr`, the "exp"/"laplace"/"sigmoid" schedules.
struct NoiseSchedule {
    let alphasCumprod: [Float]
    var count: Int { alphasCumprod.count }

    init(_ c: ResolvedConfig) throws {
        let n = c.numTrainTimesteps
        let betas: [Float]
        if let trained = c.trainedBetas {
            guard trained.count == n else {
                throw SamplingError("scheduler config: trained_betas has \(trained.count) values but "
                    + "num_train_timesteps is \(n); make them agree")
            }
            betas = trained.map { Float($0) }
        } else {
            switch c.betaSchedule {
            case "linear":
                betas = torchLinspace(Float(c.betaStart), Float(c.betaEnd), n)
            case "scaled_linear":
                betas = torchLinspace(Float(c.betaStart.squareRoot()), Float(c.betaEnd.squareRoot()), n).map { $0 * $0 }
            case "squaredcos_cap_v2":
                betas = cosineBetas(n)
            default:
                throw SamplingError("scheduler config: beta_schedule \"\(c.betaSchedule)\" is not supported; "
                    + "use linear, scaled_linear or squaredcos_cap_v2")
            }
        }
        var product = 1.0
        alphasCumprod = betas.map { beta in
            product *= Double(1 - beta)
            return Float(product)
        }
    }

    /// sqrt((1 - alphas_cumprod) / alphas_cumprod) in float32: the k-diffusion sigma of each
    /// training timestep.
    var trainSigmas: [Float] { alphasCumprod.map { ((1 - $0) / $0).squareRoot() } }
}

/// `torch.linspace(start, end, steps, dtype=float32)` on x86 AVX2/AVX512 builds: the first half
/// counts up from start, the second half down from end, each value one fused multiply–add.
func torchLinspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
    guard steps > 1 else { return [start] }
    let step = (end - start) / Float(steps - 1)
    let halfway = steps / 2
    return (0..<steps).map { i in
        i < halfway ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(steps - i - 1))
    }
}

/// diffusers' `betas_for_alpha_bar(..., "cosine")` with max_beta 0.999, in doubles.
private func cosineBetas(_ n: Int) -> [Float] {
    func alphaBar(_ t: Double) -> Double {
        let c = cos((t + 0.008) / 1.008 * Double.pi / 2)
        return c * c
    }
    return (0..<n).map { i in
        let t1 = Double(i) / Double(n), t2 = Double(i + 1) / Double(n)
        return Float(min(1 - alphaBar(t2) / alphaBar(t1), 0.999))
    }
}

// MARK: numpy helpers (float64, as diffusers' set_timesteps computes them)

/// `np.linspace(start, stop, num)` (endpoint included): i * step + start, last value exactly stop.
func npLinspace(_ start: Double, _ stop: Double, _ num: Int, endpoint: Bool = true) -> [Double] {
    guard num > 0 else { return [] }
    let div = Double(endpoint ? num - 1 : num)
    guard div > 0 else { return [start] }
    let step = (stop - start) / div
    var y = (0..<num).map { Double($0) * step + start }
    if endpoint && num > 1 { y[num - 1] = stop }
    return y
}

/// `np.arange(start, stop, step)` for floats: numpy fills start + i * delta with
/// delta = (start + step) - start, length ceil((stop - start) / step).
func npArange(_ start: Double, _ stop: Double, _ step: Double) -> [Double] {
    let count = max(Int(((stop - start) / step).rounded(.up)), 0)
    let delta = (start + step) - start
    return (0..<count).map { start + Double($0) * delta }
}

/// `np.round`: halves go to the even neighbour.
func npRound(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }

/// `np.interp(x, arange(len(fp)), fp)` in float64.
func npInterp(_ x: Double, _ fp: [Float]) -> Double {
    let last = fp.count - 1
    if x <= 0 { return Double(fp[0]) }
    if x >= Double(last) { return Double(fp[last]) }
    let j = Int(x.rounded(.down))
    if Double(j) == x { return Double(fp[j]) }
    let slope = (Double(fp[j + 1]) - Double(fp[j])) / 1.0
    return slope * (x - Double(j)) + Double(fp[j])
}

/// diffusers' `_sigma_to_t`: the fractional training timestep whose log-sigma brackets `sigma`,
/// interpolating linearly in log-sigma (`logSigmas` ascending, float32 as numpy holds them).
func sigmaToT(_ sigma: Double, _ logSigmas: [Float]) -> Double {
    let logSigma = log(max(sigma, 1e-10))
    var low = 0
    for (i, l) in logSigmas.enumerated() where logSigma - Double(l) >= 0 { low = i }
    low = min(low, logSigmas.count - 2)
    let lo = logSigmas[low], hi = logSigmas[low + 1]
    var w = (Double(lo) - logSigma) / Double(lo - hi)
    w = min(max(w, 0), 1)
    return (1 - w) * Double(low) + w * Double(low + 1)
}

/// Karras et al. (2022) rho = 7 sigmas between sigmaMax and sigmaMin (`_convert_to_karras`).
func karrasSigmas(min sigmaMin: Double, max sigmaMax: Double, count: Int) -> [Double] {
    let rho = 7.0
    let minInv = pow(sigmaMin, 1 / rho), maxInv = pow(sigmaMax, 1 / rho)
    return npLinspace(0, 1, count).map { pow(maxInv + $0 * (minInv - maxInv), rho) }
}
