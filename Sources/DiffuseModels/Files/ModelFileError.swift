import Foundation

/// A problem with a model file or folder supplied by the user. `message` is one line: what is wrong, in
/// which file, and what to do about it.
public struct ModelFileError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
    public var errorDescription: String? { message }
}
