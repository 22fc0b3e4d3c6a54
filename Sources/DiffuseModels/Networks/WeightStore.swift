import Foundation

/// A network could not be built from the weights or configuration it was given. The description is one
/// line naming the tensor or setting, what was expected, and what was found.
public struct NetworkError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Weights keyed by their diffusers/transformers state-dict names. Every module takes its tensors by
/// name and expected shape; `finish()` then insists that nothing was left over, so a checkpoint whose
/// layout differs from the configuration fails loudly instead of silently ignoring layers.
public final class WeightStore {
    private let weights: [String: Weight]
    private var used = Set<String>()
    /// Used in messages, e.g. "UNet".
    public let owner: String

    public init(_ weights: [String: Weight], owner: String) {
        self.weights = weights
        self.owner = owner
    }

    /// The tensor `name`, which must have exactly `shape`.
    public func take(_ name: String, shape: [Int]) throws -> Weight {
        guard let w = weights[name] else {
            throw NetworkError("\(owner) weights: tensor '\(name)' of shape \(shape) is missing; "
                + "the checkpoint does not match the model configuration")
        }
        guard w.shape == shape else {
            throw NetworkError("\(owner) weights: tensor '\(name)' has shape \(w.shape) but the configuration "
                + "needs \(shape); the checkpoint does not match the model configuration")
        }
        used.insert(name)
        return w
    }

    /// Every tensor taken so far (for dropping their pages after use).
    public var taken: [Weight] { used.compactMap { weights[$0] } }

    /// Marks a tensor that may be present but carries no parameters (e.g. transformers' `position_ids`
    /// buffer that older checkpoints saved).
    public func ignore(_ name: String) {
        if weights[name] != nil { used.insert(name) }
    }

    /// Fails if any tensor was not taken.
    public func finish() throws {
        let unused = weights.keys.filter { !used.contains($0) }.sorted()
        guard unused.isEmpty else {
            let shown = unused.prefix(3).joined(separator: ", ")
            let more = unused.count > 3 ? " and \(unused.count - 3) more" : ""
            throw NetworkError("\(owner) weights: \(unused.count) tensor(s) not used by the configured model "
                + "(\(shown)\(more)); the checkpoint does not match the model configuration")
        }
    }

    /// A view that prefixes every name with `prefix + "."`.
    public func scope(_ prefix: String) -> WeightScope { WeightScope(store: self, prefix: prefix) }
}

/// Names relative to a module path, like torch's `named_parameters` of a submodule.
public struct WeightScope {
    let store: WeightStore
    let prefix: String

    public func take(_ name: String, shape: [Int]) throws -> Weight {
        try store.take(prefix.isEmpty ? name : "\(prefix).\(name)", shape: shape)
    }

    public func scope(_ name: String) -> WeightScope {
        WeightScope(store: store, prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
    }

    public func scope(_ name: String, _ index: Int) -> WeightScope { scope("\(name).\(index)") }
}
