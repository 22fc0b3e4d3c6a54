import DiffuseCore

// Layers with explicit backward. Each forward keeps what its backward needs (its input), so a layer
// may be used once per forward pass; `backward` adds parameter gradients and returns the input gradient.
// Forward math is DiffuseCore's inference kernels, so a trained model runs the same code at inference.

/// Deterministic initialisation source (see TrainingRNG): uniform(−bound, bound) like torch's default
/// kaiming_uniform(a=√5) for Linear/Conv weights and biases, bound = 1/√fan_in.
func uniformInit(_ shape: [Int], fanIn: Int, rng: inout TrainingRNG) -> Tensor {
    let bound = 1 / Float(max(fanIn, 1)).squareRoot()
    return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in (rng.nextUniform() * 2 - 1) * bound })
}

public final class LinearLayer: ParameterOwner {
    public let weight: Parameter, bias: Parameter?
    private var input = Tensor(zeros: [0])

    public init(_ name: String, in k: Int, out n: Int, bias: Bool = true, rng: inout TrainingRNG) {
        weight = Parameter(name + ".weight", uniformInit([n, k], fanIn: k, rng: &rng))
        self.bias = bias ? Parameter(name + ".bias", uniformInit([n], fanIn: k, rng: &rng)) : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// x [..., K] → [..., N]
    public func forward(_ x: Tensor) -> Tensor {
        input = x
        return TrainProfile.time(.linearForward, label: profileLabel("fwd"), flops: forwardFlops) {
            DiffuseCore.linear(x, weight.weight, bias?.weight)
        }
    }

    /// "linear fwd 64→32 ×16384" (rows = every leading axis) for the training benchmark's per-shape rows.
    private func profileLabel(_ pass: String) -> String {
        "linear \(pass) \(weight.value.shape[1])→\(weight.value.shape[0]) ×\(input.count / max(weight.value.shape[1], 1))"
    }

    /// 2 · rows · K · N for the last input.
    private var forwardFlops: Double { 2 * Double(input.count) * Double(weight.value.shape[0]) }

    public func backward(_ dy: Tensor) -> Tensor {
        TrainProfile.time(.linearBackward, label: profileLabel("bwd"), flops: 2 * forwardFlops) {
            if let bias {
                return bias.grad.withUnsafeMutable { db in
                    linearBackward(x: input, w: weight.value, dy: dy, dw: &weight.grad, db: db.baseAddress!)
                }
            }
            return linearBackward(x: input, w: weight.value, dy: dy, dw: &weight.grad, db: nil)
        }
    }
}

public final class Conv2dLayer: ParameterOwner {
    public let weight: Parameter, bias: Parameter
    public let stride: Int, padding: Int
    private var input = Tensor(zeros: [0])

    public init(_ name: String, in c: Int, out o: Int, kernel: Int, stride: Int = 1, padding: Int? = nil,
                rng: inout TrainingRNG) {
        let fan = c * kernel * kernel
        weight = Parameter(name + ".weight", uniformInit([o, c, kernel, kernel], fanIn: fan, rng: &rng))
        bias = Parameter(name + ".bias", uniformInit([o], fanIn: fan, rng: &rng))
        self.stride = stride
        self.padding = padding ?? kernel / 2
    }

    public var parameters: [Parameter] { [weight, bias] }

    /// x [N, C, H, W] → [N, O, Ho, Wo]
    public func forward(_ x: Tensor) -> Tensor {
        input = x
        return TrainProfile.time(.convForward, label: profileLabel("fwd"), flops: forwardFlops) {
            DiffuseCore.conv2d(x, weight.weight, bias.weight, stride: stride, padding: padding)
        }
    }

    /// "conv fwd 64→32 3×3/1 @32×32 ×16" for the training benchmark's per-shape rows.
    private func profileLabel(_ pass: String) -> String {
        let w = weight.value.shape, x = input.shape
        return "conv \(pass) \(w[1])→\(w[0]) \(w[2])×\(w[3])/\(stride) @\(x[2])×\(x[3]) ×\(x[0])"
    }

    /// 2 · N · O · Ho · Wo · C · kh · kw for the last input.
    private var forwardFlops: Double {
        let w = weight.value.shape, x = input.shape
        let ho = (x[2] + 2 * padding - w[2]) / stride + 1, wo = (x[3] + 2 * padding - w[3]) / stride + 1
        return 2 * Double(x[0] * w[0] * ho * wo * w[1] * w[2] * w[3])
    }

