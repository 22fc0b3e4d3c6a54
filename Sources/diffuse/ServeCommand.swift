// `diffuse serve`: the Diffuse Studio HTTP service (native job API, OpenAI and A1111 APIs, gallery, web page).

import ArgumentParser
import Diffuse
import DiffuseStudio
import Foundation

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the job API, the OpenAI / A1111 compatible APIs, the gallery and the web page.",
        discussion: """
        Models are chosen by name: `builtin` (the shapes model inside Diffuse, the default) and each diffusers
        folder or .safetensors file in --models.
        Finished images and the gallery database live in --data. Binds 127.0.0.1 unless --listen is given;
        --listen needs an API key (--api-key or DIFFUSE_API_KEY). Stop with Ctrl-C: queued jobs are cancelled,
        the running one finishes.
        """)

    @Option(help: "Folder of models (diffusers folders and .safetensors files); without it, only the built-in model.")
    var models: String?

    @Option(help: "Model for requests that name none (default: builtin).")
    var defaultModel: String?

    @Option(help: "Folder for the gallery database and images (created if missing).")
    var data: String = "diffuse-data"

    @Option(help: "Address to bind (default 127.0.0.1; --listen uses 0.0.0.0).")
    var host: String?

    @Option(parsing: .unconditional, help: "TCP port (0 = any free port).")
    var port: Int = 7860

    @Flag(help: "Listen on all interfaces (requires an API key).")
    var listen = false

    @Option(help: "API key required on every request (default: the DIFFUSE_API_KEY environment variable).")
    var apiKey: String?

    @Option(parsing: .unconditional, help: "Most jobs waiting in the queue; more get HTTP 429.")
    var queueSize: Int = 16

    @Option(parsing: .unconditional, help: "Most models kept in memory at once.")
    var loadedModels: Int = 2

    @Option(help: "Serve the page from this folder instead of the built-in one.")
    var assets: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Worker threads for generation; default: all cores.")
    var threads: Int?

    func makeConfiguration() throws -> StudioConfiguration {
        var isDir: ObjCBool = false
        if let models, !FileManager.default.fileExists(atPath: models, isDirectory: &isDir) || !isDir.boolValue {
            throw GenerationError("--models \(models) is not a folder (give the folder that holds your models)")
        }
        guard (0...65535).contains(port) else { throw GenerationError("--port must be between 0 and 65535 (got \(port))") }
        guard queueSize >= 1 else { throw GenerationError("--queue-size must be 1 or more (got \(queueSize))") }
        guard loadedModels >= 1 else { throw GenerationError("--loaded-models must be 1 or more (got \(loadedModels))") }
        if let threads, !(1...Parallel.coreCount).contains(threads) {
            throw GenerationError("--threads must be between 1 and \(Parallel.coreCount) (got \(threads))")
        }
        var c = StudioConfiguration(modelsFolder: models.map { URL(fileURLWithPath: $0) }, dataFolder: URL(fileURLWithPath: data))
        c.defaultModel = defaultModel
        c.host = host ?? (listen ? "0.0.0.0" : "127.0.0.1")
        c.port = port
        let key = apiKey ?? ProcessInfo.processInfo.environment["DIFFUSE_API_KEY"]
        c.apiKey = key?.isEmpty == false ? key : nil
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(c.host)
        if !loopback && c.apiKey == nil {
            throw GenerationError("listening on \(c.host) needs an API key: pass --api-key KEY or set DIFFUSE_API_KEY")
        }
        c.queueCapacity = queueSize
        c.loadedModels = loadedModels
        c.assetsFolder = assets.map { URL(fileURLWithPath: $0) }
        return c
    }

    func run() throws {
        let config = try makeConfiguration()
        Parallel.threads = threads ?? Parallel.coreCount
        let studio: Studio
        do { studio = try Studio(config) } catch let e as StudioError where e.param == "model" {
            throw GenerationError("--default-model: \(e.description)")
        } catch { throw GenerationError("server: \(errorLine(error))") }
        // The command is synchronous (ArgumentParser's root is); the server runs on Swift concurrency and NIO.
        let done = DispatchSemaphore(value: 0)
        let failure = ErrorBox()
        Task {
            do {
                try await studio.run { port in
                    // Printed once bound, with the real port (scripts wait for this line).
                    print("Diffuse Studio listening on http://\(config.host):\(port)/  models: builtin\(config.modelsFolder.map { ", " + $0.path } ?? "")  data: \(config.dataFolder.path)")
                    fflush(stdout)
                }
            } catch { failure.error = error }
            done.signal()
        }
        done.wait()
        if let error = failure.error { throw GenerationError("server: \(errorLine(error))") }
    }
}

private final class ErrorBox: @unchecked Sendable {
    var error: Error?
}
