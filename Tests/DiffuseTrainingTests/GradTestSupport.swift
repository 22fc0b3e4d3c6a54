import DiffuseModels
import Foundation
import XCTest
@testable import DiffuseTraining

/// Tensors of one fixture file by name.
struct FixtureTensors {
    let file: SafeTensorsFile
    init(_ relative: String) throws { file = try SafeTensorsFile(url: fixturesRoot.appendingPathComponent(relative)) }
    subscript(_ name: String) -> Tensor { file.weight(named: name)!.toTensor() }
}

/// Deterministic test tensors.
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = TrainingRNG(seed: seed)
    return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in scale * rng.nextNormal() })
}

/// Σ y·r in Double: the scalar whose gradient with respect to y is r.
func contract(_ y: Tensor, _ r: Tensor) -> Double {
    var s = 0.0
    for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
    return s
}

/// Compares an analytic gradient with central finite differences of `loss` at `samples` coordinates of `x`.
/// The forward runs in float32, so with step h the difference quotient carries ≈ ε_f32·|L| / h rounding error
/// plus O(h²) curvature: callers pass tolerances sized for that (stated at each call).
func assertFiniteDifferences(_ label: String, x: Tensor, analytic: Tensor, h: Float = 1e-2, samples: Int = 16,
                             rtol: Double, atol: Double, loss: (Tensor) -> Double,
                             file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(analytic.shape, x.shape, "\(label): gradient shape", file: file, line: line)
    var rng = TrainingRNG(seed: 77)
    let picks = x.count <= samples ? Array(0..<x.count) : (0..<samples).map { _ in rng.nextInt(x.count) }
    for i in picks {
        var plus = x, minus = x
        plus.data[i] += h
        minus.data[i] -= h
        let fd = (loss(plus) - loss(minus)) / Double(2 * h)
        let a = Double(analytic.data[i])
        XCTAssertLessThanOrEqual(abs(fd - a), atol + rtol * abs(fd), "\(label)[\(i)]: analytic \(a) vs finite difference \(fd)",
                                 file: file, line: line)
    }
}

func assertClose(_ a: Tensor, _ b: Tensor, atol: Float, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(label): shape", file: file, line: line)
    guard a.shape == b.shape else { return }
    let d = a.maxAbsDifference(b)
    XCTAssertLessThanOrEqual(d, atol, "\(label): max |Δ| = \(d)", file: file, line: line)
}
