// The two checksums a PNG file carries: CRC-32 (ISO 3309 / ITU-T V.42, the one zlib's crc32() computes) over
// every chunk's type and data, and Adler-32 (RFC 1950) over the uncompressed zlib payload.

/// CRC-32 with the reflected polynomial 0xEDB88320, table-driven one byte at a time.
public struct CRC32: Sendable {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    public mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        var c = state
        Self.table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        state = c
    }

    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    public static func checksum<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var c = CRC32()
        c.update(bytes)
        return c.value
    }
}

/// Adler-32: two running sums modulo 65521, reduced every 5552 bytes (the largest run that cannot overflow
/// 32 bits, as in zlib).
public struct Adler32: Sendable {
    private var a: UInt32 = 1
    private var b: UInt32 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + 5552)
            while i < end { a &+= UInt32(bytes[i]); b &+= a; i += 1 }
            a %= 65521
            b %= 65521
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { update($0) }
    }

    public var value: UInt32 { (b << 16) | a }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var s = Adler32()
        s.update(bytes)
        return s.value
    }
}
