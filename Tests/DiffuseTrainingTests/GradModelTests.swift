import XCTest
@testable import DiffuseTraining

/// The block wiring (ResBlock, SpatialTransformer, UNet skips, text encoder, time MLP) checked end to end:
/// the backward of a whole tiny model against finite differences of its forward, for sampled elements of
/// every parameter and of the input image.
final class GradModelTests: XCTestCase {
    static func tinyConfig() -> ModelConfig {
        var c = ModelConfig()
        c.imageSize = 8; c.patch = 2; c.channels = [8, 16]; c.attention = [true, true]; c.groups = 4; c.heads = 2
        c.textDim = 8; c.textLayers = 1; c.textHeads = 2; c.maxTokens = 4
        c.vocabulary = ["red", "circle", "blue"]
        return c
    }

    func testWholeModelGradients() throws { try checkWholeModelGradients(Self.tinyConfig()) }

    /// The pooled-text path (mean of the text tokens → linear → time embedding) adds a second route from the
    /// caption into every ResBlock; its gradient must reach the text encoder too.
    func testWholeModelGradientsWithPooledText() throws {
        var c = Self.tinyConfig()
        c.pooledText = true
        let model = try TextToImageModel(config: c, seed: 3)
        XCTAssertTrue(model.parameters.contains { $0.name == "text_pool_proj.weight" })
        try checkWholeModelGradients(c)
    }

    /// Coordinate planes enter conv_in as two extra input channels: conv_in's weight gradient must cover them
    /// (its sampled elements include the coordinate columns), and the planes must hold the cell centres.
    func testWholeModelGradientsWithCoordinates() throws {
        var c = Self.tinyConfig()
        c.coordinates = true
        let model = try TextToImageModel(config: c, seed: 3)
        XCTAssertEqual(model.unet.convIn.weight.value.shape, [8, 3 * 4 + 2, 3, 3])
        let planes = appendingCoordinates(Tensor(shape: [1, 1, 2, 4], data: [Float](repeating: 7, count: 8)))
        XCTAssertEqual(planes.data, [7, 7, 7, 7, 7, 7, 7, 7,
                                     -0.75, -0.25, 0.25, 0.75, -0.75, -0.25, 0.25, 0.75,
                                     -0.5, -0.5, -0.5, -0.5, 0.5, 0.5, 0.5, 0.5])
        try checkWholeModelGradients(c)
    }

    /// Extra ResBlocks per level (layersPerBlock) run after the level's first one each way; their backward must
    /// be wired in the reverse order.
    func testWholeModelGradientsWithMoreResBlocks() throws {
        var c = Self.tinyConfig()
        c.layersPerBlock = [2, 3]
        let model = try TextToImageModel(config: c, seed: 3)
        XCTAssertTrue(model.parameters.contains { $0.name == "up_blocks.0.resnets.2.conv2.weight" })
        XCTAssertTrue(model.parameters.contains { $0.name == "down_blocks.0.resnets.1.conv1.weight" })
        try checkWholeModelGradients(c)
    }

    /// Attention pooling of the text (learned queries over the tokens) into the time embedding: the queries,
    /// the attention and the text encoder get its gradient.
    func testWholeModelGradientsWithTextAttentionPool() throws {
        var c = Self.tinyConfig()
        c.pooledText = true
        c.textPoolQueries = 2
        let model = try TextToImageModel(config: c, seed: 3)
        XCTAssertEqual(model.parameters.first { $0.name == "text_attn_pool.queries" }?.value.shape, [2, 8])
        try checkWholeModelGradients(c)
    }

    /// Position queries reading the text, added at one level: the queries, the attention and the text
    /// encoder get its gradient, and the level's backward passes it on.
    func testWholeModelGradientsWithTextSpatialMap() throws {
        var c = Self.tinyConfig()
        c.textSpatialMap = (c.imageSize / c.patch) >> 1
        XCTAssertNil(c.problem())
        let model = try TextToImageModel(config: c, seed: 3)
        XCTAssertEqual(model.parameters.first { $0.name == "text_spatial_map.queries" }?.value.shape,
                       [c.textSpatialMap * c.textSpatialMap, c.textDim])
        try checkWholeModelGradients(c)
    }

    /// Per-cell readouts of the mean of the tokens, added at one level: the text encoder gets their gradient
    /// beside the pooled path's.
    func testWholeModelGradientsWithTextCellMap() throws {
        var c = Self.tinyConfig()
        c.pooledText = true
        c.textCellMap = (c.imageSize / c.patch) >> 1
        XCTAssertNil(c.problem())
        let model = try TextToImageModel(config: c, seed: 3)
        XCTAssertEqual(model.parameters.first { $0.name == "text_cell_map.weight" }?.value.shape,
                       [c.channels[1] * c.textCellMap * c.textCellMap, c.textDim])
        try checkWholeModelGradients(c)
    }

    /// The position-query map alone, as the attention pooling below.
    func testTextSpatialMapGradients() {
        var rng = TrainingRNG(seed: 5)
        let map = TextSpatialMap("map", side: 2, dim: 8, heads: 2, channels: 3, rng: &rng)
        map.projOut.weight.value = randomTensor([3, 8], seed: 50, scale: 0.5)
        let context = randomTensor([2, 4, 8], seed: 51), r = randomTensor([2, 3, 2, 2], seed: 52)
        XCTAssertEqual(map.forward(context).shape, [2, 3, 2, 2])
        checkQueryBlockGradients(map.queries, context: context, r: r, forward: map.forward, backward: map.backward)
        var bad = ModelConfig()
        bad.textSpatialMap = 5
        XCTAssertEqual(bad.problem(), "model.textSpatialMap must be 0 or the side of a level's grid (32, 16, 8); got 5")
    }

