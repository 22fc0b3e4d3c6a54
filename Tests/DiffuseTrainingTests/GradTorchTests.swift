import XCTest
@testable import DiffuseTraining

/// Every backward against PyTorch autograd on tiny shapes (Tests/Fixtures/grads/ops.safetensors, made by
/// scripts/fixtures/grads.py). Values are O(1)–O(10) and sums run over ≤ 60 terms, so float32 rounding
/// differences between our summation order and torch's stay below 1e-5; 1e-4 absolute leaves room for
/// that while catching any wrong term (a wrong index or factor moves results by ≥ 1e-2).
final class GradTorchTests: XCTestCase {
    let tol: Float = 1e-4
    var f: FixtureTensors!

    override func setUpWithError() throws { f = try FixtureTensors("grads/ops.safetensors") }

    func testLinear() {
        let x = f["linear.x"], w = f["linear.w"], b = f["linear.b"], dy = f["linear.dy"]
        assertClose(linear(x, Weight(w), Weight(b)), f["linear.y"], atol: tol, "linear y")
        var dw = Tensor(zeros: w.shape), db = Tensor(zeros: b.shape)
        let dx = db.withUnsafeMutable { linearBackward(x: x, w: w, dy: dy, dw: &dw, db: $0.baseAddress!) }
        assertClose(dx, f["linear.dx"], atol: tol, "linear dx")
        assertClose(dw, f["linear.dw"], atol: tol, "linear dw")
        assertClose(db, f["linear.db"], atol: tol, "linear db")
    }

    func testConvolutions() {
        for (name, stride, padding) in [("conv_s1", 1, 1), ("conv_s2", 2, 1), ("conv_1x1", 1, 0)] {
            let x = f[name + ".x"], w = f[name + ".w"], b = f[name + ".b"], dy = f[name + ".dy"]
            assertClose(conv2d(x, Weight(w), Weight(b), stride: stride, padding: padding), f[name + ".y"], atol: tol, name + " y")
            var dw = Tensor(zeros: w.shape), db = Tensor(zeros: b.shape)
            let dx = db.withUnsafeMutable {
                conv2dBackward(x: x, w: w, dy: dy, stride: stride, padding: padding, dw: &dw, db: $0.baseAddress!)
            }
            assertClose(dx, f[name + ".dx"], atol: tol, name + " dx")
            assertClose(dw, f[name + ".dw"], atol: tol, name + " dw")
            assertClose(db, f[name + ".db"], atol: tol, name + " db")
        }
    }

    func testNorms() {
        var dg = Tensor(zeros: [4]), dbeta = Tensor(zeros: [4])
        let gx = groupNormBackward(x: f["group_norm.x"], dy: f["group_norm.dy"], groups: 2, gamma: f["group_norm.w"],
                                   eps: 1e-5, dgamma: &dg, dbeta: &dbeta)
        assertClose(gx, f["group_norm.dx"], atol: tol, "group norm dx")
        assertClose(dg, f["group_norm.dw"], atol: tol, "group norm dgamma")
        assertClose(dbeta, f["group_norm.db"], atol: tol, "group norm dbeta")
        var lg = Tensor(zeros: [6]), lb = Tensor(zeros: [6])
        let lx = layerNormBackward(x: f["layer_norm.x"], dy: f["layer_norm.dy"], gamma: f["layer_norm.w"], eps: 1e-5,
                                   dgamma: &lg, dbeta: &lb)
        assertClose(lx, f["layer_norm.dx"], atol: tol, "layer norm dx")
        assertClose(lg, f["layer_norm.dw"], atol: tol, "layer norm dgamma")
        assertClose(lb, f["layer_norm.db"], atol: tol, "layer norm dbeta")
    }

    func testAttention() {
        let (q, k, v) = (f["attention.q"], f["attention.k"], f["attention.v"])
        assertClose(attention(q: q, k: k, v: v, heads: 2), f["attention.y"], atol: tol, "attention y")
        let (dq, dk, dv) = attentionBackward(q: q, k: k, v: v, dOut: f["attention.dy"], heads: 2)
        assertClose(dq, f["attention.dq"], atol: tol, "attention dq")
        assertClose(dk, f["attention.dk"], atol: tol, "attention dk")
        assertClose(dv, f["attention.dv"], atol: tol, "attention dv")
    }

    func testActivations() {
        assertClose(siluBackward(x: f["silu.x"], dy: f["silu.dy"]), f["silu.dx"], atol: tol, "silu dx")
        assertClose(geluBackward(x: f["gelu.x"], dy: f["gelu.dy"]), f["gelu.dx"], atol: tol, "gelu dx")
        assertClose(geglu(f["geglu.x"]), f["geglu.y"], atol: tol, "geglu y")
        assertClose(gegluBackward(x: f["geglu.x"], dy: f["geglu.dy"]), f["geglu.dx"], atol: tol, "geglu dx")
    }

    func testShapeOps() {
        assertClose(upsampleNearest2xBackward(dy: f["upsample.dy"]), f["upsample.dx"], atol: tol, "upsample dx")
        let parts = splitSizes(f["concat.dy"], sizes: [3, 1], axis: 1)
        assertClose(parts[0], f["concat.da"], atol: 0, "concat da")
        assertClose(parts[1], f["concat.db"], atol: 0, "concat db")
        var table = Tensor(zeros: [5, 4])
        embeddingBackward(ids: [3, 0, 3, 1], dy: f["embedding.dy"], dTable: &table)
        assertClose(table, f["embedding.dtable"], atol: tol, "embedding dtable")
        let (loss, grad) = mseLoss(f["mse.p"], f["mse.target"])
        XCTAssertEqual(loss, f["mse.loss"].data[0], accuracy: 1e-6, "mse loss (24 terms, float32 rounding)")
        assertClose(grad, f["mse.dp"], atol: 1e-6, "mse grad")
    }
}
