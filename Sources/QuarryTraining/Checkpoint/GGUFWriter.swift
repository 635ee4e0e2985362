import Foundation
import QuarryCore

/// Writes GGUF v3 files (the layout `GGUFFile` reads): metadata in the order given, tensors as
/// raw blocks of their ggml type, each aligned to 32 bytes. Atomic: a temporary file renamed.
public struct GGUFWriter {
    public static let alignment = 32
    private var metadata: [(String, GGUFFile.Value)] = []
    private var tensors: [(name: String, dimensions: [Int], type: GGMLType, bytes: [UInt8])] = []

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFFile.Value) { metadata.append((key, value)) }

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
        func typeCode(_ value: GGUFFile.Value) -> UInt32 {
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
            case .unsigned(let v): u64(v)
            case .signed(let v): u64(UInt64(bitPattern: v))
            case .float(let v): u64(v.bitPattern)
            case .bool(let v): out.append(v ? 1 : 0)
            case .string(let s): string(s)
            case .array(let elements):
                // Elements share one type in GGUF: the first's (an empty array is of strings).
                u32(elements.first.map(typeCode) ?? 8)
                u64(UInt64(elements.count))
                for element in elements { write(element) }
            }
        }
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, value) in metadata { string(key); u32(typeCode(value)); write(value) }
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
}
