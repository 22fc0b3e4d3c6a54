import Foundation
import XCTest
@testable import DiffuseModels

// Loading the tiny fixture models (Tests/Fixtures/<sd1|sd2>/, diffusers layout) and the outputs diffusers
// computed for them (Tests/Fixtures/expected/<name>/, written by scripts/fixtures/models.py).

enum NetworkFixtures {
    static func folder(_ model: String) -> URL { fixturesRoot.appendingPathComponent(model) }
    static func expected(_ model: String) -> URL {
        fixturesRoot.appendingPathComponent("expected").appendingPathComponent(model)
    }

    /// Every tensor of a safetensors file as weights (pointing into the mapped file).
    static func weights(_ url: URL) throws -> [String: Weight] {
        let file = try SafeTensorsFile(url: url)
        var out: [String: Weight] = [:]
        for name in file.names { out[name] = try file.requireWeight(named: name) }
        return out
    }

    static func componentWeights(_ model: String, _ part: String) throws -> [String: Weight] {
        let file = part == "text_encoder" ? "model.safetensors" : "diffusion_pytorch_model.safetensors"
        return try weights(folder(model).appendingPathComponent(part).appendingPathComponent(file))
    }

    static func expectedTensors(_ model: String, _ name: String) throws -> [String: Tensor] {
        try weights(expected(model).appendingPathComponent("\(name).safetensors")).mapValues { $0.toTensor() }
    }

    static func components(_ model: String) throws -> [String: Any] {
        let data = try Data(contentsOf: expected(model).appendingPathComponent("components.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// Asserts equal shapes and max |a − b| ≤ tol; returns the measured error (printed for the report).
@discardableResult
func assertClose(_ got: Tensor, _ want: Tensor, tol: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) -> Float {
    XCTAssertEqual(got.shape, want.shape, "\(what): shape", file: file, line: line)
    guard got.shape == want.shape else { return .infinity }
    let err = got.maxAbsDifference(want)
    print("\(what): max abs error \(err) (max |value| \(want.maxAbs))")
    XCTAssertLessThanOrEqual(err, tol, "\(what): max abs error \(err) > \(tol)", file: file, line: line)
    XCTAssertFalse(got.data.contains { !$0.isFinite }, "\(what): non-finite output", file: file, line: line)
    return err
}
