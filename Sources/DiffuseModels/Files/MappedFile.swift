import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory. Weights that point into the map hold this object as their
/// owner, so the map lives exactly as long as any of them (or the file object) does.
public final class MappedFile: WeightOwner, @unchecked Sendable {
    public let url: URL
    /// Number of bytes in the file.
    public let count: Int
    // nil only for an empty file (mmap refuses length 0).
    private let base: UnsafeRawPointer?

    public init(url: URL) throws {
        self.url = url
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw ModelFileError("\(url.path): cannot open (\(reason)); check the path and its permissions")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ModelFileError("\(url.path): cannot read its size (\(String(cString: strerror(errno))))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ModelFileError("\(url.path): is not a regular file; pass the model file itself")
        }
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw ModelFileError("\(url.path): cannot memory-map it (\(String(cString: strerror(errno))))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// All bytes of the file; valid while this object is alive.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
