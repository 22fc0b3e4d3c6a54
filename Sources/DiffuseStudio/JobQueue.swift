// A bounded FIFO of jobs and the one worker thread that runs them. The pipeline is synchronous CPU work that
// uses every core, so jobs run one at a time on a dedicated Thread: never on NIO's event loops, never on
// Swift's cooperative pool (which would starve the HTTP handlers while an image is being made).

import Foundation

public final class JobQueue: @unchecked Sendable {
    public let capacity: Int
    private let condition = NSCondition()
    private var pending: [Job] = []
    private var jobs: [String: Job] = [:]
    private var order: [String] = []          // ids, oldest first, for forgetting old finished jobs
    private var current: Job?
    private var stopping = false
    private var workerDone = false
    private var recentDurations: [Double] = []
    private let run: (Job) -> Void
    /// Finished jobs kept for GET /api/jobs/{id}; their images stay in the gallery regardless.
    static let keptJobs = 1000

    /// `run` executes one job to completion on the worker thread (it must call `job.finish`).
    public init(capacity: Int, run: @escaping (Job) -> Void) {
        self.capacity = max(1, capacity)
        self.run = run
        let thread = Thread { [unowned self] in self.workerLoop() }
        thread.name = "diffuse-worker"
        thread.start()
    }

    /// Queues a job; throws 429 (with a Retry-After estimate) when the queue is full, 503 when shutting down.
    public func submit(_ spec: JobSpec) throws -> Job {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw StudioError(.serviceUnavailable, "the server is shutting down") }
        guard pending.count < capacity else {
            throw QueueFullError(retryAfter: retryAfterLocked())
        }
        let job = Job(spec: spec)
        pending.append(job)
        jobs[job.id] = job
        order.append(job.id)
        forgetOldJobsLocked()
        condition.signal()
        return job
    }

    public func job(id: String) -> Job? { condition.withLock { jobs[id] } }

    /// The running job, if any.
    public var running: Job? { condition.withLock { current } }

    /// Queued jobs, not counting the running one.
    public var pendingCount: Int { condition.withLock { pending.count } }

    /// 1-based position among queued jobs; nil once it runs.
    public func position(of job: Job) -> Int? {
        condition.withLock { pending.firstIndex { $0 === job }.map { $0 + 1 } }
    }

    /// Cancels a queued job at once, or a running one at its next step. False if it had already finished.
    @discardableResult
    public func cancel(_ job: Job) -> Bool {
        let wasQueued: Bool = condition.withLock {
            guard let i = pending.firstIndex(where: { $0 === job }) else { return false }
            pending.remove(at: i)
            return true
        }
        guard job.requestCancel() else { return false }
        if wasQueued { job.finish(.cancelled, error: "cancelled before it started", event: JobEvents.final(job)) }
        return true
    }

    /// Stops taking jobs, cancels the queued ones (recording why), lets the running job finish, and waits for
    /// the worker to exit (at most `timeout` seconds; then the running job is cancelled at its next step).
    public func shutdown(timeout: TimeInterval = 60) {
        let dropped: [Job] = condition.withLock {
            stopping = true
            let p = pending
            pending.removeAll()
            condition.broadcast()
            return p
        }
        for job in dropped where job.requestCancel() {
            job.finish(.cancelled, error: "the server shut down before the job started", event: JobEvents.final(job))
        }
        condition.lock()
        let deadline = Date().addingTimeInterval(timeout)
        while !workerDone {
            if !condition.wait(until: deadline) {
                current?.requestCancel()
                condition.wait(until: Date().addingTimeInterval(timeout))
                break
            }
        }
        condition.unlock()
    }

    private func workerLoop() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            guard !stopping, !pending.isEmpty else {
                workerDone = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = pending.removeFirst()
            current = job
            condition.unlock()

            let start = Date()
            run(job)
            condition.withLock {
                current = nil
                recentDurations.append(Date().timeIntervalSince(start))
                if recentDurations.count > 10 { recentDurations.removeFirst() }
                condition.broadcast()
            }
        }
    }

    /// Seconds until a queue slot is likely free: the mean recent job time (at least 1 s).
    private func retryAfterLocked() -> Int {
        let mean = recentDurations.isEmpty ? 5 : recentDurations.reduce(0, +) / Double(recentDurations.count)
        return max(1, min(3600, Int(mean.rounded(.up))))
    }

    private func forgetOldJobsLocked() {
        while order.count > Self.keptJobs, let oldest = order.first, let job = jobs[oldest], job.snapshot.status.isFinal {
            order.removeFirst()
            jobs.removeValue(forKey: oldest)
        }
    }
}

public struct QueueFullError: Error, CustomStringConvertible {
    public var retryAfter: Int
    public var description: String { "the job queue is full; retry in \(retryAfter) s" }
}
