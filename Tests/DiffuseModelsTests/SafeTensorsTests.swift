import Foundation
import XCTest
@testable import DiffuseModels

extension XCTestCase {
    /// A fresh scratch folder, removed when the test ends.
    func scratchFolder(_ name: String = #function) throws -> URL {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("diffuse-files-tests-\(getpid())").appendingPathComponent(safe)
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        return url
    }
}

/// Writes a file made of an 8-byte length, `header` as given, and `data` bytes — for crafting corrupt files.
func writeRaw(header: String, data: [UInt8], to url: URL, lengthOverride: UInt64? = nil) throws {
    let h = Array(header.utf8)
    var length = (lengthOverride ?? UInt64(h.count)).littleEndian
    var bytes = [UInt8](Data(bytes: &length, count: 8))
    bytes += h + data
    try Data(bytes).write(to: url)
}

final class SafeTensorsTests: XCTestCase {
    func testRoundTripAllDtypesWithMetadata() throws {
        let dir = try scratchFolder()
        let url = dir.appendingPathComponent("m.safetensors")
        let a = Tensor(shape: [2, 3], data: [1, -2, 3.5, 0, 1e-3, -65504])
        let b = Tensor(shape: [3], data: [0.1, 0.2, 0.3])
        let c = Tensor(shape: [], data: [7])
        let weights: [(String, Weight)] = [
            ("a", SafeTensorsWriter.weight(a, as: .f32)), ("b", SafeTensorsWriter.weight(b, as: .f16)),
            ("c/odd \"name\"", SafeTensorsWriter.weight(c, as: .bf16)),
            ("empty", SafeTensorsWriter.weight(Tensor(zeros: [0, 4]), as: .f32)),
        ]
        try SafeTensorsWriter.write(tensors: weights, metadata: ["format": "pt", "k": "v\n"], to: url)
        let f = try SafeTensorsFile(url: url)
        XCTAssertEqual(f.metadata, ["format": "pt", "k": "v\n"])
        XCTAssertEqual(Set(f.names), ["a", "b", "c/odd \"name\"", "empty"])
        XCTAssertEqual(f.dataOffset % 8, 0, "the writer pads the header so data starts 8-byte aligned")
        // f32 is exact; f16 has an 11-bit significand (relative error ≤ 2^-11), bf16 an 8-bit one (≤ 2^-8).
        XCTAssertEqual(f.weight(named: "a")!.toTensor(), a)
        let wb = f.weight(named: "b")!
        XCTAssertEqual(wb.dtype, .f16)
        for i in 0..<3 { XCTAssertEqual(wb[i], b.data[i], accuracy: abs(b.data[i]) / 2048) }
        let wc = f.weight(named: "c/odd \"name\"")!
        XCTAssertEqual(wc.dtype, .bf16)
        XCTAssertEqual(wc.shape, [])
        XCTAssertEqual(wc[0], 7)
        XCTAssertEqual(f.weight(named: "empty")!.shape, [0, 4])
        XCTAssertNil(f.weight(named: "missing"))
    }

    func testWeightsPointIntoTheMapAndKeepItAlive() throws {
        let dir = try scratchFolder()
        let url = dir.appendingPathComponent("m.safetensors")
        let t = Tensor(shape: [4], data: [1, 2, 3, 4])
        try SafeTensorsWriter.write(tensors: [("t", t)], to: url)
        var w: Weight?
        do {
            let f = try SafeTensorsFile(url: url)
            w = f.weight(named: "t")
            let mapStart = f.file.bytes.baseAddress!
            XCTAssertEqual(w!.base, UnsafeRawPointer(mapStart + f.dataOffset), "no copy: the weight is a view of the map")
        }
        // The file object is gone; the weight must still read valid memory.
        XCTAssertEqual(w!.toTensor(), t)
    }

    func testBF16Rounding() {
        // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to even (1).
        XCTAssertEqual(floatToBFloat16(1 + 1.0 / 256), 0x3F80)
        XCTAssertEqual(floatToBFloat16(1 + 3.0 / 256), 0x3F82)
        XCTAssertTrue(Float(bitPattern: UInt32(floatToBFloat16(.nan)) << 16).isNaN)
    }

