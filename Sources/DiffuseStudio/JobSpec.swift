// What a client asks for, in the native API's field names, and its validation into a `JobSpec`: the CLI's
// `GenerationOptions.validate()` does the range checks, so the server and the CLI accept exactly the same
// values; only the flag names in its messages are turned into field names.

import Diffuse
import DiffuseSampling
import Foundation
import HTTPTypes

/// A client error (or a server condition) with the HTTP status it maps to and the offending field.
public struct StudioError: Error, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var description: String
    public var param: String?

    public init(_ status: HTTPResponse.Status, _ message: String, param: String? = nil) {
        self.status = status
        self.description = message
        self.param = param
    }
}

/// Native job request (`POST /api/jobs`), snake_case on the wire; unknown fields are ignored.
public struct JobParameters: Codable, Sendable, Equatable {
    public var prompt: String
    public var negativePrompt: String?
    public var model: String?
    /// -1 or absent = random.
    public var seed: Int64?
    public var steps: Int?
    public var cfgScale: Double?
    /// CLI name (`euler-a`) or A1111 name (`Euler a`); absent = the model's own scheduler.
    public var sampler: String?
    public var width: Int?
    public var height: Int?
    /// Images in the job, seeds s, s+1, ….
    public var batchSize: Int?
    /// Base64 PNG (a `data:image/png;base64,` prefix is accepted) for img2img.
    public var initImage: String?
    public var strength: Double?
    public var clipSkip: Int?
    public var eta: Double?
    /// A preview every this many steps; 0 = none; absent = about ten per run.
    public var previewEvery: Int?
    /// How Stable Diffusion previews are drawn: "approx" (default, a fitted per-cell colour map, milliseconds)
    /// or "vae" (the full decode: exact, but a 512-px decode costs more than a denoising step on a CPU).
    public var previewDecoder: String?

    public init(prompt: String) { self.prompt = prompt }
}

/// How the studio draws a Stable Diffusion preview. Previews only: the finished image is always the VAE's.
public enum PreviewDecoder: String, Sendable, CaseIterable {
    case approx, vae
}

/// A validated job: the CLI's options (seed resolved), the model and the decoded init image.
public struct JobSpec: Sendable {
    public var options: GenerationOptions
    public var model: ModelInfo
    public var initImage: RasterImage?
    public var previewEvery: Int
    public var parameters: JobParameters
    public var previewDecoder: PreviewDecoder = .approx
    /// Things the client should know that do not stop the job (words a trained model does not know).
    public var warnings: [String] = []
}

public struct ServerLimits: Sendable {
    /// Largest width × height × batch; a 512×512 batch of 8 passes, 2048×2048×2 does not.
    public var maxPixels = 2048 * 2048
    public var maxBatch = 16
    public init() {}
}

extension JobParameters {
    /// Stable Diffusion's defaults when a request leaves steps / cfg_scale out (A1111's, not the CLI's 50 / 7.5).
    public static let defaultSteps = 20
    public static let defaultCFGScale = 7.0

    /// Checks every field; errors are 4xx `StudioError`s naming the field.
    public func validated(models: ModelStore, defaultModel: String?, limits: ServerLimits) throws -> JobSpec {
        let model = try model.map { try models.resolve($0) } ?? defaultModel.map { try models.resolve($0) }
            ?? models.defaultModel()
        if let previewEvery, previewEvery < 0 {
            throw StudioError(.badRequest, "preview_every must be 0 (no previews) or more (got \(previewEvery))", param: "preview_every")
        }
        let decoder = try previewDecoder.map { name in
            guard let d = PreviewDecoder(rawValue: name) else {
                throw StudioError(.badRequest, "preview_decoder must be \"approx\" or \"vae\" (got \"\(name)\")", param: "preview_decoder")
            }
            return d
        } ?? .approx
        if model.kind == .trained { return try validatedForTrained(model, store: models, limits: limits) }
        var o = try baseOptions(model, steps: Self.defaultSteps, cfgScale: Self.defaultCFGScale, limits: limits)
        if let sampler { o.sampler = try Self.samplerName(sampler) }
        o.width = width
        o.height = height
        o.clipSkip = clipSkip
        o.strength = strength
        let image = try validatedInitImage(&o)
        if let image { (o.width, o.height) = (image.width, image.height) }
        try checkPixels(o, limits: limits)
        return JobSpec(options: o, model: model, initImage: image,
                       previewEvery: previewEvery ?? max(1, o.steps / 10), parameters: self, previewDecoder: decoder)
    }

