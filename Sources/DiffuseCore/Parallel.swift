import CDiffuseCPU
import Dispatch
import Foundation

// Work is split into `threads` contiguous chunks, so every kernel uses exactly the number of threads the
// user asked for (`--threads`). A UNet call runs ~850 such regions; waking a sleeping libdispatch worker
// for each made the second thread start late (≥ 0.5 ms under load), so by default the chunks run on a
// persistent pool (CDiffuseCPU/pool.c) whose workers spin briefly between regions, like OpenMP's.
// `DIFFUSE_POOL=dispatch` selects Dispatch's concurrentPerform instead (for A/B timing). Both backends
// call the body with the same chunks, so results are bit-identical.
public enum Parallel {
    nonisolated(unsafe) private static var _threads = ProcessInfo.processInfo.activeProcessorCount

    /// Number of worker threads kernels use. Set once at start-up (CLI `--threads`).
    public static var threads: Int {
        get { _threads }
        set { _threads = max(1, newValue) }
    }

    public static var coreCount: Int { ProcessInfo.processInfo.activeProcessorCount }
    /// Regions with more chunks than this go to Dispatch: spinning workers only make sense with a core
    /// each. (Tests raise it to run the pool with more workers than this machine has cores.)
    nonisolated(unsafe) static var poolThreadLimit = ProcessInfo.processInfo.activeProcessorCount

    /// How regions are run: `.pool` (default) or `.dispatch` (`DIFFUSE_POOL=dispatch`, or set it in code).
    public enum Backend: Sendable { case pool, dispatch }
    nonisolated(unsafe) public static var backend: Backend =
        ProcessInfo.processInfo.environment["DIFFUSE_POOL"] == "dispatch" ? .dispatch : .pool

    /// Calls `body(range)` for disjoint ranges covering 0..<n, in parallel. `minChunk` keeps tiny
    /// loops on one thread where a thread hop would cost more than the work.
    public static func forRange(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if n <= 0 { return }
        let t = min(threads, max(1, n / max(minChunk, 1)))
        if t <= 1 { body(0..<n); return }
        let per = (n + t - 1) / t
        let chunks = (n + per - 1) / per   // non-empty chunks (the last ones of t may be empty)
        if backend == .pool && t <= poolThreadLimit && runOnPool(n: n, per: per, chunks: chunks, body) { return }
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            let lo = i * per
            body(lo..<min(n, lo + per))
        }
    }

    /// Calls `body(i)` for every i in 0..<n, spread over the threads.
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        forRange(n) { r in for i in r { body(i) } }
    }

    /// False when the pool is in use by another thread (or its threads could not start): Dispatch runs it.
    private static func runOnPool(n: Int, per: Int, chunks: Int, _ body: (Range<Int>) -> Void) -> Bool {
        withoutActuallyEscaping(body) { body in
            var box = body
            let rc = withUnsafeMutablePointer(to: &box) { p in
                diffuse_pool_run(n, per, chunks, { ctx, lo, hi in
                    ctx!.assumingMemoryBound(to: ((Range<Int>) -> Void).self).pointee(lo..<hi)
                }, p)
            }
            if rc == 1 {   // nested inside a region: the same chunks, in order, on this thread
                for c in 0..<chunks { body(c * per..<min(n, (c + 1) * per)) }
            }
            return rc <= 1
        }
    }
}
