import Foundation
import QuarryCore

/// Checkpoints in the Hugging Face GPT-2 layout: `model.safetensors` with the tensor names and
/// shapes of `GPT2LMHeadModel` (Conv1D weights are [in, out], which is also quarry's layout; no
/// `lm_head.weight`, it is tied to `transformer.wte.weight`) and a GPT-2 `config.json`.
public enum Checkpoint {
    /// Named F32 tensors for `model.safetensors`, each a range of the parameter buffer.
    static func tensors(_ config: ModelConfig) -> [(name: String, shape: [Int], range: Range<Int>)] {
        layerSlices(config.tensorShapes, layers: config.nLayer, isPerLayer: \.isPerLayer)
            .map { ($0.tensor.huggingFaceName(layer: $0.layer), $0.shape, $0.range) }
    }

    /// `metadata` joins the header's `__metadata__` (pre-training marks each file of a checkpoint
    /// with its step, so a set from different steps is seen).
    public static func save(_ model: GPT<Float>, to directory: String, endOfTextID: Int32?, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try SafeTensors.write(directory + "/model.safetensors",
                              tensors: tensors(model.config).map { ($0.name, $0.shape, model.parameters[$0.range]) },
                              metadata: metadata.merging(["format": "pt"]) { own, _ in own })
        try writeConfig(model.config, to: directory + "/config.json", endOfTextID: endOfTextID)
    }

    /// The gradients of the last backward pass, under the tensors' Hugging Face names.
    public static func saveGradients(_ model: GPT<Float>, to path: String) throws {
        try SafeTensors.write(path, tensors: tensors(model.config).map { ($0.name, $0.shape, model.gradients[$0.range]) })
    }

    public static func load(from directory: String) throws -> GPT<Float> {
        guard let data = FileManager.default.contents(atPath: directory + "/config.json") else {
            throw QuarryError("\(directory)/config.json not found: not a model directory")
        }
        let config = try readConfig(data, path: directory + "/config.json")
        // The config must describe the file, not more: compared before anything is allocated.
        let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/model.safetensors")[.size] as? Int) ?? nil
        if let size, config.parameterCount > size / 4 {
            throw QuarryError("\(directory)/config.json describes \(config.parameterCount) parameters, more than model.safetensors (\(size) bytes) holds")
        }
        let stored = try SafeTensors.read(directory + "/model.safetensors")
        var parameters = [Float](repeating: 0, count: config.parameterCount)
        for (name, shape, range) in tensors(config) {
            guard let tensor = stored[name] else { throw QuarryError("\(directory)/model.safetensors has no tensor \(name)") }
            guard tensor.shape == shape else {
                throw QuarryError("\(name) has shape \(tensor.shape) in the checkpoint, \(shape) in its config")
            }
            parameters.replaceSubrange(range, with: tensor.values)
        }
        return try GPT<Float>(config: config, parameters: parameters)
    }

    static func writeConfig(_ config: ModelConfig, to path: String, endOfTextID: Int32?) throws {
        let eos = endOfTextID.map { String($0) } ?? "null"
        let json = """
        {
          "architectures": ["GPT2LMHeadModel"],
          "model_type": "gpt2",
          "vocab_size": \(config.vocabSize),
          "n_positions": \(config.nPositions),
          "n_ctx": \(config.nPositions),
          "n_embd": \(config.nEmbd),
          "n_layer": \(config.nLayer),
          "n_head": \(config.nHead),
          "n_inner": null,
          "activation_function": "gelu_new",
          "resid_pdrop": \(config.dropout),
          "embd_pdrop": \(config.dropout),
          "attn_pdrop": \(config.dropout),
          "dropout": \(config.dropout),
          "layer_norm_epsilon": 1e-05,
          "initializer_range": 0.02,
          "scale_attn_weights": true,
          "tie_word_embeddings": true,
          "bos_token_id": \(eos),
          "eos_token_id": \(eos),
          "torch_dtype": "float32"
        }

        """
        let file = try OutputFile(path: path)
        do { try file.write(Array(json.utf8)); try file.commit() } catch { file.abandon(); throw error }
    }

