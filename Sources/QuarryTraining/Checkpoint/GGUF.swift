import Foundation
import QuarryCore

/// GGUF, llama.cpp's model file: a header, typed metadata (the model's shape, its tokenizer, its
/// chat template), a table of tensors, then the tensors' data, each aligned, many quantised.
///
/// Layout (little-endian; strings are a u64 byte count and UTF-8 bytes):
///
///     "GGUF"  version u32  tensor_count u64  metadata_count u64
///     metadata_count × (key string, value type u32, value)
///     tensor_count × (name string, n_dims u32, n_dims × u64 dims (fastest first), ggml type u32, offset u64)
///     padding to `general.alignment` (default 32), then the data; each offset is from there
///
/// Every count, length, dimension and offset is the file's own and is checked against the file's
/// size before it is used (files come from the Hub and from strangers).
public struct GGUFFile {
    public enum Value: Equatable, Sendable {
        case unsigned(UInt64), signed(Int64), float(Double), bool(Bool), string(String), array([Value])

        public var integer: Int? {
            switch self {
            case .unsigned(let v): return v <= UInt64(Int.max) ? Int(v) : nil
            case .signed(let v): return Int(v)
            default: return nil
            }
        }
        public var number: Double? {
            switch self {
            case .float(let v): return v
            case .unsigned(let v): return Double(v)
            case .signed(let v): return Double(v)
            default: return nil
            }
        }
        public var string: String? { if case .string(let s) = self { return s } else { return nil } }
        public var array: [Value]? { if case .array(let a) = self { return a } else { return nil } }
    }

    public struct TensorInfo: Sendable {
        public let name: String
        /// Dimensions as GGUF stores them, fastest-varying first (a weight of PyTorch shape
        /// [out, in] is [in, out] here).
        public let dimensions: [Int]
        public let type: GGMLType
        /// Absolute byte offset of the data in the file, and its length.
        public let offset: Int
        public let byteCount: Int
        public var elementCount: Int { dimensions.reduce(1, *) }
        /// The shape as PyTorch and safetensors write it (slowest first).
        public var shape: [Int] { dimensions.reversed() }
    }

    public let path: String
    public let version: UInt32
    public let metadata: [String: Value]
    /// In the file's order.
    public let tensors: [TensorInfo]
    private let tensorIndex: [String: Int]
    private let bytes: [UInt8]

    public static let magic: [UInt8] = Array("GGUF".utf8)
    /// llama.cpp's GGML_MAX_DIMS.
    static let maximumDimensions = 4

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw QuarryError("cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")")
        }
        try self.init(bytes: [UInt8](data), path: path)
    }

    public init(bytes: [UInt8], path: String) throws {
        self.path = path
        self.bytes = bytes
        var reader = GGUFReader(bytes: bytes, path: path)
        guard bytes.count >= 4, Array(bytes[0..<4]) == Self.magic else {
            throw QuarryError("\(path) is not a GGUF file (it does not start with \"GGUF\")")
        }
        _ = try reader.take(4)
        version = try reader.u32()
        guard version == 2 || version == 3 else { throw QuarryError("\(path): GGUF version \(version); quarry reads versions 2 and 3") }
        let tensorCount = try reader.count(minimumBytesEach: 8 + 4 + 8 + 4 + 8, what: "tensors")
        let metadataCount = try reader.count(minimumBytesEach: 8 + 4 + 1, what: "metadata entries")
        var metadata: [String: Value] = [:]
        for _ in 0..<metadataCount {
            let key = try reader.string()
            metadata[key] = try reader.value(type: reader.u32(), depth: 0)
        }
        self.metadata = metadata
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.integer, a > 0, a <= 1 << 16, a & (a - 1) == 0 else {
                throw QuarryError("\(path): general.alignment \(value) is not a power of two up to 65536")
            }
            alignment = a
        }
        var infos: [(name: String, dims: [Int], type: GGMLType, offset: UInt64)] = []
        infos.reserveCapacity(tensorCount)
        for _ in 0..<tensorCount {
            let name = try reader.string()
            let dimensionCount = try reader.u32()
            guard dimensionCount >= 1, dimensionCount <= Self.maximumDimensions else {
                throw QuarryError("\(path): tensor \(name) has \(dimensionCount) dimensions (1 to \(Self.maximumDimensions) allowed)")
            }
            var dims: [Int] = []
            for _ in 0..<dimensionCount {
                let d = try reader.u64()
                guard d <= UInt64(bytes.count) * 2 else { throw QuarryError("\(path): tensor \(name) has a dimension of \(d), more than the file can hold") }
                dims.append(Int(d))
            }
            let rawType = try reader.u32()
            guard let type = GGMLType(rawValue: rawType) else {
                let known = GGMLType.unsupportedNames[rawType].map { "\($0) (ggml type \(rawType))" } ?? "ggml type \(rawType)"
                throw QuarryError("\(path): tensor \(name) is \(known), which quarry does not read (it reads \(GGMLType.supportedNames)): convert the model with another quantisation")
            }
            infos.append((name, dims, type, try reader.u64()))
        }
        let dataStart = (reader.position + alignment - 1) / alignment * alignment
        var tensors: [TensorInfo] = []
        var index: [String: Int] = [:]
        for info in infos {
            var count = 1
            for d in info.dims {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw QuarryError("\(path): tensor \(info.name)'s size overflows") }
                count = product
            }
            guard info.dims[0] % info.type.blockSize == 0 else {
                throw QuarryError("\(path): tensor \(info.name) has rows of \(info.dims[0]) values, not whole \(info.type.name) blocks of \(info.type.blockSize)")
            }
            let (byteCount, overflow) = (count / info.type.blockSize).multipliedReportingOverflow(by: info.type.blockBytes)
            guard !overflow, info.offset % UInt64(alignment) == 0, info.offset <= UInt64(bytes.count),
                  dataStart + Int(info.offset) + byteCount <= bytes.count else {
                throw QuarryError("\(path): tensor \(info.name)'s data (\(byteCount) bytes at offset \(info.offset)) is not within the file's \(bytes.count) bytes (a truncated or damaged file)")
            }
            guard index[info.name] == nil else { throw QuarryError("\(path): two tensors are named \(info.name)") }
            index[info.name] = tensors.count
            tensors.append(TensorInfo(name: info.name, dimensions: info.dims, type: info.type,
                                      offset: dataStart + Int(info.offset), byteCount: byteCount))
        }
        self.tensors = tensors
        tensorIndex = index
    }

    public func tensor(_ name: String) -> TensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The tensor's values as F32, dequantised, in PyTorch's row-major order.
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensor(name) else { throw QuarryError("\(path) has no tensor \(name)") }
        var out = [Float](repeating: 0, count: info.elementCount)
        bytes.withUnsafeBufferPointer { raw in
            out.withUnsafeMutableBufferPointer { values in
                GGMLDequantize.run(info.type, from: UnsafeBufferPointer(rebasing: raw[info.offset..<(info.offset + info.byteCount)]), into: values)
            }
        }
        return out
    }

    public func string(_ key: String) -> String? { metadata[key]?.string }
    public func integer(_ key: String) -> Int? { metadata[key]?.integer }
    public func number(_ key: String) -> Double? { metadata[key]?.number }
}

