import Foundation

/// A problem with a dataset, a manifest, a prompt list or a generator option supplied by the user.
/// `message` is one line: what is wrong, where, and what to do about it.
public struct DatasetError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
    public var errorDescription: String? { message }
}
