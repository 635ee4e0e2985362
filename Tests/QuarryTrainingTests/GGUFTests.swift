import Foundation
import QuarryCore
import Testing
@testable import QuarryTraining

/// GGUF files: the container, every block format against values worked out by hand from
/// llama.cpp's layouts, and files damaged in every way a stranger's download can be.
struct GGUFTests {
    static func half(_ v: Float) -> [UInt8] { let h = GGMLDequantize.floatToHalf(v); return [UInt8(h & 0xFF), UInt8(h >> 8)] }

    static func dequantise(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBufferPointer { raw in out.withUnsafeMutableBufferPointer { GGMLDequantize.run(type, from: raw, into: $0) } }
        return out
    }

    @Test func halfPrecisionKnownValuesAndRoundTrip() {
        #expect(GGMLDequantize.halfToFloat(0x3C00) == 1)
        #expect(GGMLDequantize.halfToFloat(0xC000) == -2)
        #expect(GGMLDequantize.halfToFloat(0x7BFF) == 65504)
        #expect(GGMLDequantize.halfToFloat(0x0001) == Float(sign: .plus, exponent: -24, significand: 1))
        #expect(GGMLDequantize.halfToFloat(0x7C00) == .infinity)
        #expect(GGMLDequantize.halfToFloat(0x7E00).isNaN)
        for bits in UInt16.min...UInt16.max where (bits & 0x7C00) != 0x7C00 || (bits & 0x3FF) == 0 {
            #expect(GGMLDequantize.floatToHalf(GGMLDequantize.halfToFloat(bits)) == bits)
        }
        #expect(GGMLDequantize.floatToHalf(1 + Float(sign: .plus, exponent: -11, significand: 1)) == 0x3C00)   // a tie rounds to even
        #expect(GGMLDequantize.floatToHalf(70000) == 0x7C00)
    }

    @Test func plainTypes() {
        #expect(Self.dequantise(.f16, Self.half(0.5) + Self.half(-3), count: 2) == [0.5, -3])
        #expect(Self.dequantise(.bf16, [0x80, 0x3F, 0x20, 0xC1], count: 2) == [1, -10])   // 0x3F80, 0xC120
        #expect(Self.dequantise(.f32, [0, 0, 0x80, 0x3F], count: 1) == [1])
    }

    @Test func q8_0() {
        let q: [Int8] = (0..<32).map { (i: Int) -> Int8 in Int8(i * 8 - 128) }
        let bytes: [UInt8] = q.map { UInt8(bitPattern: $0) }
        let values = Self.dequantise(.q8_0, Self.half(0.5) + bytes, count: 32)
        let expected: [Float] = q.map { Float($0) * 0.5 }
        #expect(values == expected)
    }

    @Test func q4_0AndQ4_1() {
        // Byte j holds value j in its low nibble and value j + 16 in its high one.
        let low: [Int] = Array(0..<16), high: [Int] = low.map { 15 - $0 }
        let qs: [UInt8] = low.map { (j: Int) -> UInt8 in UInt8(j) | UInt8(15 - j) << 4 }
        let q40 = Self.dequantise(.q4_0, Self.half(2) + qs, count: 32)
        let expected40: [Float] = (low + high).map { (q: Int) -> Float in Float(q - 8) * 2 }
        #expect(q40 == expected40)
        let q41 = Self.dequantise(.q4_1, Self.half(0.25) + Self.half(-1) + qs, count: 32)
        let expected41: [Float] = (low + high).map { (q: Int) -> Float in Float(q) * 0.25 - 1 }
        #expect(q41 == expected41)
    }

    /// Q4_K/Q5_K scales and minimums: bytes 0–3 and 4–7 hold the first four of each in 6 bits;
    /// the last four take their low 4 bits from bytes 8–11 and their top 2 from bytes 0–7.
    static let packedScales: [UInt8] = [1 | 1 << 6, 2, 3, 4, 0 | 2 << 6, 1, 2, 3, 0x15, 0x26, 0x37, 0x48]
    static let scales: [Float] = [1, 2, 3, 4, 21, 6, 7, 8]     // the fifth: 5 | 1 << 4
    static let minimums: [Float] = [0, 1, 2, 3, 33, 2, 3, 4]   // the fifth: 1 | 2 << 4

