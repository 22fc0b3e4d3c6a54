import DiffuseSampling
import Foundation
import XCTest

/// Minimal reader for the float32 safetensors files the fixture scripts write (header length,
/// JSON header, raw little-endian data), so these tests need nothing from DiffuseModels.
struct FixtureTensors {
    private let tensors: [String: Tensor]

    init(_ name: String) throws {
        let data = try Data(contentsOf: fixturesRoot.appendingPathComponent("sampling/\(name)"))
        let headerLength = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var out: [String: Tensor] = [:]
        for (key, value) in header where key != "__metadata__" {
            let entry = value as! [String: Any]
            precondition(entry["dtype"] as? String == "F32", "fixture \(key) is not float32")
            let shape = entry["shape"] as! [Int]
            let offsets = entry["data_offsets"] as! [Int]
            let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
            let values = bytes.withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            out[key] = Tensor(shape: shape, data: values)
        }
        tensors = out
    }

    subscript(_ key: String) -> Tensor {
        guard let t = tensors[key] else { fatalError("fixture tensor \(key) missing; rerun scripts/make_fixtures.py") }
        return t
    }
}

func fixtureJSON<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(contentsOf: fixturesRoot.appendingPathComponent("sampling/\(name)")))
}

/// Largest |a - b| / max(|b|, floor): relative error that does not blow up near zero.
func relativeError(_ a: Tensor, _ b: Tensor, floor: Float = 1) -> Float {
    XCTAssertEqual(a.shape, b.shape)
    var worst: Float = 0
    for i in 0..<min(a.count, b.count) {
        worst = max(worst, abs(a.data[i] - b.data[i]) / max(abs(b.data[i]), floor))
    }
    return worst
}

/// Largest distance in units in the last place between two float32 tensors (0 = bit-identical).
func maxULP(_ a: Tensor, _ b: Tensor) -> Int {
    var worst = 0
    for i in 0..<min(a.count, b.count) {
        let x = Int(Int32(bitPattern: a.data[i].bitPattern)), y = Int(Int32(bitPattern: b.data[i].bitPattern))
        worst = max(worst, abs(x - y))
    }
    return worst
}
