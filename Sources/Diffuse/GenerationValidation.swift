// GenerationOptions.validate(): argument ranges first, then the file system (model path, init image, outputs).
// Nothing here loads a model; a corrupt checkpoint is reported by the loader with its own one-line error.

import Foundation

extension GenerationOptions {
    /// Checks every option without loading a model. Call on a seed-resolved copy (`withResolvedSeed()`):
    /// default output names contain the seed.
    public func validate() throws {
        try validateNumbers()
        if let w = width { try Self.checkSide("--width", w) }
        if let h = height { try Self.checkSide("--height", h) }
        try validateModelPath()
        if let initImagePath { try validateInitImage(try Self.readInitImage(initImagePath)) }
        try validateOutputs()
    }

    func validateNumbers() throws {
        func range<T: Comparable>(_ flag: String, _ v: T, _ lo: T, _ hi: T) throws {
            guard v >= lo && v <= hi else { throw GenerationError("\(flag) must be between \(lo) and \(hi) (got \(v))") }
        }
        try range("--steps", steps, 1, Self.maxSteps)
        guard cfgScale.isFinite, cfgScale >= 0 else { throw GenerationError("--cfg-scale must be 0 or more (got \(cfgScale))") }
        if let sampler, SamplerNames.a1111(sampler) == nil {
            throw GenerationError("unknown sampler '\(sampler)' (valid: \(SamplerNames.cliNames.joined(separator: ", ")))")
        }
        try range("--batch-count", batchCount, 1, Self.maxBatchCount)
        if let threads { try range("--threads", threads, 1, Parallel.coreCount) }
        if let clipSkip { try range("--clip-skip", clipSkip, 1, Self.maxClipSkip) }
        guard eta.isFinite else { throw GenerationError("--eta must be between 0.0 and 1.0 (got \(eta))") }
        try range("--eta", eta, 0.0, 1.0)
        if let strength {
            guard initImagePath != nil else { throw GenerationError("--strength needs --init-image (it sets how much of the image is redrawn)") }
            guard strength.isFinite else { throw GenerationError("--strength must be between 0.0 and 1.0 (got \(strength))") }
            try range("--strength", strength, 0.0, 1.0)
        }
        if let s = effectiveStrength, Int(Double(steps) * s) < 1 {
            // diffusers' img2img runs int(steps × strength) steps and refuses zero.
            throw GenerationError("--strength \(s) with --steps \(steps) leaves no denoising step (steps × strength must be at least 1)")
        }
    }

    static func checkSide(_ flag: String, _ v: Int) throws {
        guard v >= 8 && v <= maxSide else { throw GenerationError("\(flag) must be between 8 and \(maxSide) (got \(v))") }
        guard v % 8 == 0 else {
            throw GenerationError("\(flag) must be a multiple of 8 (got \(v); nearest: \(max(8, v / 8 * 8)) or \(v / 8 * 8 + 8))")
        }
    }

    func validateModelPath() throws {
        guard !modelPath.isEmpty else { throw GenerationError("--model is required (a diffusers model folder or a .safetensors file)") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir) else {
            throw GenerationError("--model \(modelPath) does not exist")
        }
        if isDir.boolValue {
            let index = URL(fileURLWithPath: modelPath).appendingPathComponent("model_index.json").path
            guard FileManager.default.fileExists(atPath: index) else {
                throw GenerationError("--model \(modelPath) is not a diffusers model folder (no model_index.json in it)")
            }
        } else {
            guard modelPath.lowercased().hasSuffix(".safetensors") else {
                throw GenerationError("--model \(modelPath) is not a .safetensors file or a diffusers model folder")
            }
            guard FileManager.default.isReadableFile(atPath: modelPath) else {
                throw GenerationError("--model \(modelPath) cannot be read (permission denied)")
            }
        }
    }

    /// The init image as 8-bit RGB (Pillow's convert("RGB")); errors name the flag and the file.
    public static func readInitImage(_ path: String) throws -> RasterImage {
        do {
            return try PNG.read(contentsOf: URL(fileURLWithPath: path)).rgb()
        } catch let e as PNGError {
            throw GenerationError("--init-image: \(e.description)")
        }
    }

    /// diffusers' img2img takes the size from the image, flooring it to a multiple of 8 with a Lanczos resize.
    /// We do not resample: a size that is not a multiple of 8 is refused, so what runs is exactly what diffusers
    /// runs for the same file. -W/-H may be given only if they agree with the image.
    func validateInitImage(_ image: RasterImage) throws {
        let path = initImagePath ?? ""
        guard image.width % 8 == 0, image.height % 8 == 0 else {
            throw GenerationError("--init-image \(path) is \(image.width)x\(image.height); width and height must be multiples of 8 (crop or resize it to \(image.width / 8 * 8)x\(image.height / 8 * 8))")
        }
        guard image.width <= Self.maxSide, image.height <= Self.maxSide else {
            throw GenerationError("--init-image \(path) is \(image.width)x\(image.height); the largest size is \(Self.maxSide)x\(Self.maxSide)")
        }
        if let w = width, w != image.width {
            throw GenerationError("--width \(w) does not match the init image's width \(image.width) (leave -W out with --init-image)")
        }
        if let h = height, h != image.height {
            throw GenerationError("--height \(h) does not match the init image's height \(image.height) (leave -H out with --init-image)")
        }
    }

    func validateOutputs() throws {
        let urls = outputURLs
        guard Set(urls.map(\.path)).count == urls.count else {
            throw GenerationError("--output \(output ?? "") names the same file for several images (put %d in the name)")
        }
        for url in urls {
            var isDir: ObjCBool = false
            let folder = url.deletingLastPathComponent().path
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
                throw GenerationError("output folder \(folder) does not exist")
            }
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) {
                if isDir.boolValue { throw GenerationError("output \(url.path) is a folder; give a file name") }
                if !force { throw GenerationError("output file \(url.path) already exists (use --force to overwrite)") }
            }
        }
    }
}