    func testHeaderPaddedWithSpacesIsAccepted() throws {
        let url = try scratchFolder().appendingPathComponent("p.safetensors")
        try writeRaw(header: #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   "#, data: [0, 0, 128, 63], to: url)
        XCTAssertEqual(try SafeTensorsFile(url: url).weight(named: "t")?[0], 1)
    }

    func testNonFloatDtypeIsListedButRefusedByName() throws {
        let url = try scratchFolder().appendingPathComponent("i.safetensors")
        try writeRaw(header: #"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8), to: url)
        let f = try SafeTensorsFile(url: url)
        XCTAssertEqual(f.info(named: "ids")?.dtypeName, "I64")
        XCTAssertNil(f.weight(named: "ids"))
        XCTAssertThrowsError(try f.requireWeight(named: "ids")) { e in
            XCTAssertTrue("\(e)".contains("dtype I64"), "\(e)")
        }
    }

    func testWriterRefusesDuplicateNames() throws {
        let url = try scratchFolder().appendingPathComponent("d.safetensors")
        let t = Tensor(shape: [1], data: [1])
        XCTAssertThrowsError(try SafeTensorsWriter.write(tensors: [("x", t), ("x", t)], to: url))
    }
}

/// Each corrupt file must be refused with an error naming the file and the problem.
final class SafeTensorsCorruptionTests: XCTestCase {
    private func assertRefused(header: String, data: [UInt8], lengthOverride: UInt64? = nil,
                               mentions expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try scratchFolder(expected).appendingPathComponent("bad.safetensors")
        try writeRaw(header: header, data: data, to: url, lengthOverride: lengthOverride)
        XCTAssertThrowsError(try SafeTensorsFile(url: url), file: file, line: line) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains(url.path), "error should name the file: \(text)", file: file, line: line)
            XCTAssertTrue(text.contains(expected), "expected \"\(expected)\" in: \(text)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "one line", file: file, line: line)
        }
    }

    private let f32x1 = #"{"dtype":"F32","shape":[1],"data_offsets":"#

    func testTruncatedBelowEightBytes() throws {
        let url = try scratchFolder().appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: url)
        XCTAssertThrowsError(try SafeTensorsFile(url: url)) { XCTAssertTrue("\($0)".contains("only 3 bytes"), "\($0)") }
    }

    func testHeaderLengthTooLarge() throws {
        try assertRefused(header: "{}", data: [], lengthOverride: 100_000_001, mentions: "exceeds the 100 MB limit")
    }

    func testHeaderLengthBeyondFile() throws {
        try assertRefused(header: "{}", data: [], lengthOverride: 50, mentions: "runs past the end of the file")
    }

    func testHeaderNotJSON() throws {
        try assertRefused(header: #"{"a": nope}"#, data: [], mentions: "not valid JSON")
        try assertRefused(header: "[1,2]", data: [], mentions: "does not start with '{'")
    }

    func testNulPaddingIsRefused() throws {
        try assertRefused(header: "{}\0\0", data: [], mentions: "NUL padding")
    }

    func testDuplicateTensorName() throws {
        let h = #"{"x":\#(f32x1)[0,4]},"x":\#(f32x1)[4,8]}}"#
        try assertRefused(header: h, data: [UInt8](repeating: 0, count: 8), mentions: "duplicate key \"x\"")
    }

    func testUnknownDtype() throws {
        try assertRefused(header: #"{"x":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#,
                          data: [0, 0, 0, 0], mentions: "unknown dtype \"F33\"")
    }

    func testNonStringMetadata() throws {
        try assertRefused(header: #"{"__metadata__":{"steps":5}}"#, data: [], mentions: "metadata values must be strings")
    }

    func testShapeSizeMismatch() throws {
        try assertRefused(header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                          data: [0, 0, 0, 0], mentions: "= 8 bytes but data_offsets span 4 bytes")
    }

    func testBeginAfterEnd() throws {
        try assertRefused(header: #"{"x":\#(f32x1)[4,0]}}"#, data: [0, 0, 0, 0], mentions: "begin > end")
    }

    func testOverlappingTensors() throws {
        let h = #"{"x":\#(f32x1)[0,4]},"y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        try assertRefused(header: h, data: [UInt8](repeating: 0, count: 8), mentions: "overlaps")
    }

    func testGapBetweenTensors() throws {
        let h = #"{"x":\#(f32x1)[0,4]},"y":\#(f32x1)[8,12]}}"#
        try assertRefused(header: h, data: [UInt8](repeating: 0, count: 12), mentions: "gap of 4 bytes")
    }

    func testOffsetsBeyondBuffer() throws {
        try assertRefused(header: #"{"x":\#(f32x1)[0,4]}}"#, data: [0, 0], mentions: "past its end")
    }

    func testTrailingBytesNotDescribed() throws {
        try assertRefused(header: #"{"x":\#(f32x1)[0,4]}}"#, data: [UInt8](repeating: 0, count: 6),
                          mentions: "2 bytes after the last tensor")
    }

    func testNegativeShapeAndBadOffsets() throws {
        try assertRefused(header: #"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                          data: [0, 0, 0, 0], mentions: "no valid shape")
        try assertRefused(header: #"{"x":\#(f32x1)[0]}}"#, data: [], mentions: "no valid data_offsets")
    }

    func testPickleCheckpointsAreRefused() throws {
        let dir = try scratchFolder()
        let zip = dir.appendingPathComponent("model.safetensors")   // a torch zip renamed: caught by magic
        try Data([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 0, 0]).write(to: zip)
        let pickle = dir.appendingPathComponent("weights.data")
        try Data([0x80, 0x02, 0x7D, 0x71, 0x00, 0x2E, 0, 0, 0]).write(to: pickle)
        let ckpt = dir.appendingPathComponent("model.ckpt")
        try Data(repeating: 0, count: 16).write(to: ckpt)
        for url in [zip, pickle, ckpt] {
            XCTAssertThrowsError(try SafeTensorsFile(url: url)) { e in
                XCTAssertTrue("\(e)".contains("is a PyTorch pickle checkpoint; convert it to .safetensors first"), "\(e)")
            }
        }
    }
}
