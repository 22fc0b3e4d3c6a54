import Foundation

/// A config value that diffusers accepts either as one value for every block or as a per-block list
/// (`attention_head_dim`, `transformer_layers_per_block`, `only_cross_attention`, ...).
public enum OneOrList<T: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    case one(T)
    case list([T])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(T.self) {
            self = .one(v)
        } else {
            self = .list(try c.decode([T].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .one(let v): try c.encode(v)
        case .list(let l): try c.encode(l)
        }
    }

    /// The value for each of `n` blocks; nil when a list has another length.
    public func perBlock(_ n: Int) -> [T]? {
        switch self {
        case .one(let v): return Array(repeating: v, count: n)
        case .list(let l): return l.count == n ? l : nil
        }
    }

    /// The single value, or the list's value when all its entries are equal.
    public var uniform: T? {
        switch self {
        case .one(let v): return v
        case .list(let l): return l.allSatisfy { $0 == l.first } ? l.first : nil
        }
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the key is absent or null (diffusers' defaults).
    func value<T: Decodable>(_ key: Key, _ fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}

/// Decodes a config.json, turning decoding failures into one line that names the file and the key.
func decodeConfig<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw ModelFileError("\(url.path): missing or unreadable; the model folder is incomplete — re-download it")
    }
    return try decodeConfig(type, from: data, source: url.path)
}

func decodeConfig<T: Decodable>(_ type: T.Type, from data: Data, source: String) throws -> T {
    do {
        return try JSONDecoder().decode(type, from: data)
    } catch let e as DecodingError {
        throw ModelFileError("\(source): \(describe(e)); fix or regenerate the config")
    } catch {
        throw ModelFileError("\(source): cannot be read as JSON (\(error)); fix or regenerate the config")
    }
}

private func describe(_ e: DecodingError) -> String {
    func path(_ p: [CodingKey]) -> String {
        p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch e {
    case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
        return ctx.codingPath.isEmpty ? "is not a JSON object" : "key \"\(path(ctx.codingPath))\" has a value of the wrong type"
    case .keyNotFound(let key, let ctx):
        return "key \"\(path(ctx.codingPath + [key]))\" is missing"
    case .dataCorrupted(let ctx):
        return ctx.codingPath.isEmpty ? "is not valid JSON" : "key \"\(path(ctx.codingPath))\" has an invalid value"
    @unknown default:
        return "cannot be decoded"
    }
}

/// Throws "<source>: unsupported <key> = <value>; <what is supported>" unless `ok`.
func require(_ ok: Bool, _ source: String, _ key: String, _ value: Any?, _ supported: String) throws {
    guard !ok else { return }
    let shown = value.map { "\($0)" } ?? "null"
    throw ModelFileError("\(source): unsupported \(key) = \(shown); \(supported)")
}
