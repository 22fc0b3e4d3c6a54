// Validation of a safetensors header against the file it sits in. The checks and their order follow the
// reference Rust parser (huggingface/safetensors, safetensors/src/tensor.rs): header bounds, strict JSON,
// string-only metadata, known dtypes, exact byte sizes, and offsets that tile the data buffer with no gap,
// overlap or trailing bytes (so no polyglot files and no aliasing tensors).

enum SafeTensorsHeader {
    struct Parsed {
        var metadata: [String: String] = [:]
        var tensors: [SafeTensorsFile.TensorInfo] = []
        var dataOffset = 0
    }

    /// Bits per element of every dtype name the format defines (sub-byte types included, for size checks).
    static let dtypeBits: [String: Int] = [
        "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
        "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
        "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
    ]

    static let corrupt = "the file is corrupt or not a safetensors file — re-download or regenerate it"

    static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Parsed {
        func fail(_ problem: String) -> ModelFileError { ModelFileError("\(path): \(problem); \(corrupt)") }
        guard bytes.count >= 8 else { throw fail("is only \(bytes.count) bytes, shorter than the 8-byte header length") }
        let n64 = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard n64 <= UInt64(SafeTensorsFile.maxHeaderSize) else {
            throw fail("header length \(n64) exceeds the 100 MB limit")
        }
        let n = Int(n64)
        guard 8 + n <= bytes.count else {
            throw fail("header length \(n) runs past the end of the file (\(bytes.count) bytes)")
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])
        guard n > 0, header[0] == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
        guard String(validating: header, as: UTF8.self) != nil else { throw fail("header is not valid UTF-8") }
        let json: JSONValue
        do {
            json = try JSONScanner.parse(header)
        } catch let e as JSONScanError {
            throw fail("header is not valid JSON (\(e.message) at byte \(e.offset))")
        }
        guard case .object(let entries) = json else { throw fail("header is not a JSON object") }
        var parsed = Parsed()
        parsed.dataOffset = 8 + n
        for (key, value) in entries {
            if key == "__metadata__" {
                parsed.metadata = try metadata(value, fail: fail)
            } else {
                parsed.tensors.append(try tensor(key, value, fail: fail))
            }
        }
        try checkTiling(&parsed.tensors, bufferSize: bytes.count - 8 - n, fail: fail)
        return parsed
    }

    private static func metadata(_ v: JSONValue, fail: (String) -> ModelFileError) throws -> [String: String] {
        guard case .object(let pairs) = v else { throw fail("__metadata__ is \(v.kindName), not an object") }
        var out: [String: String] = [:]
        for (k, value) in pairs {
            guard case .string(let s) = value else {
                throw fail("__metadata__ value \"\(k)\" is \(value.kindName); metadata values must be strings")
            }
            out[k] = s
        }
        return out
    }

    private static func tensor(_ name: String, _ v: JSONValue,
                               fail: (String) -> ModelFileError) throws -> SafeTensorsFile.TensorInfo {
        guard case .object(let pairs) = v else { throw fail("tensor \"\(name)\" is \(v.kindName), not an object") }
        let fields = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard case .string(let dtypeName)? = fields["dtype"] else { throw fail("tensor \"\(name)\" has no dtype string") }
        guard let bits = dtypeBits[dtypeName] else { throw fail("tensor \"\(name)\" has unknown dtype \"\(dtypeName)\"") }
        guard let shape = nonNegativeInts(fields["shape"]) else {
            throw fail("tensor \"\(name)\" has no valid shape (a list of non-negative integers)")
        }
        guard let offsets = nonNegativeInts(fields["data_offsets"]), offsets.count == 2 else {
            throw fail("tensor \"\(name)\" has no valid data_offsets (two non-negative integers)")
        }
        guard offsets[0] <= offsets[1] else {
            throw fail("tensor \"\(name)\" has data_offsets [\(offsets[0]), \(offsets[1])] with begin > end")
        }
        var elements = 1
        for d in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("tensor \"\(name)\" has a shape \(shape) too large to address") }
            elements = p
        }
        let (totalBits, overflow) = elements.multipliedReportingOverflow(by: bits)
        guard !overflow, totalBits % 8 == 0 else {
            throw fail("tensor \"\(name)\" has a shape \(shape) whose size is not a whole number of bytes")
        }
        guard totalBits / 8 == offsets[1] - offsets[0] else {
            throw fail("tensor \"\(name)\" has shape \(shape) × \(dtypeName) = \(totalBits / 8) bytes but data_offsets "
                + "span \(offsets[1] - offsets[0]) bytes")
        }
        return .init(name: name, dtypeName: dtypeName, dtype: DType(rawValue: dtypeName), shape: shape,
                     byteRange: offsets[0]..<offsets[1])
    }

    private static func nonNegativeInts(_ v: JSONValue?) -> [Int]? {
        guard case .array(let items)? = v else { return nil }
        var out: [Int] = []
        for item in items {
            guard case .integer(let i) = item, i >= 0 else { return nil }
            out.append(i)
        }
        return out
    }

    /// Sorted by offset, the tensors must start at 0, follow each other with no gap or overlap, and end
    /// exactly at the end of the file.
    private static func checkTiling(_ tensors: inout [SafeTensorsFile.TensorInfo], bufferSize: Int,
                                    fail: (String) -> ModelFileError) throws {
        tensors.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }
        var end = 0
        var previous = "the start of the data buffer"
        for t in tensors {
            if t.byteRange.lowerBound > end {
                throw fail("gap of \(t.byteRange.lowerBound - end) bytes between \(previous) and tensor \"\(t.name)\"")
            }
            if t.byteRange.lowerBound < end {
                throw fail("tensor \"\(t.name)\" overlaps \(previous) (begins at \(t.byteRange.lowerBound), before \(end))")
            }
            end = t.byteRange.upperBound
            previous = "tensor \"\(t.name)\""
        }
        if end > bufferSize {
            throw fail("\(previous) ends at byte \(end) of the data buffer, past its end (\(bufferSize) bytes); the file is truncated")
        }
        if end < bufferSize {
            throw fail("\(bufferSize - end) bytes after the last tensor are not described by the header")
        }
    }
}
