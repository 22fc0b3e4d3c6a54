import Foundation
import XCTest
@testable import DiffuseModels

final class SHA256Tests: XCTestCase {
    private func digest(_ s: [UInt8]) -> String {
        var h = SHA256()
        h.update(s)
        return SHA256.hex(h.finalize())
    }

    func testKnownVectors() {
        // FIPS 180-4 / NIST examples.
        XCTAssertEqual(digest([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(digest(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testChunkedUpdatesMatchOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var h = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 3, 200, 604] {
            h.update(Array(data[i..<(i + size)]))
            i += size
        }
        XCTAssertEqual(SHA256.hex(h.finalize()), digest(data))
    }

    func testFileHashAndA1111ShortHash() throws {
        let url = try scratchFolder().appendingPathComponent("f.bin.txt")
        try Data("abc".utf8).write(to: url)
        XCTAssertEqual(try a1111ModelHash(ofFileAt: url), "ba7816bf8f")
    }
}