    static func readConfig(_ data: Data, path: String) throws -> ModelConfig {
        guard let json = try? data.withUnsafeBytes({ try JSONValue.parse($0.bindMemory(to: UInt8.self)) }) else {
            throw QuarryError("\(path) is not JSON")
        }
        if let type = json["model_type"]?.string, type != "gpt2" { throw QuarryError("\(path): model_type \(type); quarry trains GPT-2 models") }
        if let activation = json["activation_function"]?.string, !["gelu_new", "gelu_pytorch_tanh"].contains(activation) {
            throw QuarryError("\(path): activation \(activation); quarry's GPT-2 uses GELU with the tanh approximation")
        }
        guard let v = json["vocab_size"]?.integer, let l = json["n_layer"]?.integer, let h = json["n_head"]?.integer,
              let c = json["n_embd"]?.integer, let p = json["n_positions"]?.integer else {
            throw QuarryError("\(path) lacks one of vocab_size, n_layer, n_head, n_embd, n_positions")
        }
        let config = ModelConfig(vocabSize: v, nLayer: l, nHead: h, nEmbd: c, nPositions: p,
                                 dropout: json["dropout"]?.number ?? json["resid_pdrop"]?.number ?? 0)
        try config.validate()
        return config
    }
}

/// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data. Read: F32, BF16 and F16
/// (as F32); written: F32, or BF16 (rounded to nearest even) for Hugging Face directories.
public enum SafeTensors {
    static let elementBytes = ["F32": 4, "BF16": 2, "F16": 2]

    public struct Tensor { public var shape: [Int]; public var values: [Float] }

