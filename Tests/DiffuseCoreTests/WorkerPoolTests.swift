import CDiffuseCPU
import Foundation
import XCTest
@testable import DiffuseCore

/// The persistent worker pool behind `Parallel.forRange` against Dispatch's concurrentPerform. Every check is
/// exact: the pool must call the body with the same chunks, so kernel results are bit-identical.
final class WorkerPoolTests: XCTestCase {
    private var saved = (threads: 1, backend: Parallel.Backend.pool, limit: 1)
    override func setUp() {
        saved = (Parallel.threads, Parallel.backend, Parallel.poolThreadLimit)
        Parallel.backend = .pool
        Parallel.poolThreadLimit = 8   // exercise up to 8 chunks on the pool even on a 2-core machine
    }
    override func tearDown() {
        Parallel.threads = saved.threads; Parallel.backend = saved.backend; Parallel.poolThreadLimit = saved.limit
    }

    /// Counts how often each index is visited; also records whether every chunk ran inside a pool region.
    private func visits(_ n: Int, minChunk: Int = 1) -> (counts: [Int], chunks: [Range<Int>], allOnPool: Bool) {
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(n, 1))
        counts.initialize(repeating: 0, count: max(n, 1))
        defer { counts.deallocate() }
        let lock = NSLock()
        var chunks: [Range<Int>] = [], onPool = true
        Parallel.forRange(n, minChunk: minChunk) { r in
            for i in r { counts[i] += 1 }
            let inRegion = diffuse_pool_in_region() == 1
            lock.lock(); chunks.append(r); onPool = onPool && inRegion; lock.unlock()
        }
        return (Array(UnsafeBufferPointer(start: counts, count: n)), chunks.sorted { $0.lowerBound < $1.lowerBound }, onPool)
    }

    func testEveryIndexOnceWithTheDispatchChunks() {
        for threads in 1...8 {
            Parallel.threads = threads
            for n in [0, 1, 2, 3, 5, 7, 8, 9, 16, 17, 63, 100, 1001, 4096] {
                for minChunk in [1, 3, 64] {
                    Parallel.backend = .dispatch
                    let expected = visits(n, minChunk: minChunk)
                    Parallel.backend = .pool
                    let got = visits(n, minChunk: minChunk)
                    XCTAssertEqual(got.counts, [Int](repeating: 1, count: n), "n \(n) threads \(threads) minChunk \(minChunk)")
                    XCTAssertEqual(got.chunks, expected.chunks, "n \(n) threads \(threads) minChunk \(minChunk)")
                    if got.chunks.count > 1 { XCTAssertTrue(got.allOnPool, "ran on the pool: n \(n) threads \(threads)") }
                }
            }
        }
    }

    /// Many regions back to back, with pauses longer than the spin time in between, so workers go through both
    /// the spinning and the sleeping hand-over.
    func testBackToBackRegionsAcrossSleeps() {
        Parallel.threads = 4
        var total = 0
        for k in 0..<2000 {
            if k % 200 == 0 { usleep(1000) }   // > the 100 µs spin: every worker blocks, then must be woken
            let n = 1 + k % 37
            let sums = UnsafeMutablePointer<Int>.allocate(capacity: n); defer { sums.deallocate() }
            Parallel.forRange(n) { r in for i in r { sums[i] = i + 1 } }
            total += (0..<n).reduce(0) { $0 + sums[$1] }
        }
        XCTAssertEqual(total, (0..<2000).reduce(0) { let n = 1 + $1 % 37; return $0 + n * (n + 1) / 2 })
    }

    /// A body that itself calls forRange runs the inner region serially on its thread, with the same chunks.
    func testNestedRegionsCompleteAndCoverEverything() {
        Parallel.threads = 3
        let outer = 6, inner = 50
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: outer * inner)
        counts.initialize(repeating: 0, count: outer * inner); defer { counts.deallocate() }
        Parallel.forRange(outer) { r in
            for o in r {
                Parallel.forRange(inner) { ir in for i in ir { counts[o * inner + i] += 1 } }
            }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: outer * inner)), [Int](repeating: 1, count: outer * inner))
    }

    /// Several threads calling at once: one gets the pool, the others fall back to Dispatch; all complete.
    func testConcurrentCallersFromSeveralThreads() {
        Parallel.threads = 2
        let callers = 4, rounds = 300, n = 257
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: callers); defer { sums.deallocate() }
        sums.initialize(repeating: 0, count: callers)
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            let buf = UnsafeMutablePointer<Int>.allocate(capacity: n); defer { buf.deallocate() }
            for k in 0..<rounds {
                Parallel.forRange(n) { r in for i in r { buf[i] = i * (c + 1) + k } }
                sums[c] += (0..<n).reduce(0) { $0 + buf[$1] }
            }
        }
        for c in 0..<callers {
            XCTAssertEqual(sums[c], rounds * (c + 1) * n * (n - 1) / 2 + n * rounds * (rounds - 1) / 2, "caller \(c)")
        }
    }

    /// A GEMM-backed linear and a 3×3 convolution give the same bits on both backends.
    func testKernelResultsBitIdenticalToDispatch() {
        Parallel.threads = 2
        Parallel.poolThreadLimit = saved.limit
        let x = randomTensor([2, 96, 300], seed: 71), w = Weight(randomTensor([200, 300], seed: 72))
        let b = Weight(randomTensor([200], seed: 73))
        let img = randomTensor([2, 32, 24, 24], seed: 74), k = Weight(randomTensor([48, 32, 3, 3], seed: 75))
        func run(_ backend: Parallel.Backend) -> ([UInt32], [UInt32]) {
            Parallel.backend = backend
            return (linear(x, w, b).data.map(\.bitPattern), conv2d(img, k, nil, padding: 1).data.map(\.bitPattern))
        }
        let d = run(.dispatch), p = run(.pool)
        XCTAssertEqual(p.0, d.0, "linear")
        XCTAssertEqual(p.1, d.1, "conv2d")
    }
}
