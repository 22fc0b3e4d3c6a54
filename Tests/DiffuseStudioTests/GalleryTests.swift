import Diffuse
@testable import DiffuseStudio
import Foundation
import HTTPTypes
import Hummingbird
import XCTest

final class GalleryTests: XCTestCase {
    func testListSearchDeleteAndSurviveRestart() async throws {
        let t = try TestStudio()
        let data = t.studio.config.dataFolder
        try await t.test { client in
            for prompt in ["a red fox", "a blue whale", "100% red_wine"] {
                let r = try await client.post("/api/jobs", json: ["prompt": prompt, "steps": 2, "sampler": "euler", "seed": 1])
                _ = try await waitForJob(t.studio, r.json["id"] as? String ?? "")
            }
            let all = try await client.get("/api/gallery")
            XCTAssertEqual(all.json["total"] as? Int, 3)
            let images = try XCTUnwrap(all.json["images"] as? [[String: Any]])
            XCTAssertEqual(images.first?["prompt"] as? String, "100% red_wine")   // newest first
            XCTAssertEqual(images.first?["model"] as? String, "sd1")
            XCTAssertEqual((images.first?["model_hash"] as? String)?.count, 10)
            XCTAssertEqual(images.first?["steps"] as? Int, 2)
            XCTAssertNotNil(images.first?["duration"] as? Double)

            let red = try await client.get("/api/gallery?q=red")
            XCTAssertEqual((red.json["images"] as? [[String: Any]])?.count, 2)
            // LIKE wildcards in the search text are literal characters.
            let percent = try await client.get("/api/gallery?q=0%25%20red_")
            XCTAssertEqual((percent.json["images"] as? [[String: Any]])?.map { $0["prompt"] as? String }, ["100% red_wine"])

            let id = try XCTUnwrap(images.last?["id"] as? String)
            let r1 = try await client.delete("/api/gallery/\(id)")
            XCTAssertEqual(r1.status, .ok)
            let r2 = try await client.get("/api/images/\(id).png")
            XCTAssertEqual(r2.status, .notFound)
            let r3 = try await client.delete("/api/gallery/\(id)")
            XCTAssertEqual(r3.status, .notFound)
        }
        t.shutdown(keepData: true)

        // A new server on the same data folder sees the same gallery.
        let reopened = try Gallery(dataFolder: data)
        XCTAssertEqual(try reopened.count(), 2)
        let entry = try XCTUnwrap(try reopened.list(search: "whale").first)
        XCTAssertNotNil(FileManager.default.contents(atPath: try XCTUnwrap(reopened.fileURL(id: entry.id)).path))
        try? FileManager.default.removeItem(at: t.root)
    }

    func testRowsAreWrittenOnlyAfterTheirFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gallery-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = try Gallery(dataFolder: folder)
        let entry = GalleryEntry(id: "0badc0de", jobId: "j", created: 1, duration: 0.5, prompt: "p", negativePrompt: "",
                                 model: "m", modelHash: "0123456789", seed: UInt64(Int64.max), steps: 3, cfgScale: 7,
                                 sampler: "Euler", width: 8, height: 8, strength: nil, infotext: "p")
        try g.add(entry, png: [1, 2, 3])
        XCTAssertEqual(try g.get(id: "0badc0de"), entry)   // seeds up to 2^63-1 round-trip
        // A leftover temporary file from a killed write is removed when the gallery opens.
        let tmp = g.imagesFolder.appendingPathComponent(".dead.png.tmp")
        FileManager.default.createFile(atPath: tmp.path, contents: Data([0]))
        _ = try Gallery(dataFolder: folder)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.path))
        XCTAssertThrowsError(try g.add(GalleryEntry(id: "../x", jobId: "", created: 0, duration: 0, prompt: "", negativePrompt: "",
                                                    model: "", modelHash: "", seed: 0, steps: 1, cfgScale: 1, sampler: "",
                                                    width: 8, height: 8, strength: nil, infotext: ""), png: []))
        XCTAssertEqual(try g.db.query("PRAGMA journal_mode").first?.first, .text("wal"))
    }
}

final class GalleryJSONTests: XCTestCase {
    /// Listings are cached between writes: every add and delete must show in the next listing.
    func testCachedListingFollowsAddsAndDeletes() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            func listing(_ query: String = "") async throws -> (Int, [String]) {
                let r = try await client.get("/api/gallery\(query)")
                return (r.json["total"] as? Int ?? -1, (r.json["images"] as? [[String: Any]] ?? []).compactMap { $0["prompt"] as? String })
            }
            let empty = try await listing()
            XCTAssertEqual(empty.0, 0)
            var ids: [String] = []
            for prompt in ["first", "second"] {
                let r = try await client.post("/api/jobs", json: ["prompt": prompt, "steps": 1, "sampler": "euler"])
                ids += try await waitForJob(t.studio, r.json["id"] as? String ?? "").images.map(\.id)
                let now = try await listing()
                XCTAssertEqual(now.1.first, prompt)
                let again = try await listing()   // served from the cache: the same
                XCTAssertEqual(again.1, now.1)
            }
            let searched = try await listing("?q=sec")
            XCTAssertEqual(searched.1, ["second"])
            _ = try await client.delete("/api/gallery/\(ids[1])")
            let afterDelete = try await listing()
            XCTAssertEqual(afterDelete.0, 1)
            XCTAssertEqual(afterDelete.1, ["first"])
            let searchedAfter = try await listing("?q=sec")
            XCTAssertEqual(searchedAfter.1, [])
        }
    }

    /// A listing row is GalleryEntry's own encoding plus `url` (nothing dropped, nothing renamed).
    func testListingRowsMatchTheCodableEncoding() throws {
        for strength: Double? in [nil, 0.5] {
            let e = GalleryEntry(id: "ab-12", jobId: "j", created: 1.5, duration: 0.25, prompt: "p \"q\"", negativePrompt: "n",
                                 model: "m", modelHash: "h", seed: UInt64.max, steps: 3, cfgScale: 7, sampler: "Euler a",
                                 width: 64, height: 32, strength: strength, infotext: "i")
            var expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: Reply.encoder.encode(e)) as? NSDictionary)
                .mutableCopy() as! NSMutableDictionary
            expected["url"] = "/api/images/ab-12.png"
            let row = try Reply.encoder.encode(GalleryRow(entry: e))
            XCTAssertEqual(try JSONSerialization.jsonObject(with: row) as? NSDictionary, expected)
            XCTAssertEqual(expected["negative_prompt"] as? String, "n")   // snake_case, as the page reads it
        }
    }
}
