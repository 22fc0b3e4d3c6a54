import Foundation
import XCTest
@testable import DiffuseModels

// Hand-checkable pieces: strict weight loading, the timestep embedding, padding and resizing, input checks.
final class NetworkBlockTests: XCTestCase {
    private func weight(_ shape: [Int]) -> Weight { Weight(Tensor(zeros: shape)) }

    func testWeightStoreTakesExactShapesAndReportsProblems() throws {
        let store = WeightStore(["a.weight": weight([2, 3]), "a.bias": weight([2]), "extra": weight([1])], owner: "Test")
        XCTAssertEqual(try store.take("a.weight", shape: [2, 3]).shape, [2, 3])
        XCTAssertThrowsError(try store.take("a.bias", shape: [3])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("'a.bias'") && text.contains("[2]") && text.contains("[3]"), text)
        }
        XCTAssertThrowsError(try store.take("b.weight", shape: [4])) { error in
            XCTAssertTrue("\(error)".contains("'b.weight'") && "\(error)".contains("missing"), "\(error)")
        }
        XCTAssertThrowsError(try store.finish()) { error in
            // a.bias was never taken successfully, and extra not at all.
            XCTAssertTrue("\(error)".contains("a.bias, extra"), "\(error)")
        }
        _ = try store.take("a.bias", shape: [2])
        store.ignore("extra")
        XCTAssertNoThrow(try store.finish())
    }

    func testWeightScopesJoinNames() throws {
        let store = WeightStore(["down_blocks.1.resnets.0.conv1.bias": weight([4])], owner: "Test")
        let w = store.scope("").scope("down_blocks", 1).scope("resnets.0").scope("conv1")
        XCTAssertEqual(try w.take("bias", shape: [4]).shape, [4])
        XCTAssertNoThrow(try store.finish())
    }

    // dim 4, half 2: frequencies exp(0) = 1 and exp(−ln(10⁴)·1/2) = 0.01. Values are float32 sin/cos of
    // float32 arguments, so 1e-6 absolute is just rounding.
    func testTimestepEmbeddingFollowsDiffusersLayout() {
        let flipped = timestepEmbedding(3, dim: 4, batch: 2, flipSinToCos: true, freqShift: 0)
        XCTAssertEqual(flipped.shape, [2, 4])
        let want: [Float] = [cos(3), cos(0.03), sin(3), sin(0.03)]
        for i in 0..<8 { XCTAssertEqual(flipped.data[i], want[i % 4], accuracy: 1e-6) }
        // freq_shift 1 divides by half − 1 = 1: frequencies 1 and 10⁻⁴; sin first without the flip.
        let shifted = timestepEmbedding(3, dim: 4, batch: 1, flipSinToCos: false, freqShift: 1)
        let want2: [Float] = [sin(3), sin(3e-4), cos(3), cos(3e-4)]
        for i in 0..<4 { XCTAssertEqual(shifted.data[i], want2[i], accuracy: 1e-6) }
    }

    func testPadBottomRightAddsOneZeroRowAndColumn() {
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        XCTAssertEqual(padBottomRight(x), Tensor(shape: [1, 1, 3, 3], data: [1, 2, 0, 3, 4, 0, 0, 0, 0]))
    }

    // torch's nearest rule src = floor(dst · in / out): 2 → 3 picks rows/columns 0, 0, 1.
    func testResizeNearestMatchesTorchRule() {
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        XCTAssertEqual(resizeNearest(x, height: 3, width: 3),
                       Tensor(shape: [1, 1, 3, 3], data: [1, 1, 2, 1, 1, 2, 3, 3, 4]))
        XCTAssertEqual(resizeNearest(x, height: 4, width: 4), upsampleNearest2x(x))
    }

    // std = exp(logvar / 2): logvar 0 → 1, ln 4 → 2.
    func testLatentSampleIsMeanPlusStdTimesNoise() {
        let mean = Tensor(shape: [1, 2, 1, 1], data: [1, 2])
        let logvar = Tensor(shape: [1, 2, 1, 1], data: [0, Float(Foundation.log(4.0))])
        let z = AutoencoderKL.sample(mean: mean, logvar: logvar, noise: Tensor(shape: [1, 2, 1, 1], data: [1, -1]))
        XCTAssertEqual(z.data[0], 2, accuracy: 1e-6)
        XCTAssertEqual(z.data[1], 0, accuracy: 1e-6)
    }

    func testTextEncoderRejectsBadInput() throws {
        let a = CLIPTextArchitecture(vocabSize: 10, hiddenSize: 4, intermediateSize: 8, numHiddenLayers: 2,
                                     numAttentionHeads: 2, maxPositionEmbeddings: 5, hiddenAct: .gelu)
        var w: [String: Weight] = [
            "text_model.embeddings.token_embedding.weight": weight([10, 4]),
            "text_model.embeddings.position_embedding.weight": weight([5, 4]),
            "text_model.final_layer_norm.weight": weight([4]), "text_model.final_layer_norm.bias": weight([4]),
        ]
        for l in 0..<2 {
            let p = "text_model.encoder.layers.\(l)."
            for n in ["layer_norm1", "layer_norm2"] { w[p + n + ".weight"] = weight([4]); w[p + n + ".bias"] = weight([4]) }
            for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                w[p + "self_attn.\(n).weight"] = weight([4, 4]); w[p + "self_attn.\(n).bias"] = weight([4])
            }
            w[p + "mlp.fc1.weight"] = weight([8, 4]); w[p + "mlp.fc1.bias"] = weight([8])
            w[p + "mlp.fc2.weight"] = weight([4, 8]); w[p + "mlp.fc2.bias"] = weight([4])
        }
        let encoder = try CLIPTextEncoder(architecture: a, weights: w)
        XCTAssertEqual(try encoder([[1, 2, 3], [4, 5, 6]], clipSkip: 2).shape, [2, 3, 4])
        XCTAssertThrowsError(try encoder([[1, 2, 3]], clipSkip: 0))
        XCTAssertThrowsError(try encoder([[1, 2, 3]], clipSkip: 3))
        XCTAssertThrowsError(try encoder([[1, 10]]))
        XCTAssertThrowsError(try encoder([[1, 2], [1]]))
        XCTAssertThrowsError(try encoder([[1, 2, 3, 4, 5, 6]]))
        XCTAssertThrowsError(try CLIPTextArchitecture.activation(named: "relu"))
        // The same weights without the "text_model." prefix (transformers 5) load too.
        let bare = Dictionary(uniqueKeysWithValues: w.map { (String($0.key.dropFirst("text_model.".count)), $0.value) })
        XCTAssertNoThrow(try CLIPTextEncoder(architecture: a, weights: bare))
    }

    func testUNetRejectsWeightsOfAnotherLayout() throws {
        // sd1 uses 1×1-conv projections, sd2 linear ones: the sd1 weights must not load as sd2.
        var arch = try FixtureArchitectures.unet("sd1")
        arch.useLinearProjection = true
        XCTAssertThrowsError(try UNet2DConditionModel(architecture: arch, weights: NetworkFixtures.componentWeights("sd1", "unet"))) {
            XCTAssertTrue("\($0)".contains("proj_in.weight"), "\($0)")
        }
        var weights = try NetworkFixtures.componentWeights("sd1", "unet")
        weights["add_embedding.linear_1.weight"] = weight([1])
        XCTAssertThrowsError(try UNet2DConditionModel(architecture: FixtureArchitectures.unet("sd1"), weights: weights)) {
            XCTAssertTrue("\($0)".contains("add_embedding.linear_1.weight"), "\($0)")
        }
    }

    // Latent sizes that are not multiples of the UNet's 2^(blocks−1) go through diffusers' upsample_size
    // path; here only shape and finiteness are checked (the fixtures cover values at 16×16).
    func testUNetAcceptsOddLatentSizes() throws {
        let unet = try UNet2DConditionModel(architecture: FixtureArchitectures.unet("sd1"),
                                            weights: NetworkFixtures.componentWeights("sd1", "unet"))
        let x = Tensor(shape: [1, 4, 5, 7], data: (0..<140).map { Float($0 % 13) / 13 - 0.5 })
        let context = Tensor(shape: [1, 77, 16], data: (0..<(77 * 16)).map { Float($0 % 7) / 7 })
        let y = unet(x, timestep: 500, context: context)
        XCTAssertEqual(y.shape, [1, 4, 5, 7])
        XCTAssertFalse(y.data.contains { !$0.isFinite })
    }
}