    @Test func q4_K() {
        let qs: [UInt8] = (0..<128).map { (i: Int) -> UInt8 in UInt8(i % 16) | UInt8((i / 32 + i) % 16) << 4 }
        let values = Self.dequantise(.q4_K, Self.half(1) + Self.half(0.5) + Self.packedScales + qs, count: 256)
        var expected: [Float] = []
        for group in 0..<4 {
            for l in 0..<32 { expected.append(Self.scales[2 * group] * Float(qs[32 * group + l] & 15) - 0.5 * Self.minimums[2 * group]) }
            for l in 0..<32 { expected.append(Self.scales[2 * group + 1] * Float(qs[32 * group + l] >> 4) - 0.5 * Self.minimums[2 * group + 1]) }
        }
        #expect(values == expected)
    }

    @Test func q5_K() {
        let qs: [UInt8] = (0..<128).map { (i: Int) -> UInt8 in UInt8((i * 7) % 16) | UInt8((i * 3) % 16) << 4 }
        let qh: [UInt8] = (0..<32).map { (i: Int) -> UInt8 in UInt8((i * 37) % 256) }   // bit 2g: fifth bit of group g's low half; 2g+1: high half
        let values = Self.dequantise(.q5_K, Self.half(1) + Self.half(0.5) + Self.packedScales + qh + qs, count: 256)
        var expected: [Float] = []
        for group in 0..<4 {
            for l in 0..<32 {
                let fifth: Float = (qh[l] >> (2 * group)) & 1 == 1 ? 16 : 0
                let q = Float(qs[32 * group + l] & 15) + fifth
                expected.append(Self.scales[2 * group] * q - 0.5 * Self.minimums[2 * group])
            }
            for l in 0..<32 {
                let fifth: Float = (qh[l] >> (2 * group + 1)) & 1 == 1 ? 16 : 0
                let q = Float(qs[32 * group + l] >> 4) + fifth
                expected.append(Self.scales[2 * group + 1] * q - 0.5 * Self.minimums[2 * group + 1])
            }
        }
        #expect(values == expected)
    }

    /// Q6_K: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 signed scales (one per 16
    /// values), then the super-block scale; each value is 6 bits minus 32.
    @Test func q6_K() {
        let six: [Int] = (0..<256).map { (i: Int) -> Int in (i * 11) % 64 }          // the 6-bit values, in output order
        var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        for half in 0..<2 {
            for l in 0..<32 {
                let base = 128 * half
                let q = [six[base + l], six[base + l + 32], six[base + l + 64], six[base + l + 96]]
                let bits: [UInt8] = q.map { UInt8($0) }
                ql[64 * half + l] = (bits[0] & 15) | (bits[2] & 15) << 4
                ql[64 * half + l + 32] = (bits[1] & 15) | (bits[3] & 15) << 4
                let top01: UInt8 = (bits[0] >> 4) | (bits[1] >> 4) << 2
                qh[32 * half + l] = top01 | (bits[2] >> 4) << 4 | (bits[3] >> 4) << 6
            }
        }
        let scales: [Int8] = (0..<16).map { (i: Int) -> Int8 in Int8(i - 8) }
        let scaleBytes: [UInt8] = scales.map { UInt8(bitPattern: $0) }
        let values = Self.dequantise(.q6_K, ql + qh + scaleBytes + Self.half(0.5), count: 256)
        let expected: [Float] = (0..<256).map { (i: Int) -> Float in 0.5 * Float(scales[i / 16]) * Float(six[i] - 32) }
        #expect(values == expected)
    }

