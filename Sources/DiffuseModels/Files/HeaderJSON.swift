// A small strict JSON reader for safetensors headers. Foundation's JSONSerialization keeps the last of two
// equal keys without a word, and the safetensors spec forbids duplicate tensor names, so the header is
// read here: objects keep their key order, duplicate keys are an error, nesting depth is capped.

enum JSONValue: Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case integer(Int)      // integral literal (no fraction or exponent) that fits in Int
    case number(Double)    // any other number
    case bool(Bool)
    case null

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.integer(x), .integer(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// Short name of the kind of value, for error messages.
    var kindName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .integer, .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

struct JSONScanError: Error {
    let message: String
    let offset: Int
}

struct JSONScanner {
    private let bytes: UnsafeRawBufferPointer
    private var pos = 0
    private let maxDepth = 64

    /// Parses one JSON value filling `bytes`; only whitespace may follow it.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        var s = JSONScanner(bytes: bytes)
        s.skipWhitespace()
        let v = try s.value(depth: 0)
        s.skipWhitespace()
        if s.pos != bytes.count {
            let what = bytes[s.pos] == 0 ? "NUL padding (pad with spaces instead)" : "trailing characters"
            throw JSONScanError(message: what, offset: s.pos)
        }
        return v
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func fail(_ message: String) -> JSONScanError { JSONScanError(message: message, offset: pos) }

    private mutating func skipWhitespace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    private func peek() throws -> UInt8 {
        guard pos < bytes.count else { throw fail("unexpected end") }
        return bytes[pos]
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth) levels") }
        switch try peek() {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    private mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        let n = w.count
        guard pos + n <= bytes.count, (0..<n).allSatisfy({ bytes[pos + $0] == w[$0] }) else {
            throw fail("invalid literal")
        }
        pos += n
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        pos += 1
        var pairs: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if try peek() == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
        while true {
            skipWhitespace()
            guard try peek() == UInt8(ascii: "\"") else { throw fail("expected a key string") }
            let keyStart = pos
            let key = try string()
            guard seen.insert(key).inserted else {
                throw JSONScanError(message: "duplicate key \"\(key)\"", offset: keyStart)
            }
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            skipWhitespace()
            pairs.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            let c = try peek()
            pos += 1
            if c == UInt8(ascii: "}") { return .object(pairs) }
            guard c == UInt8(ascii: ",") else { pos -= 1; throw fail("expected ',' or '}'") }
        }
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        pos += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if try peek() == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            let c = try peek()
            pos += 1
            if c == UInt8(ascii: "]") { return .array(items) }
            guard c == UInt8(ascii: ",") else { pos -= 1; throw fail("expected ',' or ']'") }
        }
    }

    private mutating func string() throws -> String {
        pos += 1  // opening quote
        var out: [UInt8] = []
        while true {
            let c = try peek()
            pos += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                try escape(into: &out)
            case 0..<0x20:
                pos -= 1
                throw fail("control character inside a string")
            default:
                out.append(c)
            }
        }
    }

    private mutating func escape(into out: inout [UInt8]) throws {
        let c = try peek()
        pos += 1
        let simple: [UInt8: UInt8] = [0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C,
                                      0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09]
        if let s = simple[c] { out.append(s); return }
        guard c == UInt8(ascii: "u") else { throw fail("invalid escape") }
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            // A high surrogate must be followed by an escaped low surrogate.
            guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
            else { throw fail("unpaired surrogate") }
            pos += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
        out.append(contentsOf: Array(String(Character(u)).utf8))
    }

    private mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw fail("invalid hex digit")
            }
            v = v * 16 + UInt32(d)
            pos += 1
        }
        return v
    }

    private mutating func number() throws -> JSONValue {
        let start = pos
        var integral = true
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number") }
        if bytes[pos] == UInt8(ascii: "0"), pos + 1 < bytes.count, isDigit(bytes[pos + 1]) {
            throw fail("leading zero in number")
        }
        skipDigits()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            integral = false
            pos += 1
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number") }
            skipDigits()
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            integral = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number") }
            skipDigits()
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if integral, let i = Int(text) { return .integer(i) }
        guard let d = Double(text) else { throw JSONScanError(message: "invalid number", offset: start) }
        return .number(d)
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
    }
}
