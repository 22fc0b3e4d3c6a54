import DiffuseCore
import Dispatch
import Foundation

// Data parallelism over the cores: with T threads the batch is cut into T contiguous parts, each run forward
// and backward by its own copy of the model on one thread, and the parts' gradients are added in a fixed
// order. Why: the built-in model's layers are small (a 4×4 level, 32-channel convolutions, K = 32 linear
// layers), so splitting every layer over two threads left a core waiting on each of the ~thousand short
// parallel regions of a step and ran the elementwise plumbing on one; two independent half batches kept both
// cores busy. Measured before writing it: two one-thread runs at batch 8 side by side gave 28.7 samples/s
// against 23.7 for one two-thread run at batch 16 (BENCHMARKS.md, stop 17).
// The copies share the weights' storage (copy-on-write arrays; released before the optimiser writes them).
// Results depend on the thread count (the batch split and each part's summation order), as LayerNorm's
// backward already did; a run resumed with the same --threads repeats itself bit for bit.
// `DIFFUSE_TRAIN_DATA_PARALLEL=0` trains with the layer-split threads instead (for timing both).

let dataParallelEnabled = ProcessInfo.processInfo.environment["DIFFUSE_TRAIN_DATA_PARALLEL"] != "0"

extension Trainer {
    /// The model copies beyond the first for this step (none with one thread or a batch of one), sharing the
    /// current weights.
    func dataParallelReplicas() -> [TextToImageModel] {
        let wanted = dataParallelEnabled ? max(1, min(Parallel.threads, config.batchSize)) - 1 : 0
        while replicas.count < wanted {
            // The seed does not matter: every value is replaced below.
            guard let copy = try? TextToImageModel(config: config.model, seed: config.seed) else { break }
            replicas.append(copy)
        }
        let active = Array(replicas.prefix(wanted))
        for copy in active {
            for (mine, theirs) in zip(model.parameters, copy.parameters) { theirs.value = mine.value }
        }
        return active
    }

    /// Forward and backward of one micro-batch, split over `models` (one thread each). Returns the loss of
    /// the whole micro-batch (each part's mean weighted by its share); each part's gradient is scaled so
    /// that the parts add up to the whole batch's mean-loss gradient (over `micro` micro-batches).
    func dataParallelPass(_ models: [TextToImageModel], captions: [String], timesteps: [Int], noisy: Tensor,
                          target: Tensor, micro: Int) -> Float {
        let b = captions.count, parts = models.count
        let sizes = (0..<parts).map { i in b / parts + (i < b % parts ? 1 : 0) }
        let starts = sizes.indices.map { sizes[..<$0].reduce(0, +) }
        let noisyParts = splitSizes(noisy, sizes: sizes, axis: 0), targetParts = splitSizes(target, sizes: sizes, axis: 0)
        var losses = [Float](repeating: 0, count: parts)
        let saved = Parallel.threads
        Parallel.threads = 1
        defer { Parallel.threads = saved }
        losses.withUnsafeMutableBufferPointer { out in
            let out = out   // each index written by exactly one iteration
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                TrainProfile.recordOnThisThread(i == 0)
                let range = starts[i]..<(starts[i] + sizes[i])
                let share = Float(sizes[i]) / Float(b)
                let y = models[i].forward(noisyParts[i], timesteps: timesteps[range].map(Float.init),
                                          captions: Array(captions[range]))
                var (loss, grad) = TrainProfile.time(.data) { mseLoss(y, targetParts[i]) }
                grad = scale(grad, share / Float(micro))
                models[i].backward(grad)
                out[i] = loss * share
                TrainProfile.recordOnThisThread(true)
            }
        }
        return losses.reduce(0, +)
    }

    /// model.grad += each copy's grad, copies in order, leaving the copies' grads zero; then the copies let go
    /// of the shared weights so that the optimiser's in-place update does not copy them.
    func reduceGradients(_ models: [TextToImageModel]) {
        TrainProfile.time(.optimizer) {
            let params = models.map(\.parameters)
            let counts = params[0].map(\.grad.count)
            let bases = params.map { ps in ps.map { p in p.grad.withUnsafeMutable { $0.baseAddress! } } }
            forEachSlotRange(counts) { slot, r in
                let d = bases[0][slot]
                for copy in 1..<bases.count {
                    let s = bases[copy][slot]
                    for i in r { d[i] += s[i]; s[i] = 0 }   // zeroed here for the next step
                }
            }
            for copy in models.dropFirst() { for p in copy.parameters { p.value = Trainer.released } }
        }
    }

    static let released = Tensor(zeros: [0])
}