    public static func write(_ path: String, tensors: [(String, [Int], ArraySlice<Float>)], metadata: [String: String] = ["format": "pt"],
                             bfloat16: Bool = false) throws {
        var header: [(String, JSONValue)] = [("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))]
        var offset = 0
        let width = bfloat16 ? 2 : 4
        for (name, shape, values) in tensors {
            let bytes = values.count * width
            header.append((name, .object([("dtype", .string(bfloat16 ? "BF16" : "F32")), ("shape", .array(shape.map { .number(Double($0)) })),
                                          ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + bytes))]))])))
            offset += bytes
        }
        var headerBytes = Array(JSONValue.object(header).serialized.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        let file = try OutputFile(path: path)
        do {
            var prefix: [UInt8] = []
            var length = UInt64(headerBytes.count).littleEndian
            withUnsafeBytes(of: &length) { prefix.append(contentsOf: $0) }
            try file.write(prefix + headerBytes)
            for (_, _, values) in tensors {
                var chunk: [UInt8] = []
                chunk.reserveCapacity(values.count * width)
                if bfloat16 {
                    for v in values { let b = bfloat16Bits(v); chunk.append(UInt8(b & 0xFF)); chunk.append(UInt8(b >> 8)) }
                } else {
                    for v in values { var le = v.bitPattern.littleEndian; withUnsafeBytes(of: &le) { chunk.append(contentsOf: $0) } }
                }
                try file.write(chunk)
            }
            try file.commit()
        } catch {
            file.abandon()
            throw error
        }
    }

    /// The file's bytes, its parsed header and where the tensor data begins.
    static func header(_ path: String) throws -> (data: Data, members: [(String, JSONValue)], base: Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw QuarryError("cannot read \(path)") }
        guard data.count >= 8 else { throw QuarryError("\(path) is not a safetensors file (too short)") }
        let declared = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared > 0, declared <= UInt64(data.count - 8) else {
            throw QuarryError("\(path) is not a safetensors file (its header length \(declared) is past the end of the file)")
        }
        let length = Int(declared)
        guard let header = try? JSONValue.parse(Array(data[8..<(8 + length)])), let members = header.members else {
            throw QuarryError("\(path): the safetensors header is not JSON")
        }
        return (data, members, 8 + length)
    }

    /// The header's `__metadata__` strings, reading the header only.
    public static func metadata(_ path: String) throws -> [String: String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw QuarryError("cannot read \(path)") }
        defer { try? handle.close() }
        let prefix = (try? handle.read(upToCount: 8)) ?? Data()
        guard prefix.count == 8 else { throw QuarryError("\(path) is not a safetensors file (too short)") }
        let declared = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let size = (try? handle.seekToEnd()) ?? 0
        guard declared > 0, declared <= size &- 8 else { throw QuarryError("\(path) is not a safetensors file (bad header length)") }
        try handle.seek(toOffset: 8)
        guard let bytes = try handle.read(upToCount: Int(declared)), bytes.count == Int(declared),
              let members = (try? JSONValue.parse(Array(bytes)))?.members else {
            throw QuarryError("\(path): the safetensors header is not JSON")
        }
        return metadata(of: members)
    }

    static func metadata(of members: [(String, JSONValue)]) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in members.first(where: { $0.0 == "__metadata__" })?.1.members ?? [] {
            if let string = value.string { out[key] = string }
        }
        return out
    }

    public static func read(_ path: String) throws -> [String: Tensor] {
        try readWithMetadata(path).tensors
    }

    /// The tensors and the `__metadata__` strings, from one read of the file.
    public static func readWithMetadata(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let (data, members, base) = try header(path)
        var out: [String: Tensor] = [:]
        var ranges: [(range: Range<Int>, name: String)] = []
        for (name, info) in members where name != "__metadata__" {
            guard let dtype = info["dtype"]?.string, let shapeValues = info["shape"]?.array,
                  let rangeValues = info["data_offsets"]?.array, rangeValues.count == 2 else {
                throw QuarryError("\(path): tensor \(name) has no dtype/shape/offsets")
            }
            guard let width = Self.elementBytes[dtype] else {
                throw QuarryError("\(path): tensor \(name) is \(dtype); quarry reads F32, BF16 and F16 tensors")
            }
            // Every number is the file's own: checked against the file before any memory is touched.
            let shape = shapeValues.compactMap(\.integer), range = rangeValues.compactMap(\.integer)
            guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }), range.count == 2 else {
                throw QuarryError("\(path): tensor \(name) has a shape or byte range that is not whole non-negative numbers")
            }
            var count: Int? = 1
            for d in shape {
                let product = count?.multipliedReportingOverflow(by: d)
                count = product?.overflow == false ? product?.partialValue : nil
            }
            let dataBytes = data.count - base
            guard let count, count <= dataBytes / width, range[0] >= 0, range[0] <= range[1], range[1] <= dataBytes,
                  range[1] - range[0] == count * width else {
                throw QuarryError("\(path): tensor \(name)'s byte range \(range) does not match its shape \(shape) within the file's \(dataBytes) data bytes (a damaged or truncated file)")
            }
            ranges.append((range[0]..<range[1], name))
            var values = [Float](repeating: 0, count: count)
            data.withUnsafeBytes { raw in
                let at = base + range[0]
                switch dtype {
                case "BF16":
                    for i in 0..<count { values[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at + i * 2, as: UInt16.self))) << 16) }
                case "F16":
                    for i in 0..<count { values[i] = GGMLDequantize.halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at + i * 2, as: UInt16.self))) }
                default:
                    for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at + i * 4, as: UInt32.self))) }
                }
            }
            out[name] = Tensor(shape: shape, values: values)
        }
        ranges.sort { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(ranges, ranges.dropFirst()) where a.range.overlaps(b.range) {
            throw QuarryError("\(path): tensors \(a.name) and \(b.name) share bytes (a damaged file)")
        }
        return (out, metadata(of: members))
    }

    /// float32 → bfloat16 bits, rounding to nearest even as PyTorch's `.to(torch.bfloat16)` does.
    static func bfloat16Bits(_ v: Float) -> UInt16 {
        let bits = v.bitPattern
        if v.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