    public func backward(_ dy: Tensor) -> Tensor {
        TrainProfile.time(.convBackward, label: profileLabel("bwd"), flops: 2 * forwardFlops) {
            bias.grad.withUnsafeMutable { db in
                conv2dBackward(x: input, w: weight.value, dy: dy, stride: stride, padding: padding,
                               dw: &weight.grad, db: db.baseAddress!)
            }
        }
    }

    /// `backward` for a layer whose input is data: parameter gradients only, the input gradient is skipped.
    public func backwardParameters(_ dy: Tensor) {
        TrainProfile.time(.convBackward, label: profileLabel("bwd dW"), flops: forwardFlops) {
            bias.grad.withUnsafeMutable { db in
                conv2dParameterGradients(x: input, dy: dy, kh: weight.value.shape[2], kw: weight.value.shape[3],
                                         stride: stride, padding: padding, dw: &weight.grad, db: db.baseAddress!)
            }
        }
    }
}

public final class GroupNormLayer: ParameterOwner {
    public let weight: Parameter, bias: Parameter
    public let groups: Int, eps: Float
    private var input = Tensor(zeros: [0])

    public init(_ name: String, channels: Int, groups: Int, eps: Float = 1e-5) {
        weight = Parameter(name + ".weight", Tensor(repeating: 1, shape: [channels]))
        bias = Parameter(name + ".bias", Tensor(zeros: [channels]))
        self.groups = groups
        self.eps = eps
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ x: Tensor) -> Tensor {
        input = x
        return TrainProfile.time(.groupNormForward) {
            DiffuseCore.groupNorm(x, groups: groups, weight: weight.weight, bias: bias.weight, eps: eps)
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        TrainProfile.time(.groupNormBackward) {
            groupNormBackward(x: input, dy: dy, groups: groups, gamma: weight.value, eps: eps,
                              dgamma: &weight.grad, dbeta: &bias.grad)
        }
    }
}

public final class LayerNormLayer: ParameterOwner {
    public let weight: Parameter, bias: Parameter
    public let eps: Float
    private var input = Tensor(zeros: [0])

    public init(_ name: String, dim: Int, eps: Float = 1e-5) {
        weight = Parameter(name + ".weight", Tensor(repeating: 1, shape: [dim]))
        bias = Parameter(name + ".bias", Tensor(zeros: [dim]))
        self.eps = eps
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ x: Tensor) -> Tensor {
        input = x
        return TrainProfile.time(.layerNormForward) {
            DiffuseCore.layerNorm(x, weight: weight.weight, bias: bias.weight, eps: eps)
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        TrainProfile.time(.layerNormBackward) {
            layerNormBackward(x: input, dy: dy, gamma: weight.value, eps: eps, dgamma: &weight.grad, dbeta: &bias.grad)
        }
    }
}

/// SiLU with its input kept for backward.
public final class SiLULayer {
    private var input = Tensor(zeros: [0])
    public init() {}
    public func forward(_ x: Tensor) -> Tensor {
        input = x
        return TrainProfile.time(.siluForward) { DiffuseCore.silu(x) }
    }
    public func backward(_ dy: Tensor) -> Tensor { TrainProfile.time(.siluBackward) { siluBackward(x: input, dy: dy) } }
}

public final class EmbeddingLayer: ParameterOwner {
    public let table: Parameter
    private var ids: [Int] = []

    /// Normal(0, 0.02) rows, as CLIP/GPT-style token embeddings.
    public init(_ name: String, count: Int, dim: Int, rng: inout TrainingRNG) {
        table = Parameter(name + ".weight", Tensor(shape: [count, dim], data: (0..<count * dim).map { _ in 0.02 * rng.nextNormal() }))
    }

    public var parameters: [Parameter] { [table] }

    /// ids [L] → [L, D]
    public func forward(_ ids: [Int]) -> Tensor {
        self.ids = ids
        return DiffuseCore.embedding(ids, table: table.weight)
    }

    public func backward(_ dy: Tensor) { embeddingBackward(ids: ids, dy: dy, dTable: &table.grad) }
}
