// A minimal synchronous wrapper over the system SQLite C library: one connection, prepared statements,
// transactions. The gallery is the only user; every call holds the connection's lock, so the HTTP handlers
// and the job worker may share it.

import CSQLite
import Foundation

public struct SQLiteError: Error, CustomStringConvertible {
    public let description: String
}

/// SQLITE_TRANSIENT: SQLite copies bound text and blobs before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

public enum SQLValue: Equatable, Sendable {
    case null, int(Int64), double(Double), text(String)

    var text: String? { if case .text(let s) = self { return s } else { return nil } }
    var int: Int64? { if case .int(let v) = self { return v } else { return nil } }
    var double: Double? {
        switch self {
        case .double(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }
}

public final class SQLiteDatabase: @unchecked Sendable {
    private var handle: OpaquePointer?
    private let lock = NSRecursiveLock()
    public let path: String

    public init(path: String) throws {
        self.path = path
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw SQLiteError(description: "cannot open the gallery database \(path): \(message)")
        }
        sqlite3_busy_timeout(handle, 5000)
    }

    deinit { sqlite3_close(handle) }

    private func error(_ what: String) -> SQLiteError {
        SQLiteError(description: "gallery database: \(what): \(String(cString: sqlite3_errmsg(handle)))")
    }

    /// Runs one or more statements without parameters.
    public func execute(_ sql: String) throws {
        try lock.withLock {
            guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else { throw error(sql) }
        }
    }

    /// Runs one statement with positional `?` parameters and returns every row.
    @discardableResult
    public func query(_ sql: String, _ params: [SQLValue] = []) throws -> [[SQLValue]] {
        try lock.withLock {
            var stmt: OpaquePointer?
            guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK else { throw error("prepare") }
            defer { sqlite3_finalize(stmt) }
            for (i, p) in params.enumerated() {
                let index = Int32(i + 1)
                switch p {
                case .null: sqlite3_bind_null(stmt, index)
                case .int(let v): sqlite3_bind_int64(stmt, index, v)
                case .double(let v): sqlite3_bind_double(stmt, index, v)
                case .text(let s): sqlite3_bind_text(stmt, index, s, -1, transient)
                }
            }
            var rows: [[SQLValue]] = []
            while true {
                let rc = sqlite3_step(stmt)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else { throw error("step") }
                rows.append((0..<sqlite3_column_count(stmt)).map { column(stmt, $0) })
            }
            return rows
        }
    }

    private func column(_ stmt: OpaquePointer?, _ i: Int32) -> SQLValue {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, i))
        case SQLITE_NULL: return .null
        default: return .text(sqlite3_column_text(stmt, i).map { String(cString: $0) } ?? "")
        }
    }

    /// Runs `body` inside BEGIN IMMEDIATE … COMMIT; rolls back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            try execute("BEGIN IMMEDIATE")
            do {
                let value = try body()
                try execute("COMMIT")
                return value
            } catch {
                try? execute("ROLLBACK")
                throw error
            }
        }
    }
}
