// Diffuse Studio: the shared state of the service (models, gallery, queue, settings) and the Hummingbird
// application that serves the native job API, the OpenAI and A1111 compatible APIs, the gallery and the page.

import DiffuseTraining
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

public struct StudioConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 7860
    /// nil: only the built-in model.
    public var modelsFolder: URL?
    public var dataFolder: URL
    /// The model for requests that name none (nil: the built-in one, else the folder's first).
    public var defaultModel: String?
    /// The bundled shapes model served as `builtin`; nil leaves it out.
    public var builtinModel: URL? = BuiltinModel.bundledURL
    /// Required on every request when set (and `--listen` refuses to start without one).
    public var apiKey: String?
    public var queueCapacity = 16
    public var loadedModels = 2
    public var limits = ServerLimits()
    /// Static files of the page; nil = the ones built into the binary.
    public var assetsFolder: URL?

    public init(modelsFolder: URL?, dataFolder: URL) {
        self.modelsFolder = modelsFolder
        self.dataFolder = dataFolder
    }
}

/// Request context with a body limit large enough for an img2img upload (a 2048² PNG in base64).
public struct StudioContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
    public var maxUploadSize: Int { 32 * 1024 * 1024 }
}

public final class Studio: @unchecked Sendable {
    public let config: StudioConfiguration
    public let models: ModelStore
    public let gallery: Gallery
    public let queue: JobQueue
    let listingCache = ListingCache()
    private let lock = NSLock()
    private var _defaultModel: String?

    public init(_ config: StudioConfiguration) throws {
        self.config = config
        models = ModelStore(folder: config.modelsFolder, capacity: config.loadedModels, builtinURL: config.builtinModel)
        if let name = config.defaultModel { _defaultModel = try models.resolve(name).name }
        gallery = try Gallery(dataFolder: config.dataFolder)
        let runner = JobRunner(models: models, gallery: gallery)
        queue = JobQueue(capacity: config.queueCapacity) { runner.run($0) }
    }

    /// The model used when a request names none (A1111's `sd_model_checkpoint` option).
    public var defaultModel: String? {
        get { lock.withLock { _defaultModel } }
        set { lock.withLock { _defaultModel = newValue } }
    }

    /// Validates and queues a job.
    public func submit(_ parameters: JobParameters) throws -> Job {
        let spec = try parameters.validated(models: models, defaultModel: defaultModel, limits: config.limits)
        return try queue.submit(spec)
    }

    public func snapshot(_ job: Job) -> JobSnapshot {
        var s = job.snapshot
        s.queuePosition = queue.position(of: job)
        return s
    }

    public func buildRouter() -> Router<StudioContext> {
        let router = Router(context: StudioContext.self)
        router.add(middleware: SecurityMiddleware(apiKey: config.apiKey))
        addNativeRoutes(to: router)
        addGalleryRoutes(to: router)
        addOpenAIRoutes(to: router)
        addA1111Routes(to: router)
        addStaticRoutes(to: router)
        return router
    }

    /// `onRunning` gets the bound port (useful with port 0).
    public func buildApplication(onRunning: @escaping @Sendable (Int) -> Void = { _ in }) -> some ApplicationProtocol {
        var logger = Logger(label: "diffuse")
        logger.logLevel = .warning
        return Application(router: buildRouter(),
                           configuration: .init(address: .hostname(config.host, port: config.port), serverName: "diffuse"),
                           onServerRunning: { channel in onRunning(channel.localAddress?.port ?? 0) },
                           logger: logger)
    }

    /// Serves until SIGINT/SIGTERM, then stops taking jobs, lets the running one finish and returns.
    public func run(onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        try await buildApplication(onRunning: onRunning).runService()
        queue.shutdown()
    }
}

// MARK: Response helpers

enum Reply {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()

    static func data(_ data: Data, status: HTTPResponse.Status = .ok, type: String = "application/json",
                     headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = type
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        data(try encoder.encode(value), status: status)
    }

    static func object(_ object: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let d = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return data(d, status: status, headers: headers)
    }

    /// The request body as JSON of type T; a malformed body is a 400 naming the problem.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: StudioContext,
                                     decoder: JSONDecoder = Reply.decoder) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw StudioError(.contentTooLarge, "the request body is larger than \(context.maxUploadSize / 1024 / 1024) MiB")
        }
        let bytes = Data(buffer.readableBytesView)
        do {
            return try decoder.decode(T.self, from: bytes.isEmpty ? Data("{}".utf8) : bytes)
        } catch let DecodingError.keyNotFound(key, _) {
            throw StudioError(.badRequest, "missing field '\(key.stringValue.snakeCased)'", param: key.stringValue.snakeCased)
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            let field = ctx.codingPath.map { $0.stringValue.snakeCased }.joined(separator: ".")
            throw StudioError(.badRequest, "field '\(field)' has the wrong type", param: field)
        } catch {
            throw StudioError(.badRequest, "the request body is not valid JSON")
        }
    }
}

extension String {
    var snakeCased: String {
        var out = ""
        for ch in self {
            if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }
}

extension HTTPField.Name {
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    static let xAPIKey = HTTPField.Name("X-API-Key")!
}

/// A value for JSONSerialization: the value, or JSON null.
func orNull<T>(_ value: T?) -> Any { value.map { $0 as Any } ?? NSNull() }