    static func smallFile() -> GGUFWriter {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        writer.set("list", .array([.signed(-1), .signed(2)]))
        writer.set("pi", .float(3.25))
        writer.add("a", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        let q: [UInt8] = (0..<32).map { UInt8($0) }
        writer.add("b", shape: [32], type: .q8_0, bytes: half(1) + q)
        return writer
    }

    @Test func writtenFilesReadBack() throws {
        let file = try GGUFFile(bytes: Self.smallFile().encoded(), path: "small.gguf")
        #expect(file.version == 3)
        #expect(file.string("general.architecture") == "llama")
        #expect(file.metadata["list"] == .array([.signed(-1), .signed(2)]))
        #expect(file.number("pi") == 3.25)
        #expect(file.tensors.map(\.name) == ["a", "b"])
        #expect(file.tensor("a")?.shape == [2, 3] && file.tensor("a")?.dimensions == [3, 2])
        #expect(try file.floats("a") == [1, 2, 3, 4, 5, 6])
        let expected: [Float] = (0..<32).map { Float($0) }
        #expect(try file.floats("b") == expected)
        #expect(file.tensors.allSatisfy { $0.offset % GGUFWriter.alignment == 0 })
    }

    /// llama.cpp reads `block_count` as uint32, `rope.freq_base` as float32 and token types as
    /// int32: the writer's narrow keys come back with those types' values.
    @Test func narrowTypesAndQ8_0Quantisation() throws {
        var writer = GGUFWriter()
        writer.set("llama.block_count", uint32: 30)
        writer.set("llama.rope.freq_base", float32: 100_000)
        writer.set("tokenizer.ggml.token_type", int32s: [1, 3, -1])
        let values: [Float] = (0..<32).map { Float($0 - 16) / 4 }   // max |x| = 4: scale 4/127
        writer.add("q", shape: [32], type: .q8_0, bytes: GGUFWriter.q8_0(values[...]))
        let bytes = writer.encoded()
        let file = try GGUFFile(bytes: bytes, path: "n.gguf")
        #expect(file.integer("llama.block_count") == 30 && file.number("llama.rope.freq_base") == 100_000)
        #expect(file.metadata["tokenizer.ggml.token_type"] == .array([.signed(1), .signed(3), .signed(-1)]))
        // The key's type code in the file: 4 (uint32) right after "llama.block_count".
        let key = Array("llama.block_count".utf8)
        let at = try #require((0..<(bytes.count - key.count)).first { Array(bytes[$0..<($0 + key.count)]) == key })
        #expect(bytes[at + key.count] == 4)
        let d = GGMLDequantize.halfToFloat(GGMLDequantize.floatToHalf(4 / 127))
        let expected: [Float] = values.map { (($0 / (4 / 127)).rounded(.toNearestOrAwayFromZero)) * d }
        #expect(try file.floats("q") == expected)
    }

    /// Every prefix of a file, and every single-byte change of its header and tensor table, is
    /// read or refused with an error: never a trap, never a read past the end.
    @Test func damagedFilesAreRefusedNotCrashedOn() throws {
        let bytes = Self.smallFile().encoded()
        for length in 0..<bytes.count {
            #expect(throws: QuarryError.self) { try GGUFFile(bytes: Array(bytes.prefix(length)), path: "cut.gguf") }
        }
        let tableEnd = bytes.count - 32 - 34   // the data: 24 bytes padded to 32, then 34
        for i in 4..<tableEnd {
            for flip: UInt8 in [0x80, 0xFF, 0x01] {
                var damaged = bytes
                damaged[i] ^= flip
                if let file = try? GGUFFile(bytes: damaged, path: "flipped.gguf") {
                    for tensor in file.tensors { _ = try? file.floats(tensor.name) }
                }
            }
        }
    }

    @Test func hostileHeadersSayWhatIsWrong() throws {
        func header(tensors: UInt64, metadata: UInt64, rest: [UInt8] = []) -> [UInt8] {
            var out = Array("GGUF".utf8) + [3, 0, 0, 0]
            withUnsafeBytes(of: tensors.littleEndian) { out += $0 }
            withUnsafeBytes(of: metadata.littleEndian) { out += $0 }
            return out + rest
        }
        func message(_ bytes: [UInt8]) -> String {
            do { _ = try GGUFFile(bytes: bytes, path: "x.gguf"); return "read" } catch { return "\(error)" }
        }
        #expect(message(Array("GGML....".utf8)).contains("not a GGUF file"))
        #expect(message(header(tensors: 1 << 62, metadata: 0)).contains("claims"))
        #expect(message(header(tensors: 0, metadata: 1 << 60)).contains("claims"))
        var version = header(tensors: 0, metadata: 0)
        version[4] = 9
        #expect(message(version).contains("version 9"))
        // A tensor of an unknown type, one with five dimensions, and one whose data is past the end.
        func tensor(_ dims: [UInt64], type: UInt32, offset: UInt64) -> [UInt8] {
            var out: [UInt8] = []
            withUnsafeBytes(of: UInt64(1).littleEndian) { out += $0 }
            out += Array("t".utf8)
            withUnsafeBytes(of: UInt32(dims.count).littleEndian) { out += $0 }
            for d in dims { withUnsafeBytes(of: d.littleEndian) { out += $0 } }
            withUnsafeBytes(of: type.littleEndian) { out += $0 }
            withUnsafeBytes(of: offset.littleEndian) { out += $0 }
            return out + [UInt8](repeating: 0, count: 64)
        }
        #expect(message(header(tensors: 1, metadata: 0, rest: tensor([4], type: 99, offset: 0))).contains("ggml type 99"))
        #expect(message(header(tensors: 1, metadata: 0, rest: tensor([32], type: 11, offset: 0))).contains("is Q3_K (ggml type 11), which quarry does not read"))
        #expect(message(header(tensors: 1, metadata: 0, rest: tensor([1, 1, 1, 1, 1], type: 0, offset: 0))).contains("5 dimensions"))
        #expect(message(header(tensors: 1, metadata: 0, rest: tensor([40], type: 0, offset: 0))).contains("not within the file"))
        #expect(message(header(tensors: 1, metadata: 0, rest: tensor([64, 1 << 40, 1 << 40], type: 0, offset: 0))).contains("overflows") ||
                message(header(tensors: 1, metadata: 0, rest: tensor([64, 1 << 40, 1 << 40], type: 0, offset: 0))).contains("more than the file"))
        #expect(message(header(tensors: 1, metadata: 0, rest: tensor([33], type: 8, offset: 0))).contains("whole Q8_0 blocks"))
        #expect(message(header(tensors: 1, metadata: 0, rest: tensor([4], type: 0, offset: 3))).contains("not within the file"))
    }

