import DiffuseModels
import Foundation
import XCTest
@testable import Diffuse

/// The memory check that refuses sizes which cannot fit, before anything is allocated.
final class MemoryEstimateTests: XCTestCase {
    func tiny() throws -> LoadedCheckpoint { try loadCheckpoint(at: fixturesRoot.appendingPathComponent("sd1")) }

    func testSmallSizePassesWithThisMachinesMemory() throws {
        let ckpt = try tiny()
        try MemoryEstimate.check(ckpt, width: 64, height: 64, batch: 2)
        // The same through the options → request mapping the CLI and the server share.
        let pipe = try StableDiffusionPipeline(contentsOf: fixturesRoot.appendingPathComponent("sd1"))
        var o = GenerationOptions(prompt: "a cat", modelPath: fixturesRoot.appendingPathComponent("sd1").path)
        o.width = 64; o.height = 64
        XCTAssertNoThrow(try o.request(for: pipe, initImage: nil))
    }

    func testTooLargeIsRefusedWithEstimateAndLimitInOneLine() throws {
        let ckpt = try tiny()
        let limit = 64 << 20
        XCTAssertThrowsError(try MemoryEstimate.check(ckpt, width: 2048, height: 2048, batch: 2, available: limit)) { e in
            let text = "\(e)"
            XCTAssertFalse(text.contains("\n"))
            XCTAssertTrue(text.contains("2048x2048"), text)
            XCTAssertTrue(text.contains("0.07 GB"), text)   // 64 MiB = 0.067 GB, the limit
            let e2048 = MemoryEstimate.estimate(ckpt, width: 2048, height: 2048, batch: 2)
            XCTAssertTrue(text.contains(MemoryEstimate.gb(e2048.peakBytes)), text)
        }
        // A limit above the estimate passes.
        let e = MemoryEstimate.estimate(ckpt, width: 2048, height: 2048, batch: 2)
        XCTAssertNoThrow(try MemoryEstimate.check(ckpt, width: 2048, height: 2048, batch: 2, available: e.peakBytes))
    }

    func testActivationsScaleWithPixelsAndBatch() throws {
        let ckpt = try tiny()
        let a = MemoryEstimate.estimate(ckpt, width: 512, height: 512, batch: 2).activationBytes
        let b = MemoryEstimate.estimate(ckpt, width: 1024, height: 1024, batch: 2).activationBytes
        // 4× the pixels: 4× the feature maps; only the fixed-size GEGLU block keeps it from exactly 4.
        XCTAssertEqual(Double(b) / Double(a), 4, accuracy: 0.3)
    }

    /// Against peak RSS measured with `diffuse bench` on the SD 1.5-architecture model (BENCHMARKS.md):
    /// VAE decode at 512 px peaked at 0.96 GB. The estimate must not be below what was measured (a refusal
    /// check that under-estimates lets the OOM killer in) and not far above it (1.5×), or it would refuse
    /// sizes that run.
    func testSD15VAEDecodeMatchesMeasuredPeak() {
        var vae = VAEConfig()
        vae.blockOutChannels = [128, 256, 512, 512]
        vae.layersPerBlock = 2
        let vaeWeights = 83_653_863 * 2   // SD 1.5 VAE parameters, fp16
        let peak = MemoryEstimate.vaeDecoderActivations(vae, h: 64, w: 64) + vaeWeights + MemoryEstimate.baselineBytes
        XCTAssertGreaterThanOrEqual(Double(peak), 0.96e9)
        XCTAssertLessThanOrEqual(Double(peak), 1.5 * 0.96e9)
    }
}
