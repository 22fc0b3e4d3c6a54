import Foundation

// torch.nn building blocks holding their weights, named as in torch (`weight`, `bias`).

/// nn.Linear: weight [out, in], optional bias [out].
struct LinearLayer {
    let weight: Weight
    let bias: Weight?

    init(_ w: WeightScope, in inFeatures: Int, out outFeatures: Int, bias hasBias: Bool = true) throws {
        weight = try w.take("weight", shape: [outFeatures, inFeatures])
        bias = hasBias ? try w.take("bias", shape: [outFeatures]) : nil
    }

    /// [..., in] → [..., out], plus `residual` ([..., out]) added inside the GEMM.
    func callAsFunction(_ x: Tensor, residual: Tensor? = nil) -> Tensor { linear(x, weight, bias, residual: residual) }
}

/// nn.Conv2d with a square kernel: weight [out, in, k, k], bias [out].
struct Conv2dLayer {
    let weight: Weight
    let bias: Weight
    let stride: Int
    let padding: Int

    init(_ w: WeightScope, in inChannels: Int, out outChannels: Int, kernel: Int,
         stride: Int = 1, padding: Int? = nil) throws {
        weight = try w.take("weight", shape: [outChannels, inChannels, kernel, kernel])
        bias = try w.take("bias", shape: [outChannels])
        self.stride = stride
        self.padding = padding ?? (kernel - 1) / 2
    }

    /// [N, in, H, W] → [N, out, H', W'], plus `residual` (that shape) added inside the GEMM.
    func callAsFunction(_ x: Tensor, residual: Tensor? = nil) -> Tensor {
        conv2d(x, weight, bias, stride: stride, padding: padding, residual: residual)
    }
}

/// nn.GroupNorm (affine), optionally followed by SiLU in the same pass.
struct GroupNormLayer {
    let weight: Weight
    let bias: Weight
    let groups: Int
    let eps: Float

    init(_ w: WeightScope, channels: Int, groups: Int, eps: Float) throws {
        guard groups > 0, channels % groups == 0 else {
            throw NetworkError("GroupNorm '\(w.prefix)': \(channels) channels cannot be split into \(groups) groups; "
                + "check norm_num_groups in the model configuration")
        }
        weight = try w.take("weight", shape: [channels])
        bias = try w.take("bias", shape: [channels])
        self.groups = groups
        self.eps = eps
    }

    func callAsFunction(_ x: Tensor, silu: Bool = false) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: silu)
    }
}

/// nn.LayerNorm over the last dimension (affine).
struct LayerNormLayer {
    let weight: Weight
    let bias: Weight
    let eps: Float

    init(_ w: WeightScope, dim: Int, eps: Float) throws {
        weight = try w.take("weight", shape: [dim])
        bias = try w.take("bias", shape: [dim])
        self.eps = eps
    }

    func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}