/// The tensor types of ggml that quarry reads: block size (values per block) and bytes per block.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        }
    }

    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }

    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 2 + 16
        case .q4_1: return 2 + 2 + 16
        case .q8_0: return 2 + 32
        case .q4_K: return 2 + 2 + 12 + 128
        case .q5_K: return 2 + 2 + 12 + 32 + 128
        case .q6_K: return 128 + 64 + 16 + 2
        }
    }

    static var supportedNames: String { allCases.map(\.name).joined(separator: ", ") }

    /// ggml's other types, to name them when a file uses one.
    static let unsupportedNames: [UInt32: String] = [
        6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
        19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64",
        28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0",
    ]
}

/// GGUF's fields over a bounds-checked cursor.
struct GGUFReader {
    private var cursor: ByteCursor
    let path: String
    /// Arrays inside arrays: GGUF allows them; a file nesting them deeply is refused.
    static let maximumNesting = 8

    init(bytes: [UInt8], path: String) {
        cursor = ByteCursor(bytes: bytes, name: path + " (a GGUF file)")
        self.path = path
    }

    var position: Int { cursor.position }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> { try cursor.take(n) }
    mutating func little<T: FixedWidthInteger>(_ type: T.Type) throws -> T { try cursor.little(type) }

    mutating func u32() throws -> UInt32 { try little(UInt32.self) }
    mutating func u64() throws -> UInt64 { try little(UInt64.self) }

    /// A count of things each at least `minimumBytesEach` long: no more than the rest of the file holds.
    mutating func count(minimumBytesEach: Int, what: String) throws -> Int {
        let n = try u64()
        guard n <= UInt64(cursor.remaining / minimumBytesEach) else {
            throw QuarryError("\(path) claims \(n) \(what), more than its \(cursor.bytes.count) bytes can hold (a damaged file)")
        }
        return Int(n)
    }

    mutating func string() throws -> String {
        let n = try u64()
        guard n <= UInt64(cursor.remaining) else { throw cursor.damaged("a string runs past the end of the file") }
        let slice = try take(Int(n))
        return String(decoding: slice, as: UTF8.self)
    }

    mutating func value(type: UInt32, depth: Int) throws -> GGUFFile.Value {
        switch type {
        case 0: return .unsigned(UInt64(try little(UInt8.self)))
        case 1: return .signed(Int64(try little(Int8.self)))
        case 2: return .unsigned(UInt64(try little(UInt16.self)))
        case 3: return .signed(Int64(try little(Int16.self)))
        case 4: return .unsigned(UInt64(try u32()))
        case 5: return .signed(Int64(try little(Int32.self)))
        case 6:
            // As the shortest decimal that reads back as this float32 (1e-5, not 1.0000000656e-5).
            let f = Float(bitPattern: try u32())
            return .float(f.isFinite ? Double("\(f)") ?? Double(f) : Double(f))
        case 7: return .bool(try little(UInt8.self) != 0)
        case 8: return .string(try string())
        case 9:
            guard depth < Self.maximumNesting else { throw QuarryError("\(path): metadata arrays nested more than \(Self.maximumNesting) deep") }
            let elementType = try u32()
            let n = try count(minimumBytesEach: Self.smallestEncoding(of: elementType), what: "array elements")
            var out: [GGUFFile.Value] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try value(type: elementType, depth: depth + 1)) }
            return .array(out)
        case 10: return .unsigned(try u64())
        case 11: return .signed(try little(Int64.self))
        case 12: return .float(Double(bitPattern: try u64()))
        default: throw QuarryError("\(path): metadata value type \(type) is not a GGUF type (a damaged file)")
        }
    }

    static func smallestEncoding(of type: UInt32) -> Int {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 9: return 12
        default: return 8
        }
    }
}
