// One generation job: its state (behind a lock, read by HTTP handlers, written by the worker thread), the
// event log that server-sent-event subscribers replay and follow, and the waiters of the synchronous APIs.

import Foundation

public enum JobStatus: String, Codable, Sendable {
    case queued, running, succeeded, failed, cancelled

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// A finished image of a job.
public struct JobImage: Codable, Sendable, Equatable {
    public var id: String
    public var url: String
    public var seed: UInt64
}

/// What `GET /api/jobs/{id}` returns.
public struct JobSnapshot: Codable, Sendable {
    public var id: String
    public var status: JobStatus
    public var model: String
    public var prompt: String
    public var step: Int
    public var totalSteps: Int
    /// 1-based index of the image being made.
    public var image: Int
    public var imageCount: Int
    public var seeds: [UInt64]
    public var images: [JobImage]
    public var error: String?
    /// What the client should know that did not stop the job (e.g. words the model does not know).
    public var warnings: [String]
    public var queuePosition: Int?
    public var created: Double
    public var started: Double?
    public var finished: Double?
}

public final class Job: @unchecked Sendable {
    public let id: String
    public let spec: JobSpec
    public let created = Date()
    private let lock = NSLock()
    private var state: JobSnapshot
    private var cancelFlag = false
    private var skipFlag = false
    /// Event payloads (JSON) for replay; step events are stored without their preview image.
    private var log: [String] = []
    private var subscribers: [UUID: AsyncStream<String>.Continuation] = [:]
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(spec: JobSpec) {
        id = UUID().uuidString.lowercased()
        self.spec = spec
        state = JobSnapshot(id: id, status: .queued, model: spec.model.name, prompt: spec.options.prompt, step: 0,
                            totalSteps: spec.options.steps, image: 0, imageCount: spec.options.batchCount,
                            seeds: spec.options.seeds, images: [], error: nil, warnings: spec.warnings, queuePosition: nil,
                            created: created.timeIntervalSince1970, started: nil, finished: nil)
    }

    public var snapshot: JobSnapshot { lock.withLock { state } }
    public var isCancelled: Bool { lock.withLock { cancelFlag } }

    /// Asks the job to stop; the worker notices at the next step. Returns false if it had already finished.
    @discardableResult
    public func requestCancel() -> Bool {
        lock.withLock {
            guard !state.status.isFinal else { return false }
            cancelFlag = true
            return true
        }
    }

    /// Asks the worker to drop the image being made and go on with the next one of the batch (A1111's skip).
    @discardableResult
    public func requestSkip() -> Bool {
        lock.withLock {
            guard state.status == .running else { return false }
            skipFlag = true
            return true
        }
    }

    /// Whether a skip was asked for since the last call (the worker checks once per step).
    func takeSkip() -> Bool {
        lock.withLock {
            defer { skipFlag = false }
            return skipFlag
        }
    }

    func update(_ change: (inout JobSnapshot) -> Void) { lock.withLock { change(&state) } }

    /// Sends an event to subscribers; `replayable` is what later subscribers get instead (nil = same).
    func publish(_ payload: String, replayable: String? = nil) {
        let targets: [AsyncStream<String>.Continuation] = lock.withLock {
            log.append(replayable ?? payload)
            return Array(subscribers.values)
        }
        for c in targets { c.yield(payload) }
    }

    /// Marks the job final, sends the last event and ends every stream and waiter.
    func finish(_ status: JobStatus, error: String? = nil, event: String) {
        let (targets, toResume): ([AsyncStream<String>.Continuation], [CheckedContinuation<Void, Never>]) = lock.withLock {
            state.status = status
            state.error = error
            state.finished = Date().timeIntervalSince1970
            log.append(event)
            let t = Array(subscribers.values)
            subscribers.removeAll()
            let w = waiters
            waiters.removeAll()
            return (t, w)
        }
        for c in targets { c.yield(event); c.finish() }
        for w in toResume { w.resume() }
    }

    /// Past events, then live ones; the stream ends after the final event.
    public func events() -> AsyncStream<String> {
        AsyncStream { continuation in
            let key = UUID()
            let final: Bool = lock.withLock {
                for e in log { continuation.yield(e) }
                if state.status.isFinal { return true }
                subscribers[key] = continuation
                return false
            }
            if final { continuation.finish(); return }
            continuation.onTermination = { [weak self] _ in
                guard let self else { return }
                _ = self.lock.withLock { self.subscribers.removeValue(forKey: key) }
            }
        }
    }

    /// Returns once the job is final.
    public func waitUntilFinished() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done: Bool = lock.withLock {
                if state.status.isFinal { return true }
                waiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }
}
