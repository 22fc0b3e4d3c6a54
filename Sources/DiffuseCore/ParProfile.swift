import Foundation
import Dispatch

// TEMPORARY thread-utilisation profiler (branch wt/util measurements; not for merge).
// DIFFUSE_PAR_PROFILE=1: ops tagged with `ParProfile.measure` accumulate their main-thread CPU time outside
// parallel regions (serial work: the other thread idles) and, per `Parallel.forRange` region, the CPU time
// each thread spent in its chunks (critical path = the busier thread).
public enum ParProfile {
    public static let enabled = ProcessInfo.processInfo.environment["DIFFUSE_PAR_PROFILE"] == "1"

    struct Acc {
        var calls = 0, wall = 0.0, cpu = 0.0
        var regions = 0, singleRegions = 0, bothOnCaller = 0, callerNone = 0, oneSidedCPU = 0.0, critChunks = 0.0
        var regionWall = 0.0, regionCallerCPU = 0.0, chunkCPU = 0.0, crit = 0.0
    }
    final class Frame {
        let tag: String
        let wall0: Double, cpu0: Double
        var childWall = 0.0, childCPU = 0.0
        var acc = Acc()
        init(tag: String, wall0: Double, cpu0: Double) { self.tag = tag; self.wall0 = wall0; self.cpu0 = cpu0 }
    }
    nonisolated(unsafe) static var stack: [Frame] = []
    nonisolated(unsafe) static var totals: [String: Acc] = [:]
    nonisolated(unsafe) static var caller: pthread_t? = nil
    /// Two-chunk regions by when the later chunk started after the region began (wall): < 20 µs, < 100 µs,
    /// < 500 µs, < 2 ms, ≥ 2 ms; and how many of them ran on one thread only.
    nonisolated(unsafe) static var startDelay = [Int](repeating: 0, count: 5)
    nonisolated(unsafe) static var startDelayOneSided = [Int](repeating: 0, count: 5)

