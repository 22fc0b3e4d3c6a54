import Dispatch
import Foundation

/// Wall time per layer kind, collected only while `enabled` (the training benchmark turns it on): the
/// layers run one after another on one thread (with data parallelism, only the first copy's thread records),
/// so a plain accumulator is enough. Off, each
/// timed call costs one branch.
public enum TrainProfile {
    public enum Kind: Int, CaseIterable, Sendable {
        case convForward, convBackward, linearForward, linearBackward, groupNormForward, groupNormBackward
        case layerNormForward, layerNormBackward, siluForward, siluBackward, attentionForward, attentionBackward
        /// Batch assembly, noise, noising and the loss; zeroing, clipping, AdamW and EMA.
        case data, optimizer

        public var name: String {
            switch self {
            case .convForward: "conv fwd"
            case .convBackward: "conv bwd"
            case .linearForward: "linear fwd"
            case .linearBackward: "linear bwd"
            case .groupNormForward: "groupnorm fwd"
            case .groupNormBackward: "groupnorm bwd"
            case .layerNormForward: "layernorm fwd"
            case .layerNormBackward: "layernorm bwd"
            case .siluForward: "silu fwd"
            case .siluBackward: "silu bwd"
            case .attentionForward: "attention fwd"
            case .attentionBackward: "attention bwd"
            case .data: "data + loss"
            case .optimizer: "optimizer"
            }
        }
    }

    nonisolated(unsafe) public static var enabled = false
    /// Off on the threads of data-parallel copies other than the first (their layers overlap the first's in
    /// time; the first copy's times stand for the step).
    private static let skipThisThread = ThreadLocalFlag()

    static func recordOnThisThread(_ on: Bool) { skipThisThread.value = !on }
    nonisolated(unsafe) private static var seconds = [Double](repeating: 0, count: Kind.allCases.count)

    /// Per labelled layer shape: seconds and floating-point operations (multiply and add counted apart).
    nonisolated(unsafe) private static var shapes: [String: (seconds: Double, flops: Double)] = [:]

    public static func reset() {
        seconds = [Double](repeating: 0, count: Kind.allCases.count)
        shapes = [:]
    }

    /// Seconds and FLOPs per labelled shape since the last reset, slowest first.
    public static var shapeTotals: [(label: String, seconds: Double, flops: Double)] {
        shapes.map { ($0.key, $0.value.seconds, $0.value.flops) }.sorted { $0.seconds > $1.seconds }
    }

    /// Times `body` under `kind`; with a `label`, also adds the call to that shape's row with `flops()`
    /// operations.
    @inline(__always)
    static func time<T>(_ kind: Kind, label: @autoclosure () -> String? = nil, flops: @autoclosure () -> Double = 0,
                        _ body: () -> T) -> T {
        if !enabled || skipThisThread.value { return body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        seconds[kind.rawValue] += dt
        if let key = label() {
            let old = shapes[key] ?? (0, 0)
            shapes[key] = (old.seconds + dt, old.flops + flops())
        }
        return r
    }

    /// Seconds spent in each kind since the last reset.
    public static var totals: [(Kind, Double)] { Kind.allCases.map { ($0, seconds[$0.rawValue]) } }

}

/// A Bool per thread (pthread key), false until set.
final class ThreadLocalFlag: @unchecked Sendable {
    private var key = pthread_key_t()

    init() { pthread_key_create(&key, nil) }

    var value: Bool {
        get { pthread_getspecific(key) != nil }
        set { pthread_setspecific(key, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }
}