    /// GPT-2 as llama.cpp's converter writes it: Conv1D weights as [out, in], the tied head again
    /// as output.weight, llama.cpp's names; written and read back through the GGUF file.
    @Test func gpt2TensorsInLlamaCppsLayout() throws {
        let config = ModelConfig(vocabSize: 11, nLayer: 2, nHead: 2, nEmbd: 4, nPositions: 8)
        let gpt = try GPT<Float>(config: config)
        gpt.initialise(seed: 3)
        var writer = GGUFWriter()
        GPT2GGUF.setShape(config, in: &writer)
        for (name, shape, values) in GPT2GGUF.tensors(gpt) { writer.add(name, shape: shape, floats: values) }
        let file = try GGUFFile(bytes: writer.encoded(), path: "gpt2.gguf")
        #expect(file.string("general.architecture") == "gpt2" && file.integer("gpt2.context_length") == 8
                && file.integer("gpt2.feed_forward_length") == 16)
        let c = config.nEmbd
        let qkv = try file.floats("blk.1.attn_qkv.weight")      // [3C, C]: row o is output o's weights
        let start = try #require(gpt.offsets[.qkvw]) + c * 3 * c             // layer 1 of [L, C, 3C]
        for i in 0..<c { for o in 0..<(3 * c) { #expect(qkv[o * c + i] == gpt.parameters[start + i * 3 * c + o]) } }
        #expect(try file.floats("output.weight") == file.floats("token_embd.weight"))
        #expect(try file.floats("position_embd.weight").count == 8 * c)
        #expect(file.tensors.count == 4 + 12 * 2 + 1)
    }
}