    @inline(__always) static func now() -> Double {
        var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts); return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
    @inline(__always) static func cpuNow() -> Double {
        var ts = timespec(); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    public static func measure<R>(_ tag: @autoclosure () -> String, _ body: () -> R) -> R {
        if !enabled { return body() }
        if caller == nil { caller = pthread_self() }
        guard pthread_equal(caller!, pthread_self()) != 0 else { return body() }
        let f = Frame(tag: tag(), wall0: now(), cpu0: cpuNow())
        stack.append(f)
        let r = body()
        stack.removeLast()
        let wall = now() - f.wall0, cpu = cpuNow() - f.cpu0
        var a = f.acc
        a.calls = 1
        a.wall = wall - f.childWall
        a.cpu = cpu - f.childCPU
        if let parent = stack.last { parent.childWall += wall; parent.childCPU += cpu }
        var t = totals[f.tag] ?? Acc()
        t.calls += 1; t.wall += a.wall; t.cpu += a.cpu
        t.regions += a.regions; t.singleRegions += a.singleRegions; t.bothOnCaller += a.bothOnCaller; t.callerNone += a.callerNone; t.oneSidedCPU += a.oneSidedCPU; t.critChunks += a.critChunks
        t.regionWall += a.regionWall; t.regionCallerCPU += a.regionCallerCPU; t.chunkCPU += a.chunkCPU; t.crit += a.crit
        totals[f.tag] = t
        return r
    }

    /// Runs the region's chunks as Parallel.forRange would, recording per-thread chunk CPU time.
    static func region(_ t: Int, _ per: Int, _ n: Int, _ body: (Range<Int>) -> Void) -> Bool {
        guard enabled, let f = stack.last, let c = caller, pthread_equal(c, pthread_self()) != 0 else { return false }
        let w0 = now(), c0 = cpuNow()
        let cpus = UnsafeMutablePointer<Double>.allocate(capacity: t)
        let onCaller = UnsafeMutablePointer<Bool>.allocate(capacity: t)
        let starts = UnsafeMutablePointer<Double>.allocate(capacity: t)
        defer { cpus.deallocate(); onCaller.deallocate(); starts.deallocate() }
        DispatchQueue.concurrentPerform(iterations: t) { i in
            let lo = i * per, hi = min(n, lo + per)
            starts[i] = now()
            let s = cpuNow()
            if lo < hi { body(lo..<hi) }
            cpus[i] = cpuNow() - s
            onCaller[i] = pthread_equal(c, pthread_self()) != 0
        }
        var mine = 0.0, others = 0.0, callerCount = 0
        for i in 0..<t { if onCaller[i] { mine += cpus[i]; callerCount += 1 } else { others += cpus[i] } }
        f.acc.regions += 1
        if callerCount == t { f.acc.bothOnCaller += 1 }
        if callerCount == 0 { f.acc.callerNone += 1 }
        if callerCount == 0 || callerCount == t { f.acc.oneSidedCPU += mine + others }
        f.acc.regionWall += now() - w0
        f.acc.regionCallerCPU += cpuNow() - c0
        f.acc.chunkCPU += mine + others
        f.acc.crit += max(mine, others)
        var mx = 0.0
        for i in 0..<t { mx = max(mx, cpus[i]) }
        f.acc.critChunks += mx
        var late = 0.0
        for i in 0..<t { late = max(late, starts[i] - w0) }
        let bucket = late < 20e-6 ? 0 : late < 100e-6 ? 1 : late < 500e-6 ? 2 : late < 2e-3 ? 3 : 4
        startDelay[bucket] += 1
        if callerCount == 0 || callerCount == t { startDelayOneSided[bucket] += 1 }
        return true
    }

    /// A region that stayed on one thread (t == 1): all of it is critical path.
    static func single(_ body: () -> Void) -> Bool {
        guard enabled, let f = stack.last, let c = caller, pthread_equal(c, pthread_self()) != 0 else { return false }
        let w0 = now(), c0 = cpuNow()
        body()
        let cpu = cpuNow() - c0
        f.acc.regions += 1; f.acc.singleRegions += 1
        f.acc.regionWall += now() - w0; f.acc.regionCallerCPU += cpu; f.acc.chunkCPU += cpu; f.acc.crit += cpu; f.acc.critChunks += cpu
        return true
    }

    /// One line per tag, sorted by estimated quiet wall time; resets the totals.
    public static func report() -> String {
        guard enabled else { return "" }
        var lines: [String] = []
        var sum = Acc(), sumSerial = 0.0, sumEst = 0.0, sumIdle = 0.0, sumIdeal = 0.0
        let rows = totals.map { (tag, a) -> (String, Acc, Double, Double, Double) in
            let serial = max(0, a.cpu - a.regionCallerCPU)   // caller CPU outside regions
            let est = serial + a.crit
            let idle = serial + (2 * a.crit - a.chunkCPU)
            return (tag, a, serial, est, idle)
        }.sorted { $0.3 > $1.3 }
        lines.append("tag | calls | wall s | serial cpu s | regions (1-thr, all-on-caller, all-on-worker) | one-sided cpu | crit s | chunk cpu s | est wall s | idle thr-s | busy | ideal-dispatch wall s | ideal busy")
        for (tag, a, serial, est, idle) in rows {
            let busy = (serial + a.chunkCPU) / (2 * max(est, 1e-12))
            let ideal = serial + a.critChunks
            lines.append(String(format: "%@ | %d | %.4f | %.4f | %d (%d, %d, %d) | %.4f | %.4f | %.4f | %.4f | %.4f | %.2f | %.4f | %.2f",
                                tag, a.calls, a.wall, serial, a.regions, a.singleRegions, a.bothOnCaller, a.callerNone, a.oneSidedCPU, a.crit, a.chunkCPU,
                                est, idle, busy, ideal, (serial + a.chunkCPU) / (2 * max(ideal, 1e-12))))
            sum.calls += a.calls; sum.wall += a.wall; sum.regions += a.regions; sum.crit += a.crit; sum.chunkCPU += a.chunkCPU
            sum.singleRegions += a.singleRegions; sum.bothOnCaller += a.bothOnCaller; sum.callerNone += a.callerNone; sum.oneSidedCPU += a.oneSidedCPU; sum.critChunks += a.critChunks
            sumSerial += serial; sumEst += est; sumIdle += idle; sumIdeal += serial + a.critChunks
        }
        lines.append(String(format: "TOTAL | %d | %.4f | %.4f | %d (%d, %d, %d) | %.4f | %.4f | %.4f | %.4f | %.4f | %.2f | %.4f | %.2f",
                            sum.calls, sum.wall, sumSerial, sum.regions, sum.singleRegions, sum.bothOnCaller, sum.callerNone, sum.oneSidedCPU, sum.crit,
                            sum.chunkCPU, sumEst, sumIdle, (sumSerial + sum.chunkCPU) / (2 * max(sumEst, 1e-12)),
                            sumIdeal, (sumSerial + sum.chunkCPU) / (2 * max(sumIdeal, 1e-12))))
        lines.append("later chunk start delay <20us/<100us/<500us/<2ms/>=2ms: \(startDelay) (one-sided: \(startDelayOneSided))")
        startDelay = [Int](repeating: 0, count: 5); startDelayOneSided = startDelay
        totals = [:]
        return lines.joined(separator: "\n")
    }
}
