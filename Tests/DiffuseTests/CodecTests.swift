import XCTest
@testable import Diffuse

/// CRC-32, Adler-32, inflate of CPython-zlib streams, and deflate round trips.
final class CodecTests: XCTestCase {
    let pngDir = fixturesRoot.appendingPathComponent("png")

    func testChecksumKnownVectors() {
        // The standard check values: CRC-32 of "123456789" (the catalogue's `check`), Adler-32 of "Wikipedia".
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        XCTAssertEqual(Adler32.checksum(Array("Wikipedia".utf8)), 0x11E6_0398)
        XCTAssertEqual(Adler32.checksum([]), 1)
        // Long input crosses Adler's 5552-byte reduction boundary many times; all 0xFF is the worst case.
        var a = Adler32()
        a.update([UInt8](repeating: 0xFF, count: 100_000))
        XCTAssertEqual(a.value, 0x149A_302C)   // zlib.adler32(b"\xff" * 100000)
    }

    private func payloadExpectation() throws -> (size: Int, adler: UInt32, crc: UInt32) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: pngDir.appendingPathComponent("payload.json"))) as! [String: Any]
        return ((json["size"] as! NSNumber).intValue, (json["adler32"] as! NSNumber).uint32Value, (json["crc32"] as! NSNumber).uint32Value)
    }

    func testInflateZlibStreams() throws {
        let want = try payloadExpectation()
        // level 9 and 1 (dynamic blocks), level 0 (stored blocks, > 65535 bytes so several), Z_FIXED (fixed codes).
        for name in ["payload.bin", "payload-level1.zz", "payload-stored.zz", "payload-fixed.zz"] {
            let data = try [UInt8](Data(contentsOf: pngDir.appendingPathComponent(name)))
            let out = try Inflate.zlib(data)
            XCTAssertEqual(out.count, want.size, name)
            XCTAssertEqual(Adler32.checksum(out), want.adler, name)
            XCTAssertEqual(CRC32.checksum(out), want.crc, name)
        }
    }

    func testInflateRejectsCorruptData() throws {
        let good = try [UInt8](Data(contentsOf: pngDir.appendingPathComponent("payload.bin")))
        XCTAssertThrowsError(try Inflate.zlib(Array(good.prefix(good.count / 2))))   // truncated
        var badSum = good
        badSum[badSum.count - 1] ^= 1
        XCTAssertThrowsError(try Inflate.zlib(badSum)) { XCTAssertEqual("\($0)", "zlib checksum mismatch (corrupt file)") }
        XCTAssertThrowsError(try Inflate.zlib([0x78, 0x9D, 0, 0, 0, 0])) { XCTAssertEqual("\($0)", "zlib stream has a bad header (corrupt file)") }
        XCTAssertThrowsError(try Inflate.zlib(good, limit: 100))   // more output than the caller allows
    }

    func testDeflateRoundTrips() throws {
        var g = SystemRandomNumberGenerator()
        let text = Array(String(repeating: "Steps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 1234\n", count: 300).utf8)
        let random = (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &g) }
        let skewed = (0..<80_000).map { _ in UInt8(min(255, Int(abs(Double.random(in: -1...1, using: &g)) * 12))) }
        let cases: [(String, [UInt8])] = [
            ("empty", []), ("one byte", [42]), ("zeros", [UInt8](repeating: 0, count: 200_000)),
            ("text", text), ("random", random), ("skewed", skewed), ("mixed", text + random + text),
        ]
        for (name, data) in cases {
            for level in [Deflate.Level.fast, .standard, .best] {
                let z = Deflate.zlib(data, level: level)
                XCTAssertEqual(try Inflate.zlib(z), data, name)
            }
        }
        // Compression must be real: repetitive text shrinks a lot, zeros almost vanish, random data barely grows
        // (stored blocks cost 5 bytes per 64 KiB, plus 6 bytes of zlib framing).
        XCTAssertLessThan(Deflate.zlib(text).count, text.count / 20)
        XCTAssertLessThan(Deflate.zlib([UInt8](repeating: 0, count: 200_000)).count, 500)
        XCTAssertLessThanOrEqual(Deflate.zlib(random).count, random.count + 11)
        // Skewed bytes have no repeats worth matching; only dynamic Huffman codes can shrink them (entropy ≈ 3.6 bits).
        XCTAssertLessThan(Deflate.zlib(skewed).count, skewed.count * 6 / 10)
    }

    func testHuffmanLengthsAreLimitedAndComplete() {
        // Fibonacci frequencies give the deepest possible tree; the limit must still hold and the code stay complete.
        var fib = [1, 1]
        while fib.count < 30 { fib.append(fib[fib.count - 1] + fib[fib.count - 2]) }
        for limit in [7, 15] {
            let lengths = Deflate.huffmanLengths(fib, limit: limit)
            XCTAssertLessThanOrEqual(lengths.max()!, limit)
            let kraft = lengths.filter { $0 > 0 }.reduce(0.0) { $0 + pow(2.0, -Double($1)) }
            XCTAssertEqual(kraft, 1.0, accuracy: 1e-12)   // exact: sums of powers of two
        }
    }
}
