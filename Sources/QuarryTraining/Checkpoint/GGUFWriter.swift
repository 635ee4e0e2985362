import Foundation
import QuarryCore

/// Writes GGUF v3 files (the layout `GGUFFile` reads): metadata in the order given, tensors as
/// raw blocks of their ggml type, each aligned to 32 bytes. Atomic: a temporary file renamed.
public struct GGUFWriter {
    public static let alignment = 32
    private var metadata: [(String, GGUFFile.Value)] = []
    /// Keys whose numbers are written as uint32, int32 or float32 (llama.cpp checks the types of
    /// the keys it reads: `block_count` is uint32, `rope.freq_base` float32, token types int32).
    private var narrow: [String: UInt32] = [:]
    private var tensors: [(name: String, dimensions: [Int], type: GGMLType, bytes: [UInt8])] = []

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFFile.Value) { metadata.append((key, value)) }

    /// Narrow types, as llama.cpp writes and expects them.
    public mutating func set(_ key: String, uint32 value: Int) { metadata.append((key, .unsigned(UInt64(value)))); narrow[key] = 4 }
    public mutating func set(_ key: String, float32 value: Double) { metadata.append((key, .float(value))); narrow[key] = 6 }
    /// An array of int32 (token types).
    public mutating func set(_ key: String, int32s values: [Int]) { metadata.append((key, .array(values.map { .signed(Int64($0)) }))); narrow[key] = 5 }

    /// `shape` as PyTorch writes it (slowest first); `bytes` the tensor's blocks of `type`.
    public mutating func add(_ name: String, shape: [Int], type: GGMLType, bytes: [UInt8]) {
        tensors.append((name, shape.reversed(), type, bytes))
    }

    /// F32 values as they are.
    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(floats.count * 4)
        for v in floats { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        add(name, shape: shape, type: .f32, bytes: bytes)
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = GGUFFile.magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        var width: UInt32? = nil   // the narrow type of the key being written, if any
        func typeCode(_ value: GGUFFile.Value) -> UInt32 {
            if let width { return width }   // arrays are typed by the loop below
            switch value {
            case .unsigned: return 10
            case .signed: return 11
            case .float: return 12
            case .bool: return 7
            case .string: return 8
            case .array: return 9
            }
        }
        func write(_ value: GGUFFile.Value) {
            switch value {
            case .unsigned(let v): if width == 4 { u32(UInt32(truncatingIfNeeded: v)) } else { u64(v) }
            case .signed(let v): if width == 5 { u32(UInt32(bitPattern: Int32(truncatingIfNeeded: v))) } else { u64(UInt64(bitPattern: v)) }
            case .float(let v): if width == 6 { u32(Float(v).bitPattern) } else { u64(v.bitPattern) }
            case .bool(let v): out.append(v ? 1 : 0)
            case .string(let s): string(s)
            case .array(let elements):
                // Elements share one type in GGUF: the first's (an empty array is of strings).
                u32(width ?? elements.first.map(typeCode) ?? 8)
                u64(UInt64(elements.count))
                for element in elements { write(element) }
            }
        }
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, value) in metadata {
            width = narrow[key]
            string(key)
            if case .array = value { u32(9) } else { u32(typeCode(value)) }
            write(value)
        }
        width = nil
        var offset = 0
        for tensor in tensors {
            string(tensor.name)
            u32(UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { u64(UInt64(d)) }
            u32(tensor.type.rawValue)
            u64(UInt64(offset))
            offset += (tensor.bytes.count + Self.alignment - 1) / Self.alignment * Self.alignment
        }
        for tensor in tensors {
            while out.count % Self.alignment != 0 { out.append(0) }
            out.append(contentsOf: tensor.bytes)
        }
        return out
    }

    public func write(to path: String) throws {
        let file = try OutputFile(path: path)
        do { try file.write(encoded()); try file.commit() } catch { file.abandon(); throw error }
    }

    /// F32 values as F16 (rounded to nearest even).
    public static func f16(_ values: ArraySlice<Float>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 2)
        for v in values { let h = GGMLDequantize.floatToHalf(v); out.append(UInt8(h & 0xFF)); out.append(UInt8(h >> 8)) }
        return out
    }

    /// F32 values as Q8_0 blocks, as llama.cpp's `quantize_row_q8_0_ref`: per 32 values a
    /// half-precision scale max|x|/127 and the values divided by it, rounded.
    public static func q8_0(_ values: ArraySlice<Float>) -> [UInt8] {
        precondition(values.count % 32 == 0, "Q8_0 takes whole blocks of 32")
        var out: [UInt8] = []
        out.reserveCapacity(values.count / 32 * 34)
        var start = values.startIndex
        while start < values.endIndex {
            let block = values[start..<(start + 32)]
            let amax = block.reduce(0) { max($0, abs($1)) }
            let d = amax / 127, inverse: Float = d != 0 ? 1 / d : 0
            let h = GGMLDequantize.floatToHalf(d)
            out.append(UInt8(h & 0xFF)); out.append(UInt8(h >> 8))
            for v in block { out.append(UInt8(bitPattern: Int8((v * inverse).rounded(.toNearestOrAwayFromZero)))) }
            start += 32
        }
        return out
    }
}
