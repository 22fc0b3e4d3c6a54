// The gallery API (list, search, one entry, delete) and the page's static files.

import Foundation
import HTTPTypes
import Hummingbird

/// A gallery row on the wire: GalleryEntry's Codable fields (snake_case) plus its image URL. Encoded with
/// JSONEncoder: JSONSerialization took 10 ms for a 50-row listing, JSONEncoder 0.8 ms.
struct GalleryRow: Encodable {
    let entry: GalleryEntry

    enum Key: String, CodingKey { case url }

    func encode(to encoder: Encoder) throws {
        try entry.encode(to: encoder)
        var c = encoder.container(keyedBy: Key.self)
        try c.encode("/api/images/\(entry.id).png", forKey: .url)
    }
}

struct GalleryListing: Encodable {
    let images: [GalleryRow]
    let total: Int
}

/// Encoded listings by query, valid while the gallery's version is the one they were made at: between two
/// finished images every client polling the gallery gets the same bytes, so only the first one pays for the
/// query and the encoding.
final class ListingCache: @unchecked Sendable {
    private let lock = NSLock()
    private var version = -1
    private var listings: [String: Data] = [:]
    static let maxEntries = 64

    func get(_ key: String, version: Int) -> Data? {
        lock.withLock { self.version == version ? listings[key] : nil }
    }

    func put(_ key: String, _ data: Data, version: Int) {
        lock.withLock {
            if version < self.version { return }   // made before a write another request has already seen
            if version > self.version { listings.removeAll(); self.version = version }
            if listings.count >= Self.maxEntries { listings.removeAll() }
            listings[key] = data
        }
    }
}

extension Studio {
    func addGalleryRoutes(to router: Router<StudioContext>) {
        router.get("/api/gallery") { request, _ in
            await Self.guarded {
                let q = request.uri.queryParameters
                let limit = q["limit"].flatMap { Int(String($0)) } ?? 50
                let offset = q["offset"].flatMap { Int(String($0)) } ?? 0
                guard (1...500).contains(limit), offset >= 0 else {
                    throw StudioError(.badRequest, "limit must be between 1 and 500 and offset 0 or more", param: "limit")
                }
                let search = q["q"].map(String.init)
                let key = "\(limit) \(offset) \(search ?? "")"
                // Read before the query: a write during it leaves this listing tagged with the old version.
                let version = self.gallery.version
                if let cached = self.listingCache.get(key, version: version) { return Reply.data(cached) }
                let entries = try self.gallery.list(search: search, limit: limit, offset: offset)
                let data = try Reply.encoder.encode(GalleryListing(images: entries.map(GalleryRow.init),
                                                                   total: try self.gallery.count()))
                self.listingCache.put(key, data, version: version)
                return Reply.data(data)
            }
        }
        router.get("/api/gallery/:id") { _, context in
            await Self.guarded {
                let id = context.parameters.get("id") ?? ""
                guard Gallery.isValidID(id), let e = try self.gallery.get(id: id) else {
                    throw StudioError(.notFound, "no image with id '\(id)'")
                }
                return try Reply.json(GalleryRow(entry: e))
            }
        }
        router.delete("/api/gallery/:id") { _, context in
            await Self.guarded {
                let id = context.parameters.get("id") ?? ""
                guard Gallery.isValidID(id), try self.gallery.delete(id: id) else {
                    throw StudioError(.notFound, "no image with id '\(id)'")
                }
                return Reply.object(["deleted": id])
            }
        }
    }

    /// The page's folder: `--assets DIR`, else the resource bundle SwiftPM puts next to the executable, else the
    /// source tree this was built from. (Not `Bundle.module`: on Linux it traps when the bundle is missing.)
    var assetsFolder: URL? {
        if let folder = config.assetsFolder { return folder }
        let bundle = "Diffuse_DiffuseStudio.resources/web"
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        let candidates = [Bundle.main.bundleURL.appendingPathComponent(bundle),
                          executable.deletingLastPathComponent().appendingPathComponent(bundle),
                          URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/web")]
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("index.html").path) }
    }

    static let mediaTypes = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
                             "css": "text/css; charset=utf-8", "png": "image/png", "svg": "image/svg+xml"]

    /// Only plain names of files directly in the assets folder are served (no paths, no hidden files).
    func addStaticRoutes(to router: Router<StudioContext>) {
        let serve: @Sendable (String) async -> Response = { name in
            await Self.guarded {
                let ext = (name as NSString).pathExtension
                guard !name.hasPrefix("."), name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }),
                      let type = Self.mediaTypes[ext], let folder = self.assetsFolder,
                      let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else {
                    throw StudioError(.notFound, "no such file")
                }
                var headers = HTTPFields()
                headers[.cacheControl] = "no-cache"
                headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'"
                headers[.xContentTypeOptions] = "nosniff"
                return Reply.data(data, type: type, headers: headers)
            }
        }
        router.get("/") { _, _ in await serve("index.html") }
        router.get("/assets/:file") { _, context in await serve(context.parameters.get("file") ?? "") }
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
}
