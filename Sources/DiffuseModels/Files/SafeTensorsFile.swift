import Foundation

/// A `.safetensors` file, memory-mapped read-only and fully validated on open (the checks of the reference
/// Rust parser: header bounds, strict JSON without duplicate names, dtypes, offsets that tile the data
/// buffer exactly, string-only metadata). Weights point into the map; nothing is copied.
public struct SafeTensorsFile: @unchecked Sendable {
    /// One tensor entry of the header.
    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        /// The dtype as written in the header (`F32`, `I64`, ...).
        public let dtypeName: String
        /// The dtype when it is one Diffuse computes with (F32, F16, BF16), else nil.
        public let dtype: DType?
        public let shape: [Int]
        /// Byte range inside the data buffer (after the header).
        public let byteRange: Range<Int>
    }

    /// Refuses headers bigger than this, as the reference parser does (a DoS guard).
    public static let maxHeaderSize = 100_000_000

    public let url: URL
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Tensors in data order.
    public let tensors: [TensorInfo]
    /// File offset of the data buffer (8 + header length).
    public let dataOffset: Int
    let file: MappedFile
    private let index: [String: Int]

    /// Tensor names in data order.
    public let names: [String]

    public init(url: URL) throws {
        try refusePickle(at: url)
        let file = try MappedFile(url: url)
        let parsed = try SafeTensorsHeader.parse(file.bytes, path: url.path)
        self.url = url
        self.file = file
        self.metadata = parsed.metadata
        self.tensors = parsed.tensors
        self.names = parsed.tensors.map(\.name)
        self.dataOffset = parsed.dataOffset
        var index: [String: Int] = [:]
        for (i, t) in parsed.tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    public func info(named name: String) -> TensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// The tensor as a `Weight` pointing into the map; nil when there is no such tensor or its dtype is not
    /// F32/F16/BF16 (use `requireWeight` for an error that says which).
    public func weight(named name: String) -> Weight? {
        try? requireWeight(named: name)
    }

    /// The tensor as a `Weight`, or an error naming the file and the tensor.
    public func requireWeight(named name: String) throws -> Weight {
        let t = try floatInfo(named: name)
        return view(t, byteOffset: 0, shape: t.shape)
    }

    /// A view of rows [first, first + count) of a tensor's leading dimension, still pointing into the map
    /// (used to split OpenCLIP's fused q/k/v projection without copying).
    func rows(of name: String, first: Int, count: Int) throws -> Weight {
        let t = try floatInfo(named: name)
        let rowBytes = t.shape.dropFirst().reduce(1, *) * t.dtype!.byteSize
        var shape = t.shape
        shape[0] = count
        return view(t, byteOffset: first * rowBytes, shape: shape)
    }

    private func floatInfo(named name: String) throws -> TensorInfo {
        guard let t = info(named: name) else {
            throw ModelFileError("\(url.path): has no tensor \"\(name)\"; the file is incomplete or not the expected model")
        }
        guard t.dtype != nil else {
            throw ModelFileError("\(url.path): tensor \"\(name)\" has dtype \(t.dtypeName), which Diffuse does not load "
                + "(supported: F32, F16, BF16); convert the checkpoint to float16 or float32")
        }
        return t
    }

    private func view(_ t: TensorInfo, byteOffset: Int, shape: [Int]) -> Weight {
        let dtype = t.dtype!
        let byteCount = shape.reduce(1, *) * dtype.byteSize
        guard let base = file.bytes.baseAddress else {
            // Only empty tensors fit in an empty file; give them storage of their own.
            return Weight(shape: shape, dtype: dtype, bytes: [0, 0, 0, 0])
        }
        let start = base + dataOffset + t.byteRange.lowerBound + byteOffset
        if Int(bitPattern: start) % dtype.byteSize != 0 {
            // Kernels read elements through typed pointers, which must be aligned; a writer that did not pad
            // its header to a multiple of 8 can leave misaligned tensors, so those (only) are copied.
            let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: byteCount))
            return Weight(shape: shape, dtype: dtype, bytes: bytes.isEmpty ? [0, 0, 0, 0] : bytes)
        }
        return Weight(shape: shape, dtype: dtype, base: start, owner: file)
    }
}

/// Refuses PyTorch pickle checkpoints by content (zip or pickle magic) or by extension: unpickling can run
/// arbitrary code, so they are never read.
func refusePickle(at url: URL) throws {
    let ext = url.pathExtension.lowercased()
    var magic = [UInt8](repeating: 0, count: 4)
    if let h = FileHandle(forReadingAtPath: url.path) {
        let d = h.readData(ofLength: 4)
        magic = [UInt8](d) + [UInt8](repeating: 0, count: 4 - d.count)
        try? h.close()
    }
    let isZip = magic == [0x50, 0x4B, 0x03, 0x04]
    let isPickle = magic[0] == 0x80 && (2...5).contains(magic[1])
    if isZip || isPickle || ["ckpt", "pt", "pth", "bin", "pkl"].contains(ext) {
        throw ModelFileError("\(url.path): is a PyTorch pickle checkpoint; convert it to .safetensors first "
            + "(e.g. with the safetensors convert script / diffusers) — pickles can run code and are not loaded")
    }
}
