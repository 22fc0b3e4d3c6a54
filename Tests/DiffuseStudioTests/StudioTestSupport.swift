import Diffuse
@testable import DiffuseStudio
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

/// A Studio over a temporary models folder (links to the tiny fixture models sd1 and sd2.safetensors) and a
/// temporary data folder; `shutdown()` stops its worker and removes both.
final class TestStudio {
    let root: URL
    let studio: Studio

    init(apiKey: String? = nil, queueCapacity: Int = 16, data: URL? = nil) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("studio-test-\(UUID().uuidString)")
        let models = root.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: models.appendingPathComponent("sd1"),
                                                   withDestinationURL: fixturesRoot.appendingPathComponent("sd1"))
        try FileManager.default.createSymbolicLink(at: models.appendingPathComponent("sd2.safetensors"),
                                                   withDestinationURL: fixturesRoot.appendingPathComponent("sd2.safetensors"))
        var config = StudioConfiguration(modelsFolder: models, dataFolder: data ?? root.appendingPathComponent("data"))
        config.apiKey = apiKey
        config.queueCapacity = queueCapacity
        studio = try Studio(config)
    }

    func shutdown(keepData: Bool = false) {
        studio.queue.shutdown(timeout: 30)
        if !keepData { try? FileManager.default.removeItem(at: root) }
    }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: studio.buildRouter())
        try await app.test(.router, body)
    }
}

extension TestClientProtocol {
    /// POSTs a JSON object.
    func post(_ uri: String, json: [String: Any], headers: HTTPFields = [:]) async throws -> TestResponse {
        var h = headers
        h[.contentType] = "application/json"
        let body = try JSONSerialization.data(withJSONObject: json)
        return try await executeRequest(uri: uri, method: .post, headers: h, body: ByteBuffer(bytes: body))
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .get, headers: headers, body: nil)
    }

    func delete(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await executeRequest(uri: uri, method: .delete, headers: headers, body: nil)
    }
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }
    var jsonArray: [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [[String: Any]] ?? []
    }
    var text: String { String(decoding: body.readableBytesView, as: UTF8.self) }
    var errorMessage: String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }
    var errorParam: String? { (json["error"] as? [String: Any])?["param"] as? String }
}

/// Waits (up to 60 s) until the job is final and returns its snapshot.
func waitForJob(_ studio: Studio, _ id: String) async throws -> JobSnapshot {
    guard let job = studio.queue.job(id: id) else { throw XCTSkip("no job \(id)") }
    await job.waitUntilFinished()
    return studio.snapshot(job)
}
