import DiffuseModels
import Foundation

extension BuiltinModel {
    /// Sampling defaults of `diffuse generate` and `diffuse serve` for this model: enough steps for clean
    /// shapes, well under the 2 s per image the training issue asks for on 2 cores.
    public static let defaultSteps = 20
    public static let defaultGuidance: Float = 4

    /// The model `diffuse generate` uses when no --model is given: trained by `diffuse train` only on the
    /// generated shapes dataset (see MODEL_CARD.md), shipped inside Diffuse.
    public static var bundledURL: URL? {
        Bundle.module.url(forResource: "builtin-shapes", withExtension: "safetensors")
    }

    /// Whether `url` is a model written by `diffuse train` (rather than a Stable Diffusion checkpoint).
    public static func isTrainedModel(_ url: URL) -> Bool {
        guard url.pathExtension == "safetensors", let file = try? SafeTensorsFile(url: url) else { return false }
        return file.metadata[TrainingCheckpoint.configKey] != nil
    }
}
