import Foundation

/// Writes `.safetensors` files that pass every check of `SafeTensorsFile`: tensors laid out back to back in
/// the given order, the header padded with spaces so the data buffer starts 8-byte aligned.
public enum SafeTensorsWriter {
    /// Writes weights in their own dtype (bytes copied verbatim). Names must be unique and not
    /// `__metadata__`. The file is written to a temporary name and renamed, so a crash leaves no half file.
    public static func write(tensors: [(String, Weight)], metadata: [String: String] = [:], to url: URL) throws {
        let header = try headerBytes(tensors: tensors, metadata: metadata, path: url.path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil),
              let h = FileHandle(forWritingAtPath: tmp.path) else {
            throw ModelFileError("\(url.path): cannot create the file; check that the folder exists and is writable")
        }
        do {
            var length = UInt64(header.count).littleEndian
            try h.write(contentsOf: Data(bytes: &length, count: 8))
            try h.write(contentsOf: Data(header))
            for (_, w) in tensors where w.count > 0 {
                try h.write(contentsOf: Data(bytes: w.base, count: w.count * w.dtype.byteSize))
            }
            try h.close()
        } catch {
            try? h.close()
            try? FileManager.default.removeItem(at: tmp)
            throw ModelFileError("\(url.path): writing failed (\(error.localizedDescription)); check free disk space")
        }
        if FileManager.default.fileExists(atPath: url.path) { try? FileManager.default.removeItem(at: url) }
        do {
            try FileManager.default.moveItem(at: tmp, to: url)
        } catch {
            throw ModelFileError("\(url.path): cannot move the written file into place (\(error.localizedDescription))")
        }
    }

    /// Writes float32 tensors stored as `dtype` (f16 and bf16 rounded to nearest even).
    public static func write(tensors: [(String, Tensor)], dtype: DType = .f32, metadata: [String: String] = [:],
                             to url: URL) throws {
        try write(tensors: tensors.map { ($0.0, weight($0.1, as: dtype)) }, metadata: metadata, to: url)
    }

    /// `tensor` converted to a weight of `dtype` that owns its bytes.
    public static func weight(_ tensor: Tensor, as dtype: DType) -> Weight {
        switch dtype {
        case .f32 where tensor.count == 0:
            return Weight(shape: tensor.shape, dtype: .f32, bytes: [0, 0, 0, 0])
        case .f32:
            return Weight(tensor)
        case .f16, .bf16:
            var bytes = [UInt8](repeating: 0, count: max(tensor.count * 2, 4))
            bytes.withUnsafeMutableBytes { raw in
                let out = raw.bindMemory(to: UInt16.self)
                for (i, x) in tensor.data.enumerated() {
                    out[i] = (dtype == .f16 ? floatToHalf(x) : floatToBFloat16(x)).littleEndian
                }
            }
            if tensor.count == 0 { bytes = [0, 0, 0, 0] }
            return Weight(shape: tensor.shape, dtype: dtype, bytes: bytes)
        }
    }

    static func headerBytes(tensors: [(String, Weight)], metadata: [String: String], path: String) throws -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var seen = Set<String>()
        var offset = 0
        for (name, w) in tensors {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw ModelFileError("\(path): tensor name \"\(name)\" is used twice or reserved; names must be unique")
            }
            let size = w.count * w.dtype.byteSize
            let shape = w.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(name)):{\"dtype\":\"\(w.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var bytes = Array("{\(parts.joined(separator: ","))}".utf8)
        // Pad with spaces (never NUL) so that 8 + header length is a multiple of 8.
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        return bytes
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

/// float → bfloat16 with round-to-nearest-even; NaN stays a (quiet) NaN.
public func floatToBFloat16(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if f.isNaN { return UInt16(bits >> 16) | 0x0040 }
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
    return UInt16(rounded >> 16)
}
