// The gallery: every finished image as a PNG file under <data>/images plus one row in <data>/gallery.sqlite.
// Crash safety (kill -9, power loss): the PNG is written to a temporary name, fsynced and renamed into place
// before its row is inserted, and the database runs in WAL mode with synchronous=FULL, so a committed row
// always has its file and an interrupted write leaves at most an orphan temporary file (removed at start) or
// a finished PNG without its row (given its row back at start from its `parameters` chunk).

import Diffuse
import Foundation

/// One stored image with everything needed to make it again.
public struct GalleryEntry: Codable, Equatable, Sendable {
    public var id: String
    public var jobId: String
    /// Unix seconds when the image was finished.
    public var created: Double
    /// Seconds the generation of this image took (model loading excluded).
    public var duration: Double
    public var prompt: String
    public var negativePrompt: String
    public var model: String
    public var modelHash: String
    public var seed: UInt64
    public var steps: Int
    public var cfgScale: Double
    public var sampler: String
    public var width: Int
    public var height: Int
    public var strength: Double?
    /// The A1111 `parameters` text stored in the PNG.
    public var infotext: String
}

public final class Gallery: @unchecked Sendable {
    public let folder: URL
    public let imagesFolder: URL
    let db: SQLiteDatabase
    /// Images found on start without a row (the server died between file and row) and given one again.
    public private(set) var recoveredOrphans = 0
    private let versionLock = NSLock()
    private var _version = 0
    /// Changes with every added or deleted row: what a cached listing is checked against.
    public var version: Int { versionLock.withLock { _version } }

    public init(dataFolder: URL) throws {
        folder = dataFolder
        imagesFolder = dataFolder.appendingPathComponent("images")
        do {
            try FileManager.default.createDirectory(at: imagesFolder, withIntermediateDirectories: true)
        } catch {
            throw SQLiteError(description: "cannot create the data folder \(imagesFolder.path): \(error.localizedDescription)")
        }
        db = try SQLiteDatabase(path: dataFolder.appendingPathComponent("gallery.sqlite").path)
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        try db.execute("""
            CREATE TABLE IF NOT EXISTS images (
              id TEXT PRIMARY KEY, job_id TEXT NOT NULL, created REAL NOT NULL, duration REAL NOT NULL,
              prompt TEXT NOT NULL, negative_prompt TEXT NOT NULL, model TEXT NOT NULL, model_hash TEXT NOT NULL,
              seed INTEGER NOT NULL, steps INTEGER NOT NULL, cfg_scale REAL NOT NULL, sampler TEXT NOT NULL,
              width INTEGER NOT NULL, height INTEGER NOT NULL, strength REAL, infotext TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS images_created ON images(created);
            """)
        removeTemporaryFiles()
        recoveredOrphans = try reimportOrphans()
    }

    /// Where an image's PNG lives; nil for ids the server never makes (keeps paths inside the folder).
    public func fileURL(id: String) -> URL? {
        guard Self.isValidID(id) else { return nil }
        return imagesFolder.appendingPathComponent("\(id).png")
    }

