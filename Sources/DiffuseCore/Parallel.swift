import Dispatch
import Foundation

// Work is split into `threads` contiguous chunks and run with Dispatch's concurrentPerform, so every
// kernel uses exactly the number of threads the user asked for (`--threads`).
public enum Parallel {
    nonisolated(unsafe) private static var _threads = ProcessInfo.processInfo.activeProcessorCount

    /// Number of worker threads kernels use. Set once at start-up (CLI `--threads`).
    public static var threads: Int {
        get { _threads }
        set { _threads = max(1, newValue) }
    }

    public static var coreCount: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Calls `body(range)` for disjoint ranges covering 0..<n, in parallel. `minChunk` keeps tiny
    /// loops on one thread where a thread hop would cost more than the work.
    public static func forRange(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if n <= 0 { return }
        let t = min(threads, max(1, n / max(minChunk, 1)))
        if t <= 1 { body(0..<n); return }
        let per = (n + t - 1) / t
        DispatchQueue.concurrentPerform(iterations: t) { i in
            let lo = i * per, hi = min(n, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Calls `body(i)` for every i in 0..<n, spread over the threads.
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        forRange(n) { r in for i in r { body(i) } }
    }
}
