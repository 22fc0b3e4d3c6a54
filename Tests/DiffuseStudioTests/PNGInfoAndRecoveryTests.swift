import Diffuse
@testable import DiffuseStudio
import Foundation
import HTTPTypes
import Hummingbird
import XCTest

/// A1111's png-info, and the gallery giving an orphan image (file written, row not) its row back on start.
final class PNGInfoAndRecoveryTests: XCTestCase {
    func testPNGInfoReturnsTheParametersChunkParsed() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let r = try await client.post("/api/jobs", json: ["prompt": "a fox, at night", "negative_prompt": "blur",
                                                              "steps": 3, "seed": 42, "sampler": "euler"])
            let done = try await waitForJob(t.studio, r.json["id"] as? String ?? "")
            let png = try await client.get(try XCTUnwrap(done.images.first).url)
            let b64 = Data(png.body.readableBytesView).base64EncodedString()
            let entry = try XCTUnwrap(try t.studio.gallery.get(id: done.images[0].id))

            // webuiapi sends a data: URL prefix; A1111 accepts both.
            for image in [b64, "data:image/png;base64," + b64] {
                let info = try await client.post("/sdapi/v1/png-info", json: ["image": image])
                XCTAssertEqual(info.status, .ok, info.text)
                XCTAssertEqual(info.json["info"] as? String, entry.infotext)
                let p = try XCTUnwrap(info.json["parameters"] as? [String: Any])
                XCTAssertEqual(p["Prompt"] as? String, "a fox, at night")
                XCTAssertEqual(p["Negative prompt"] as? String, "blur")
                XCTAssertEqual(p["Seed"] as? String, "42")
                XCTAssertEqual(p["Sampler"] as? String, "Euler")
                XCTAssertEqual([p["Size-1"] as? String, p["Size-2"] as? String], ["32", "32"])
                XCTAssertEqual(info.json["items"] as? [String: String], [:])
            }

            // Other text chunks come back as items; a PNG without parameters has an empty info.
            let plain = try PNG.encode(RasterImage(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 0, count: 12)),
                                       text: [("Software", "elsewhere")])
            let other = try await client.post("/sdapi/v1/png-info", json: ["image": Data(plain).base64EncodedString()])
            XCTAssertEqual(other.status, .ok, other.text)
            XCTAssertEqual(other.json["info"] as? String, "")
            XCTAssertEqual(other.json["items"] as? [String: String], ["Software": "elsewhere"])

            let bad = try await client.post("/sdapi/v1/png-info", json: ["image": Data("not a png".utf8).base64EncodedString()])
            XCTAssertEqual(bad.status, .badRequest, bad.text)
            XCTAssertTrue((bad.json["detail"] as? String ?? "").contains("not a readable PNG"), bad.text)
            let missing = try await client.post("/sdapi/v1/png-info", json: [:])
            XCTAssertEqual(missing.status, .unprocessableContent, missing.text)
        }
    }

    func testAnImageWithoutItsRowIsReimportedOnStart() async throws {
        let t = try TestStudio()
        let data = t.studio.config.dataFolder
        try await t.test { client in
            let r = try await client.post("/api/jobs", json: ["prompt": "orphan: a \"quoted\" cat", "steps": 2,
                                                              "seed": 9, "cfg_scale": 5.5, "sampler": "euler"])
            _ = try await waitForJob(t.studio, r.json["id"] as? String ?? "")
        }
        t.shutdown(keepData: true)
        defer { try? FileManager.default.removeItem(at: t.root) }
        let entry = try XCTUnwrap(try t.studio.gallery.list().first)
        // The state a kill -9 between the file's rename and the row's insert leaves: the file, no row.
        try t.studio.gallery.db.query("DELETE FROM images WHERE id = ?", [.text(entry.id)])
        XCTAssertEqual(try t.studio.gallery.count(), 0)
        // A PNG of someone else's (no parameters chunk) in the folder is left alone.
        let stranger = data.appendingPathComponent("images/0000aaaa-0000-0000-0000-000000000000.png")
        try Data(try PNG.encode(RasterImage(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 0, count: 12))))
            .write(to: stranger)

        let restarted = try TestStudio(data: data)
        defer { restarted.shutdown() }
        XCTAssertEqual(restarted.studio.gallery.recoveredOrphans, 1)
        let back = try XCTUnwrap(try restarted.studio.gallery.get(id: entry.id))
        var expected = entry
        expected.jobId = ""        // not in the PNG: recorded as unknown
        expected.duration = 0
        expected.created = back.created   // the file's modification time, within a second of the original
        XCTAssertEqual(back, expected)
        XCTAssertEqual(back.created, entry.created, accuracy: 5)   // generous: the file is written just before the row
        XCTAssertTrue(FileManager.default.fileExists(atPath: stranger.path))
        XCTAssertEqual(try restarted.studio.gallery.count(), 1)
        // Starting again adds nothing twice.
        XCTAssertEqual(try Gallery(dataFolder: data).recoveredOrphans, 0)
    }
}