    /// Ids are lowercase UUIDs: hex digits and dashes only.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64 && id.allSatisfy { $0 == "-" || $0.isHexDigit && !$0.isUppercase }
    }

    /// Stores the PNG durably, then the row. Throws if either fails (the file is removed if the row fails).
    public func add(_ entry: GalleryEntry, png: [UInt8]) throws {
        guard let url = fileURL(id: entry.id) else { throw SQLiteError(description: "invalid image id \(entry.id)") }
        try Self.writeDurably(png, to: url)
        do {
            try insert(entry)
        } catch {
            try? FileManager.default.removeItem(at: url)
            throw error
        }
    }

    func insert(_ entry: GalleryEntry) throws {
        try db.transaction {
            try db.query("""
                INSERT INTO images (id, job_id, created, duration, prompt, negative_prompt, model, model_hash,
                  seed, steps, cfg_scale, sampler, width, height, strength, infotext)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(entry.id), .text(entry.jobId), .double(entry.created), .double(entry.duration),
                      .text(entry.prompt), .text(entry.negativePrompt), .text(entry.model), .text(entry.modelHash),
                      .int(Int64(bitPattern: entry.seed)), .int(Int64(entry.steps)), .double(entry.cfgScale),
                      .text(entry.sampler), .int(Int64(entry.width)), .int(Int64(entry.height)),
                      entry.strength.map { .double($0) } ?? .null, .text(entry.infotext)])
        }
        versionLock.withLock { _version += 1 }
    }

    /// Newest first. `search` matches prompt text (case-insensitive for ASCII, as SQLite's LIKE).
    public func list(search: String? = nil, limit: Int = 50, offset: Int = 0) throws -> [GalleryEntry] {
        var sql = "SELECT \(Self.columns) FROM images"
        var params: [SQLValue] = []
        if let search, !search.isEmpty {
            sql += " WHERE prompt LIKE ? ESCAPE '\\'"
            let escaped = search.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            params.append(.text("%\(escaped)%"))
        }
        sql += " ORDER BY created DESC, id LIMIT ? OFFSET ?"
        params += [.int(Int64(limit)), .int(Int64(offset))]
        return try db.query(sql, params).compactMap(Self.entry)
    }

    public func get(id: String) throws -> GalleryEntry? {
        try db.query("SELECT \(Self.columns) FROM images WHERE id = ?", [.text(id)]).first.flatMap(Self.entry)
    }

    public func count() throws -> Int {
        Int(try db.query("SELECT count(*) FROM images").first?.first?.int ?? 0)
    }

    /// Removes the row, then the file. Returns false when there was no such image.
    @discardableResult
    public func delete(id: String) throws -> Bool {
        let existed = try db.transaction { () -> Bool in
            let found = try db.query("SELECT id FROM images WHERE id = ?", [.text(id)]).isEmpty == false
            try db.query("DELETE FROM images WHERE id = ?", [.text(id)])
            return found
        }
        if existed { versionLock.withLock { _version += 1 } }
        if existed, let url = fileURL(id: id) { try? FileManager.default.removeItem(at: url) }
        return existed
    }

    static let columns = "id, job_id, created, duration, prompt, negative_prompt, model, model_hash, seed, steps, cfg_scale, sampler, width, height, strength, infotext"

    static func entry(_ r: [SQLValue]) -> GalleryEntry? {
        guard r.count == 16, let id = r[0].text, let job = r[1].text, let created = r[2].double,
              let duration = r[3].double, let prompt = r[4].text, let negative = r[5].text, let model = r[6].text,
              let hash = r[7].text, let seed = r[8].int, let steps = r[9].int, let cfg = r[10].double,
              let sampler = r[11].text, let w = r[12].int, let h = r[13].int, let info = r[15].text else { return nil }
        return GalleryEntry(id: id, jobId: job, created: created, duration: duration, prompt: prompt,
                            negativePrompt: negative, model: model, modelHash: hash, seed: UInt64(bitPattern: seed),
                            steps: Int(steps), cfgScale: cfg, sampler: sampler, width: Int(w), height: Int(h),
                            strength: r[14].double, infotext: info)
    }

    /// Temporary file → fsync → rename → fsync of the folder: the name appears only with complete contents.
    static func writeDurably(_ bytes: [UInt8], to url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SQLiteError(description: "cannot write \(tmp.path): \(String(cString: strerror(errno)))") }
        var ok = bytes.withUnsafeBytes { buf -> Bool in
            var done = 0
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp.path, url.path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(tmp.path)
            throw SQLiteError(description: "cannot write \(url.path): \(message)")
        }
        let dir = open(url.deletingLastPathComponent().path, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }

    private func removeTemporaryFiles() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: imagesFolder.path)) ?? []
        for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            try? FileManager.default.removeItem(at: imagesFolder.appendingPathComponent(name))
        }
    }
}
