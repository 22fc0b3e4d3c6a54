import DiffuseCore
import Foundation

/// The training objective measured on pictures the model did not train on, at fixed timesteps and with fixed
/// noise: a figure that moves with small changes of a model where prompt adherence (a pass rate over a few
/// hundred samples, ±3 points of noise at 170 pairs) does not, and that says at which noise level a model is
/// better. The training loss is no substitute: each step draws other pictures, timesteps and noise.
///
/// Every picture is noised once per timestep with the same noise (seeded by `seed` and the picture's index, so
/// the figure does not depend on the batch size or on which timesteps are asked for) and predicted with its own
/// caption (no caption dropout) by the weights `BuiltinModel` loads (a checkpoint's EMA). The loss is the mean
/// squared error against the model's own target (ε, v or x0, as in training).
public enum HeldOutLoss {
    /// Default timesteps: the denoise probe's 32 / 99 / 299 (finest detail), then layout and shape.
    public static let defaultTimesteps = [32, 99, 299, 499, 699, 899]

    /// Mean loss per timestep (in the order given) over the first `count` pictures of `dataset`. `caption`
    /// says which text paths read each picture's caption; the others read the empty caption (what caption
    /// dropout trains). The gap between `.neither` and `.both` is how much the caption tells the model at that
    /// noise level, and `.pooled` / `.crossAttention` say through which path.
    public static func measure(_ m: BuiltinModel, dataset: TrainingDataset, count: Int, timesteps: [Int] = defaultTimesteps,
                               seed: UInt64 = 0, caption: CaptionRoute = .both, batch: Int = 16) throws -> [Float] {
        guard count >= 1 else { throw TrainingError("give at least one picture (got \(count))") }
        guard count <= dataset.count else {
            throw TrainingError("the dataset has \(dataset.count) pictures; ask for at most that many (got \(count))")
        }
        return try measure(m, dataset: dataset, pictures: Array(0..<count), timesteps: timesteps, seed: seed,
                           caption: caption, batch: batch)
    }

    /// The same over the given pictures, each read with `text(index)` instead of its own caption when given
    /// (`swappingWords` below). A picture's noise depends only on its index, so two calls that differ only in
    /// `text` compare the same noisy inputs.
    public static func measure(_ m: BuiltinModel, dataset: TrainingDataset, pictures: [Int], timesteps: [Int],
                               seed: UInt64 = 0, caption: CaptionRoute = .both, batch: Int = 16,
                               text: ((Int) -> String)? = nil) throws -> [Float] {
        guard !pictures.isEmpty else { throw TrainingError("no pictures to measure") }
        if caption == .pooled || caption == .crossAttention, !m.config.model.pooledText, m.config.model.textPoolQueries == 0 {
            throw TrainingError("this model has no pooled text path; --caption \(caption.rawValue) needs model.pooledText "
                + "or model.textPoolQueries")
        }
        guard dataset.imageSize == m.config.model.imageSize else {
            throw TrainingError("the pictures are \(dataset.imageSize)×\(dataset.imageSize) but the model draws "
                + "\(m.config.model.imageSize)×\(m.config.model.imageSize); give a dataset of that size")
        }
        if let t = timesteps.first(where: { $0 < 0 || $0 >= m.schedule.count }) {
            throw TrainingError("timestep \(t) is outside 0…\(m.schedule.count - 1)")
        }
        var sums = [Double](repeating: 0, count: timesteps.count)
        for start in stride(from: 0, to: pictures.count, by: batch) {
            let indices = Array(pictures[start..<min(start + batch, pictures.count)])
            let x0 = dataset.batch(indices)                                      // [B, 3, S, S]
            let noise = concat(indices.map { i -> Tensor in
                var rng = TrainingRNG(seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
                return rng.normals([1] + Array(x0.shape.dropFirst()))
            }, axis: 0)
            let ids = indices.map { m.model.tokenizer.encode(text?($0) ?? dataset.captions[$0]) }
            for (k, t) in timesteps.enumerated() {
                let b = m.schedule.noised(x0, noise: noise, timesteps: Array(repeating: t, count: indices.count),
                                          prediction: m.config.prediction)
                let out = m.model.forward(b.noisy, timesteps: Array(repeating: Float(t), count: indices.count), ids: ids,
                                          captionTo: caption)
                sums[k] += Double(mseLoss(out, b.target).loss) * Double(indices.count)
            }
        }
        return sums.map { Float($0 / Double(pictures.count)) }
    }

    /// `text` with every word that is a key of `swaps` replaced by its value (words as the tokenizer splits
    /// them, joined by single spaces).
    public static func swappingWords(_ text: String, _ swaps: [String: String]) -> String {
        WordTokenizer.split(text).map { swaps[$0] ?? $0 }.joined(separator: " ")
    }

    /// "left:right,top:bottom" → both directions of each pair; nil when malformed.
    public static func parseSwaps(_ spec: String) -> [String: String]? {
        var swaps: [String: String] = [:]
        for pair in spec.split(separator: ",") {
            let words = pair.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard words.count == 2, !words[0].isEmpty, !words[1].isEmpty, words[0] != words[1],
                  swaps[words[0]] == nil, swaps[words[1]] == nil else { return nil }
            swaps[words[0]] = words[1]; swaps[words[1]] = words[0]
        }
        return swaps.isEmpty ? nil : swaps
    }
}