    /// The attention pooling alone, where its gradients are not small beside the rest of a model: the context
    /// and the learned queries against finite differences. Loss Σ y·r ≈ 1–5 in float32, h = 1e-2: rounding
    /// ≈ 6e-8·5 / 1e-2 ≈ 3e-5 and softmax curvature O(h²); 2e-3 absolute + 2e-2 relative.
    func testTextAttentionPoolGradients() {
        var rng = TrainingRNG(seed: 4)
        let pool = TextAttentionPool("pool", queries: 3, dim: 8, heads: 2, out: 5, rng: &rng)
        pool.projOut.weight.value = randomTensor([5, 24], seed: 40, scale: 0.5)
        let context = randomTensor([2, 4, 8], seed: 41), r = randomTensor([2, 5], seed: 42)
        XCTAssertEqual(pool.forward(context).shape, [2, 5])
        checkQueryBlockGradients(pool.queries, context: context, r: r, forward: pool.forward, backward: pool.backward)
    }

    /// A block of learned queries over the text: the context and the queries' gradients against finite
    /// differences of Σ forward(context)·r.
    func checkQueryBlockGradients(_ queries: Parameter, context: Tensor, r: Tensor, forward: @escaping (Tensor) -> Tensor,
                                  backward: (Tensor) -> Tensor) {
        _ = forward(context)
        let dContext = backward(r)
        assertFiniteDifferences("context", x: context, analytic: dContext, rtol: 2e-2, atol: 2e-3) {
            contract(forward($0), r)
        }
        let values = queries.value, dQueries = queries.grad
        assertFiniteDifferences("queries", x: values, analytic: dQueries, rtol: 2e-2, atol: 2e-3) {
            queries.value = $0
            defer { queries.value = values }
            return contract(forward(context), r)
        }
        XCTAssertGreaterThan(dQueries.data.map(abs).max()!, 1e-2, "a gradient the check can see")
    }

    func checkWholeModelGradients(_ config: ModelConfig) throws {
        let model = try TextToImageModel(config: config, seed: 3)
        // conv_out starts at zero (which would zero every upstream gradient); give it values for the check,
        // and the text attention pooling's proj_out likewise.
        model.unet.convOut.weight.value = randomTensor(model.unet.convOut.weight.value.shape, seed: 30, scale: 0.2)
        if let pool = model.unet.textAttnPool {
            pool.projOut.weight.value = randomTensor(pool.projOut.weight.value.shape, seed: 33, scale: 0.3)
        }
        if let map = model.unet.textMap {
            map.projOut.weight.value = randomTensor(map.projOut.weight.value.shape, seed: 34, scale: 0.3)
        }
        if let cells = model.unet.textCells {
            cells.weight.value = randomTensor(cells.weight.value.shape, seed: 35, scale: 0.3)
        }
        let x = randomTensor([2, 3, 8, 8], seed: 31), r = randomTensor([2, 3, 8, 8], seed: 32)
        let t: [Float] = [10, 700]
        let ids = [[2, 3, 0, 0], [4, 1, 3, 0]]
        let loss = { contract(model.forward(x, timesteps: t, ids: ids), r) }
        model.zeroGrads()
        _ = model.forward(x, timesteps: t, ids: ids)
        model.backward(r)
        // Σ over ~400 outputs of a 20-layer float32 network: |L| ≈ 10–30, so rounding in the quotient is
        // ≈ 6e-8·30 / 1e-2 ≈ 2e-4 before amplification through the layers; 5e-3 absolute + 3e-2 relative
        // allows that and the curvature of norms/softmax at h = 1e-2, far below a missing or doubled path.
        var checked = 0
        for p in model.parameters {
            let analytic = p.grad, original = p.value
            var rng = TrainingRNG(seed: UInt64(checked + 1))
            for _ in 0..<2 {
                let i = rng.nextInt(original.count)
                // The text embeddings start at scale 0.01–0.02 and feed a LayerNorm (rstd ≈ 50): a 1e-2 step would be
                // half the value and leave the linear regime, so they use 1e-3 (their gradients are large, so the
                // float32 noise of the loss, ≈ 1e-5 / 2h, stays small against them). Elsewhere 3e-3 keeps that
                // noise ≈ 1.7e-3, inside the tolerance even for gradients near zero; 1e-2 was too coarse for
                // the curvature once coordinate planes were added (a downsampler bias: 7% off at 1e-2, within
                // tolerance at 3e-3 — curvature, not a wrong path).
                let h: Float = p.name.hasPrefix("text.token") || p.name.hasPrefix("text.position") ? 1e-3 : 3e-3
                p.value.data[i] = original.data[i] + h
                let lp = loss()
                p.value.data[i] = original.data[i] - h
                let lm = loss()
                p.value = original
                let fd = (lp - lm) / Double(2 * h)
                XCTAssertLessThanOrEqual(abs(fd - Double(analytic.data[i])), 5e-3 + 3e-2 * abs(fd),
                                         "\(p.name)[\(i)]: analytic \(analytic.data[i]) vs finite difference \(fd)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 100, "every parameter tensor was sampled")
    }

    func testParameterNamesAreUnique() throws {
        let model = try TextToImageModel(config: Self.tinyConfig(), seed: 1)
        let names = model.parameters.map(\.name)
        XCTAssertEqual(Set(names).count, names.count)
    }
}
