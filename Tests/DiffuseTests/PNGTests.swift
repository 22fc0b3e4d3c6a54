import XCTest
@testable import Diffuse

/// PNG reading (files written or read by Pillow, see scripts/fixtures/png.py), writing and round trips.
final class PNGTests: XCTestCase {
    let pngDir = fixturesRoot.appendingPathComponent("png")

    struct Expected: Decodable {
        var width: Int, height: Int
        var pillow_mode: String
        var samples: [Int], rgb: [Int]
        var text: [String: String]
    }

    func testDecodesPillowFixturesExactly() throws {
        let all = try JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: pngDir.appendingPathComponent("expected.json")))
        XCTAssertEqual(all.count, 10)
        for (name, want) in all.sorted(by: { $0.key < $1.key }) {
            let png = try PNG.read(contentsOf: pngDir.appendingPathComponent(name))
            XCTAssertEqual(png.width, want.width, name)
            XCTAssertEqual(png.height, want.height, name)
            // Exact: decoding is lossless, any difference is a bug.
            XCTAssertEqual(png.samples.map(Int.init), want.samples, name)
            XCTAssertEqual(png.rgb().pixels.map(Int.init), want.rgb, "\(name): convert(\"RGB\") differs from Pillow")
            var text: [String: String] = [:]
            for t in png.text { text[t.keyword] = t.text }
            XCTAssertEqual(text, want.text, name)
        }
    }

    func testRoundTripAllChannelCounts() throws {
        var g = SystemRandomNumberGenerator()
        for channels in 1...4 {
            for (w, h) in [(1, 1), (7, 3), (64, 33)] {
                // Smooth gradients plus noise, so every filter type wins on some rows.
                let px = (0..<(w * h * channels)).map { i in UInt8(truncatingIfNeeded: i / channels % w * 3 + Int.random(in: 0...8, using: &g)) }
                let image = RasterImage(width: w, height: h, channels: channels, pixels: px)
                let bytes = try PNG.encode(image, text: [("parameters", "p\nSteps: 1")])
                let back = try PNG.decode(bytes)
                XCTAssertEqual(back.channels, channels)
                XCTAssertEqual(back.colorType, [0, 4, 2, 6][channels - 1])
                XCTAssertEqual(back.samples.map { UInt8($0) }, px, "\(channels) channels \(w)x\(h)")
                XCTAssertEqual(back.text("parameters"), "p\nSteps: 1")
            }
        }
    }

    func testTextChunkTypeFollowsPillow() throws {
        let image = RasterImage(width: 1, height: 1, channels: 3, pixels: [1, 2, 3])
        let latin = try PNG.encode(image, text: [("parameters", "café, 7.0")])
        XCTAssertNotNil(find("tEXt", in: latin))
        XCTAssertNil(find("iTXt", in: latin))
        let unicode = try PNG.encode(image, text: [("parameters", "猫 ☃")])
        XCTAssertNil(find("tEXt", in: unicode))
        // Pillow's uncompressed iTXt: keyword NUL, flag 0, method 0, empty language NUL, empty translation NUL.
        XCTAssertEqual(find("iTXt", in: unicode), Array("parameters".utf8) + [0, 0, 0, 0, 0] + Array("猫 ☃".utf8))
        XCTAssertEqual(try PNG.decode(unicode).text("parameters"), "猫 ☃")
        XCTAssertThrowsError(try PNG.encode(image, text: [("", "x")]))
    }

    private func find(_ type: String, in png: [UInt8]) -> [UInt8]? {
        var p = 8
        while p + 8 <= png.count {
            let len = Int(png.bigEndian32(at: p))
            if String(decoding: png[p + 4..<p + 8], as: UTF8.self) == type { return Array(png[p + 8..<p + 8 + len]) }
            p += 12 + len
        }
        return nil
    }

    func testRejectsBadFiles() throws {
        let image = RasterImage(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 9, count: 48))
        let good = try PNG.encode(image)
        XCTAssertThrowsError(try PNG.decode(Array("GIF89a....".utf8))) { XCTAssertEqual("\($0)", "not a PNG file") }
        var badCRC = good
        badCRC[20] ^= 0xFF   // inside IHDR data
        XCTAssertThrowsError(try PNG.decode(badCRC)) { XCTAssertEqual("\($0)", "chunk IHDR has a bad CRC (corrupt file)") }
        XCTAssertThrowsError(try PNG.decode(Array(good.prefix(good.count - 6)))) {
            XCTAssertEqual("\($0)", "file ends before IEND (truncated file?)")
        }
        XCTAssertThrowsError(try PNG.read(contentsOf: URL(fileURLWithPath: "/nonexistent/x.png"))) {
            XCTAssertEqual("\($0)", "cannot read /nonexistent/x.png: No such file or directory")
        }
    }

    func testAtomicWriteRefusesToOverwriteWithoutForce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.png")
        try PNG.writeAtomically([1, 2, 3], to: url, overwrite: false)
        XCTAssertThrowsError(try PNG.writeAtomically([4], to: url, overwrite: false)) {
            XCTAssertEqual("\($0)", "\(url.path) already exists (use --force to overwrite)")
        }
        try PNG.writeAtomically([4], to: url, overwrite: true)
        XCTAssertEqual(try Data(contentsOf: url), Data([4]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["a.png"])   // no temp files left
    }

    func testTensorConversionsMatchDiffusers() {
        // Expected pixels printed by diffusers 0.42.1: VaeImageProcessor().postprocess(t, output_type="pil") of
        // this tensor. 0 → 127.5 → 128; out-of-range values clamp; the last value lands at 2.4999998 → 2.
        let xs: [Float] = [0, -1, 1, 3, -3, -0.98039216]
        let t = Tensor(shape: [1, 3, 1, 2], data: xs)   // [B, C, H, W]
        let img = RasterImage.fromDecoded(t)[0]
        XCTAssertEqual(img.pixels, [128, 255, 0, 0, 255, 2])
        // img2img input: p / 255 * 2 - 1 in float32.
        let back = RasterImage(width: 1, height: 1, channels: 3, pixels: [0, 255, 51]).normalizedTensor()
        XCTAssertEqual(back.shape, [1, 3, 1, 1])
        XCTAssertEqual(back.data, [-1, 1, Float(51) / 255 * 2 - 1])
    }
}
