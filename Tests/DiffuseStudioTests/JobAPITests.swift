import Diffuse
@testable import DiffuseStudio
import Foundation
import HTTPTypes
import Hummingbird
import XCTest

final class JobAPITests: XCTestCase {
    func testJobRunsAndItsImageIsStoredWithParameters() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let created = try await client.post("/api/jobs", json: ["prompt": "a red cube", "steps": 4, "seed": 7,
                                                                    "sampler": "Euler a", "batch_size": 2, "whatever": true])
            XCTAssertEqual(created.status, .created, created.text)
            let id = try XCTUnwrap(created.json["id"] as? String)
            // The worker may pick the job up before the response is written.
            XCTAssertTrue(["queued", "running"].contains(created.json["status"] as? String ?? ""), created.text)
            let done = try await waitForJob(t.studio, id)
            XCTAssertEqual(done.status, .succeeded, done.error ?? "")
            XCTAssertEqual(done.images.map(\.seed), [7, 8])   // batch seeds s, s+1 as in the CLI

            let polled = try await client.get("/api/jobs/\(id)")
            XCTAssertEqual(polled.json["status"] as? String, "succeeded")

            let png = try await client.get(done.images[0].url)
            XCTAssertEqual(png.status, .ok)
            let image = try PNG.decode(Array(png.body.readableBytesView))
            XCTAssertEqual(image.width, 32)
            let info = Infotext.parse(try XCTUnwrap(image.text("parameters")))
            XCTAssertEqual(info.prompt, "a red cube")
            XCTAssertEqual(info["Seed"], "7")
            XCTAssertEqual(info["Sampler"], "Euler a")
            XCTAssertEqual(info["Model"], "sd1")
        }
    }

    func testEventsStreamStepsPreviewsAndFinalMessage() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let created = try await client.post("/api/jobs", json: ["prompt": "stream", "steps": 6, "seed": 3,
                                                                    "sampler": "euler", "preview_every": 2])
            let id = try XCTUnwrap(created.json["id"] as? String)
            // The router test client collects the whole stream, which ends with the final message.
            let events = try await client.get("/api/jobs/\(id)/events")
            XCTAssertEqual(events.headers[.contentType], "text/event-stream")
            let messages = events.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
            let steps = messages.filter { $0["type"] as? String == "step" }
            XCTAssertEqual(steps.compactMap { $0["step"] as? Int }, [1, 2, 3, 4, 5, 6])
            XCTAssertTrue(steps.allSatisfy { $0["total"] as? Int == 6 && $0["elapsed"] is Double })
            let final = try XCTUnwrap(messages.last)
            XCTAssertEqual(final["type"] as? String, "done")
            XCTAssertEqual(final["status"] as? String, "succeeded")
            XCTAssertEqual(final["seeds"] as? [Int], [3])
            let url = try XCTUnwrap((final["images"] as? [[String: Any]])?.first?["url"] as? String)
            XCTAssertTrue(url.hasPrefix("/api/images/"))
            // A subscriber that arrives late gets the log replayed, without the preview images.
            let replay = try await client.get("/api/jobs/\(id)/events")
            XCTAssertTrue(replay.text.contains("\"type\":\"done\""))
            XCTAssertFalse(replay.text.contains("preview"))
        }
    }

    /// Both preview decoders: the fitted colour map gives one pixel per latent cell (16×16 for sd1's 32-px
    /// images, VAE factor 2), the full decode the image's own size.
    func testPreviewsAreSentEveryKSteps() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        for (decoder, width) in [(PreviewDecoder.approx, 16), (.vae, 32)] {
            let spec = try JobParameters(prompt: "p").validated(models: t.studio.models, defaultModel: "sd1", limits: ServerLimits())
            XCTAssertEqual(spec.previewDecoder, .approx, "the default")
            var s = spec
            s.options.steps = 6
            s.options.sampler = "euler"
            s.previewEvery = 2
            s.previewDecoder = decoder
            let job = try t.studio.queue.submit(s)
            let stream = job.events()   // subscribed before the job can start, so previews are live
            var previews: [Int] = []
            for await event in stream {
                guard let o = try? JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any],
                      o["type"] as? String == "step" else { continue }
                if let b64 = o["preview"] as? String {
                    previews.append(o["step"] as? Int ?? -1)
                    let png = try PNG.decode(Array(try XCTUnwrap(Data(base64Encoded: b64))))
                    XCTAssertEqual(png.width, width, "\(decoder)")
                }
            }
            XCTAssertEqual(previews, [2, 4, 6], "\(decoder)")
            XCTAssertEqual(job.snapshot.images.count, 1, "\(decoder): the job finished with its image")
        }
    }

    func testCancelStopsARunningJob() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let created = try await client.post("/api/jobs", json: ["prompt": "long", "steps": 400, "sampler": "euler"])
            let id = try XCTUnwrap(created.json["id"] as? String)
            // Wait until it is past its first step, then cancel it.
            for _ in 0..<600 {
                if t.studio.queue.job(id: id)?.snapshot.step ?? 0 >= 1 { break }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            let cancelled = try await client.delete("/api/jobs/\(id)")
            XCTAssertEqual(cancelled.status, .ok)
            let done = try await waitForJob(t.studio, id)
            XCTAssertEqual(done.status, .cancelled)
            XCTAssertLessThan(done.step, 400)
            XCTAssertTrue(done.images.isEmpty)
            XCTAssertEqual(try t.studio.gallery.count(), 0)
        }
    }

    func testFullQueueAnswers429WithRetryAfter() async throws {
        let t = try TestStudio(queueCapacity: 1)
        defer { t.shutdown() }
        try await t.test { client in
            let body: [String: Any] = ["prompt": "q", "steps": 400, "sampler": "euler"]
            let first = try await client.post("/api/jobs", json: body)
            for _ in 0..<600 where t.studio.queue.running == nil { try await Task.sleep(nanoseconds: 10_000_000) }
            let second = try await client.post("/api/jobs", json: body)   // waits in the queue
            XCTAssertEqual(second.status, .created)
            let third = try await client.post("/api/jobs", json: body)
            XCTAssertEqual(third.status, .tooManyRequests)
            XCTAssertNotNil(third.headers[.retryAfter].flatMap(Int.init))
            // Cancelling a queued job finishes it at once.
            let secondID = try XCTUnwrap(second.json["id"] as? String)
            _ = try await client.delete("/api/jobs/\(secondID)")
            XCTAssertEqual(t.studio.queue.job(id: secondID)?.snapshot.status, .cancelled)
            _ = try await client.delete("/api/jobs/\(first.json["id"] as? String ?? "")")
        }
    }

    func testUnknownJobAndImageAre404() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let r4 = try await client.get("/api/jobs/nope")
            XCTAssertEqual(r4.status, .notFound)
            let r5 = try await client.get("/api/images/..%2Fgallery.sqlite")
            XCTAssertEqual(r5.status, .notFound)
            let r6 = try await client.get("/api/images/0123.png")
            XCTAssertEqual(r6.status, .notFound)
        }
    }
}
