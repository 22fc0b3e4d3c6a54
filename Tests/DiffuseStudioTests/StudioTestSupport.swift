import Diffuse
@testable import DiffuseStudio
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import XCTest

/// A Studio over a temporary models folder (links to the tiny fixture models sd1 and sd2.safetensors), the
/// built-in model, and a temporary data folder; `shutdown()` stops its worker and removes both. Requests that
/// name no model get sd1 (fast 32×32 images) unless `defaultModel` says otherwise (nil: the server's own
/// default, the built-in model).
final class TestStudio {
    let root: URL
    let studio: Studio

    init(apiKey: String? = nil, queueCapacity: Int = 16, data: URL? = nil, defaultModel: String? = "sd1") throws {
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
        config.defaultModel = defaultModel
        studio = try Studio(config)
    }

    func shutdown(keepData: Bool = false) {
        studio.queue.shutdown(timeout: 30)
        if !keepData { try? FileManager.default.removeItem(at: root) }
    }

    /// Runs the real server on 127.0.0.1 (a free port) for the duration of `body`, then stops it.
    func test(_ body: @escaping @Sendable (TestClient) async throws -> Void) async throws {
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "studio-test")
        logger.logLevel = .warning   // no "server started" line per test
        let app = Application(router: studio.buildRouter(),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in
                                  portSink.yield(channel.localAddress?.port ?? 0)
                                  portSink.finish()
                              },
                              logger: logger)
        // Our own service group, so the end of the test can shut the server down gracefully (a plain task
        // cancellation makes Hummingbird log errors for the listening channel).
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Ends the port stream too when the server fails to start, so the wait below cannot hang.
                defer { portSink.finish() }
                try await services.run()
            }
            var next = ports.makeAsyncIterator()
            guard let port = await next.next(), port > 0 else {
                await services.triggerGracefulShutdown()
                try await group.waitForAll()   // surfaces the server's start-up error
                throw StudioTestError.serverDidNotStart
            }
            do {
                try await body(TestClient(port: port))
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}

enum StudioTestError: Error { case serverDidNotStart, connectionClosedEarly }

/// What the server answered: status, headers, and the whole body (for event streams: everything up to the
/// end of the stream).
struct TestResponse {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: ByteBuffer
}

/// A minimal HTTP/1.1 client over NIO: one connection per request (`Connection: close`), reading the
/// response to its end. It replaces HummingbirdTesting, whose dependencies (AsyncHTTPClient, swift-nio-ssl,
/// BoringSSL) cost CI more build time than all of the project's own code.
struct TestClient: Sendable {
    let port: Int

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields,
                        body: ByteBuffer?) async throws -> TestResponse {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method.rawValue), uri: uri)
        head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
        head.headers.add(name: "Connection", value: "close")
        for field in headers { head.headers.add(name: field.name.rawName, value: field.value) }
        if let body { head.headers.add(name: "Content-Length", value: String(body.readableBytes)) }
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await outbound.write(.head(head))
                    if let body { try await outbound.write(.body(.byteBuffer(body))) }
                    try await outbound.write(.end(nil))
                }
                let response = try await Self.readResponse(inbound)
                // The server may answer before reading the whole body (413) and close: a failed or unfinished
                // write is expected then, and the answer is what the test checks.
                group.cancelAll()
                _ = try? await group.next()
                return response
            }
        }
    }

    private static func readResponse(_ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>)
        async throws -> TestResponse {
        var status: HTTPResponse.Status?
        var fields = HTTPFields()
        var collected = ByteBuffer()
        for try await part in inbound {
            switch part {
            case .head(let response):
                status = HTTPResponse.Status(code: Int(response.status.code))
                for (name, value) in response.headers {
                    if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
                }
            case .body(var chunk):
                collected.writeBuffer(&chunk)
            case .end:
                guard let status else { throw StudioTestError.connectionClosedEarly }
                return TestResponse(status: status, headers: fields, body: collected)
            }
        }
        throw StudioTestError.connectionClosedEarly
    }

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
