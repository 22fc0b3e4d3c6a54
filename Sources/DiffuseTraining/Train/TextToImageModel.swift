import DiffuseCore

/// Text encoder + UNet: the whole trainable built-in model. Parameter names are the checkpoint keys
/// ("text.*" for the encoder, diffusers-like UNet names for the rest).
public final class TextToImageModel: ParameterOwner {
    public let config: ModelConfig
    public let tokenizer: WordTokenizer
    let text: TextEncoder
    let unet: TinyUNet

    /// A freshly initialised model; the same config and seed always give the same weights.
    public init(config: ModelConfig, seed: UInt64) throws {
        if let p = config.problem() { throw TrainingError(p) }
        var rng = TrainingRNG(seed: seed)
        self.config = config
        tokenizer = WordTokenizer(words: config.vocabulary, maxTokens: config.maxTokens)
        text = TextEncoder(vocabulary: tokenizer.count, length: config.maxTokens, dim: config.textDim,
                           layers: config.textLayers, heads: config.textHeads, rng: &rng)
        unet = TinyUNet(config, rng: &rng)
    }

    public var parameters: [Parameter] { text.parameters + unet.parameters }

    /// noisy [B, 3, S, S], timesteps [B], captions B strings → model output [B, 3, S, S]
    public func forward(_ noisy: Tensor, timesteps: [Float], captions: [String]) -> Tensor {
        forward(noisy, timesteps: timesteps, ids: captions.map(tokenizer.encode))
    }

    public func forward(_ noisy: Tensor, timesteps: [Float], ids: [[Int]]) -> Tensor {
        unet.forward(noisy, timesteps: timesteps, context: text.forward(ids))
    }

    /// A diagnostic forward pass in which only one of the UNet's two text paths reads the caption — the
    /// pooled text added to the time embedding (the mean of the tokens and the attention pooling, whichever the
    /// model has), or the cross-attention — and the other the empty caption's
    /// encoding: how much each path tells the model (`diffuse evaluate-loss --caption`). No backward.
    public func forward(_ noisy: Tensor, timesteps: [Float], ids: [[Int]], captionTo route: CaptionRoute) -> Tensor {
        let empty = { self.text.forward(ids.map { _ in self.tokenizer.encode("") }) }
        switch route {
        case .both: return forward(noisy, timesteps: timesteps, ids: ids)
        case .neither: return unet.forward(noisy, timesteps: timesteps, context: empty())
        case .pooled: return unet.forward(noisy, timesteps: timesteps, context: empty(), pooled: text.forward(ids))
        case .crossAttention: return unet.forward(noisy, timesteps: timesteps, context: text.forward(ids), pooled: empty())
        }
    }

    /// Backpropagates d(loss)/d(output) of the last forward into every parameter's grad.
    public func backward(_ dOutput: Tensor) {
        text.backward(unet.backward(dOutput))
    }

    /// Replaces parameter values by name (checkpoint load); every parameter must be present with its shape.
    public func load(_ values: [String: Tensor]) throws {
        for p in parameters {
            guard let v = values[p.name] else {
                throw TrainingError("checkpoint has no tensor \(p.name); it was made for another architecture")
            }
            guard v.shape == p.value.shape else {
                throw TrainingError("checkpoint tensor \(p.name) has shape \(v.shape) but this model needs "
                    + "\(p.value.shape); it was made for another architecture")
            }
            p.value = v
        }
    }
}

/// A training error whose description is one line saying what is wrong and what to do.
public struct TrainingError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Which of the UNet's text paths see the caption in `TextToImageModel.forward(_:timesteps:ids:captionTo:)`.
public enum CaptionRoute: String, CaseIterable, Sendable {
    case both, neither, pooled
    case crossAttention = "cross-attention"
}
