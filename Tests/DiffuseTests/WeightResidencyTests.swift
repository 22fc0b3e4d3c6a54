import DiffuseCore
import Foundation
import XCTest
@testable import Diffuse

/// The pipeline keeps one network's memory-mapped weights resident at a time (WeightResidency.swift): the
/// UNet's pages stay across denoising steps, another network's are dropped before it runs, and nothing stays
/// resident after a request. Read from /proc/self/smaps (the resident kB of each weight file's mapping).
final class WeightResidencyTests: XCTestCase {
    func testTrackerReportsWhichNetworkToDrop() {
        let r = WeightResidency()
        XCTAssertNil(r.switchTo(.text))
        XCTAssertEqual(r.switchTo(.unet), .text)
        XCTAssertNil(r.switchTo(.unet))
        XCTAssertEqual(r.switchTo(.vae), .unet)
        XCTAssertEqual(r.switchTo(nil), .vae)
        XCTAssertNil(r.switchTo(nil))
    }

    func testOnlyTheNetworkInUseStaysResident() throws {
        #if os(Linux)
        try XCTSkipUnless(Weight.releaseAfterUse, "DIFFUSE_KEEP_WEIGHTS is set")
        // A private copy: other tests' pipelines map the committed files too, and smaps would count theirs.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("residency-\(UUID().uuidString)")
        let fm = FileManager.default, source = fixturesRoot.appendingPathComponent("sd1")
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: root) }
        for item in try fm.contentsOfDirectory(atPath: source.path) {   // the weights copied, the rest linked
            let from = source.appendingPathComponent(item), to = root.appendingPathComponent(item)
            if ["unet", "vae"].contains(item) { try fm.copyItem(at: from, to: to) } else {
                try fm.createSymbolicLink(at: to, withDestinationURL: from)
            }
        }
        let pipe = try StableDiffusionPipeline(contentsOf: root)
        let unetFile = root.appendingPathComponent("unet/diffusion_pytorch_model.safetensors").path
        let vaeFile = root.appendingPathComponent("vae/diffusion_pytorch_model.safetensors").path

        var r = GenerationRequest(prompt: "a red circle")
        r.steps = 2; r.width = 64; r.height = 64; r.sampler = .euler
        var unetDuringSteps: [Int] = []
        _ = try pipe.generate(r) { _ in unetDuringSteps.append(Self.residentKB(of: unetFile)) }
        let unetHeader = Self.headerKB(unetFile), vaeHeader = Self.headerKB(vaeFile)
        XCTAssertEqual(unetDuringSteps.count, 2)
        XCTAssertTrue(unetDuringSteps.allSatisfy { $0 > 4 * unetHeader }, "UNet pages dropped between steps: \(unetDuringSteps)")
        XCTAssertLessThanOrEqual(Self.residentKB(of: unetFile), unetHeader, "UNet pages left resident after the request")
        XCTAssertLessThanOrEqual(Self.residentKB(of: vaeFile), vaeHeader, "VAE pages left resident after the request")

        // Decoding mid-loop (the studio's VAE preview) drops the UNet first.
        pipe.makeResident(.unet)
        let hidden = pipe.checkpoint.textConfig.hiddenSize
        _ = pipe.unet(Tensor(zeros: [1, 4, 8, 8]), timestep: 10, context: Tensor(zeros: [1, 77, hidden]))
        XCTAssertGreaterThan(Self.residentKB(of: unetFile), 4 * unetHeader)
        _ = pipe.decodeToImage(Tensor(zeros: [1, 4, 8, 8]))
        XCTAssertLessThanOrEqual(Self.residentKB(of: unetFile), unetHeader)
        XCTAssertGreaterThan(Self.residentKB(of: vaeFile), 4 * vaeHeader)
        pipe.releaseWeightPages()
        XCTAssertLessThanOrEqual(Self.residentKB(of: vaeFile), vaeHeader)
        #else
        throw XCTSkip("reads /proc/self/smaps")
        #endif
    }

    /// The file's safetensors header (read at load, not a weight: it may stay mapped) in kB, whole pages.
    static func headerKB(_ path: String) -> Int {
        guard let h = FileHandle(forReadingAtPath: path) else { return 0 }
        let n = h.readData(ofLength: 8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return (8 + n + 4095) / 4096 * 4 + 4   // + the page shared with the first tensor
    }

    /// Resident kB of this process's mappings of `path` (0 when unmapped or not resident).
    static func residentKB(of path: String) -> Int {
        // /proc files report size 0, so read to the end rather than by size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps"),
              let smaps = String(data: handle.readDataToEndOfFile(), encoding: .utf8) else { return -1 }
        var inFile = false, total = 0
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":") {
                inFile = fields.count >= 6 && fields[5...].joined(separator: " ") == path
            } else if inFile, fields.first == "Rss:", fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }
}