    /// Validates `o` with the uploaded init_image (if any) and returns that image. validate() reads the init
    /// image from a file, as the CLI does: it gets the upload in a temporary one, whose path never reaches a
    /// message; afterwards `o.initImagePath` is a marker (the runner uses the returned image; the options keep
    /// it for effectiveStrength and the infotext).
    func validatedInitImage(_ o: inout GenerationOptions) throws -> RasterImage? {
        var tmp: URL?
        defer { if let tmp { try? FileManager.default.removeItem(at: tmp) } }
        if let initImage {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-init-\(UUID().uuidString).png")
            do { try Self.decodeBase64(initImage).write(to: url) } catch let e as StudioError { throw e } catch {
                throw StudioError(.internalServerError, "cannot store init_image: \(error.localizedDescription)")
            }
            tmp = url
            o.initImagePath = url.path
        }
        var image: RasterImage?
        do {
            try o.validate()
            if let path = o.initImagePath { image = try GenerationOptions.readInitImage(path) }
        } catch let e as GenerationError {
            throw Self.fieldError(e.description.replacingOccurrences(of: tmp?.path ?? "\u{0}", with: "").replacingOccurrences(of: "  ", with: " "))
        }
        if image != nil { o.initImagePath = "init_image" }
        return image
    }

    /// The options every model shares (prompt, steps, cfg, seed, batch), seed resolved.
    func baseOptions(_ model: ModelInfo, steps defaultSteps: Int, cfgScale defaultCFG: Double,
                     limits: ServerLimits) throws -> GenerationOptions {
        var o = GenerationOptions(prompt: prompt, modelPath: model.url.path)
        o.negativePrompt = negativePrompt ?? ""
        o.steps = steps ?? defaultSteps
        o.cfgScale = cfgScale ?? defaultCFG
        if let seed {
            guard seed >= -1 else { throw StudioError(.badRequest, "seed must be -1 (random) or between 0 and \(Int64.max) (got \(seed))", param: "seed") }
            o.seed = seed == -1 ? nil : UInt64(seed)
        }
        o.batchCount = batchSize ?? 1
        o.eta = eta ?? 0
        o.force = true   // the server names its own files; the CLI's "output exists" check does not apply
        guard o.batchCount <= limits.maxBatch, o.batchCount >= 1 else {
            throw StudioError(.badRequest, "batch_size must be between 1 and \(limits.maxBatch) (got \(o.batchCount))", param: "batch_size")
        }
        return o.withResolvedSeed()
    }

    func checkPixels(_ o: GenerationOptions, limits: ServerLimits) throws {
        let pixels = (o.width ?? 512) * (o.height ?? 512) * o.batchCount
        guard pixels <= limits.maxPixels else {
            throw StudioError(.badRequest, "width × height × batch_size must be at most \(limits.maxPixels) pixels (got \(pixels))", param: "width")
        }
    }

    /// CLI names, A1111 names ("Euler a", "k_euler_a") and "… Karras" variants, case-insensitive.
    static func samplerName(_ name: String) throws -> String {
        let key = name.lowercased().replacingOccurrences(of: "k_", with: "")
        for (cli, a1111) in SamplerNames.all {
            let forms = [cli, a1111.lowercased(), a1111.lowercased().replacingOccurrences(of: " ", with: "_"),
                         cli.replacingOccurrences(of: "-", with: "_")]
            if forms.contains(key) { return cli }
        }
        if key == "euler_ancestral" { return "euler-a" }
        let valid = SamplerNames.all.map(\.a1111).joined(separator: ", ")
        throw StudioError(.badRequest, "unknown sampler '\(name)' (valid: \(valid))", param: "sampler")
    }

    static func decodeBase64(_ text: String) throws -> Data {
        var body = Substring(text)
        if body.hasPrefix("data:"), let comma = body.firstIndex(of: ",") { body = body[body.index(after: comma)...] }
        guard let data = Data(base64Encoded: String(body), options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw StudioError(.badRequest, "init_image is not valid base64 (send a base64-encoded PNG)", param: "init_image")
        }
        return data
    }

    /// The CLI's message with `--flag-name` turned into the API's `flag_name`.
    static func fieldError(_ message: String) -> StudioError {
        var text = message.replacingOccurrences(of: "(init_image)", with: "init_image")
        var param: String?
        if let r = text.range(of: #"--[a-z][a-z-]*"#, options: .regularExpression) {
            param = text[r].dropFirst(2).replacingOccurrences(of: "-", with: "_")
            if param == "batch_count" { param = "batch_size" }
        }
        for flag in ["--batch-count": "batch_size", "--width": "width", "--height": "height", "-W": "width", "-H": "height"] {
            text = text.replacingOccurrences(of: flag.key, with: flag.value)
        }
        text = text.replacingOccurrences(of: #"--([a-z][a-z-]*)"#, with: "$1", options: .regularExpression)
        text = text.replacingOccurrences(of: "cfg-scale", with: "cfg_scale").replacingOccurrences(of: "clip-skip", with: "clip_skip")
            .replacingOccurrences(of: "init-image", with: "init_image")
        return StudioError(.badRequest, text, param: param)
    }
}
