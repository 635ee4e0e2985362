import Foundation
import QuarryCore

/// Llama-family models as Hugging Face directories: `config.json` (LlamaForCausalLM,
/// Qwen2ForCausalLM), `model.safetensors` or shards named by `model.safetensors.index.json`, in
/// F32, BF16 or F16, with Hugging Face's tensor names; written back as F32 or BF16 with a
/// `generation_config.json`, so that transformers loads the run.
public enum LlamaCheckpoint {
    /// The model_type values quarry reads as the Llama family.
    public static let modelTypes = ["llama", "qwen2"]

    public static func config(_ data: Data, path: String) throws -> LlamaConfig {
        guard let json = try? data.withUnsafeBytes({ try JSONValue.parse($0.bindMemory(to: UInt8.self)) }), json.members != nil else {
            throw QuarryError("\(path) is not JSON")
        }
        let type = json["model_type"]?.string ?? "(none)"
        guard let architecture = LlamaConfig.Architecture(rawValue: type) else {
            throw QuarryError("\(path): model_type \(type); quarry reads \(modelTypes.joined(separator: ", ")) and gpt2")
        }
        func required(_ key: String) throws -> Int {
            guard let v = json[key]?.integer else { throw QuarryError("\(path) has no whole-number \(key)") }
            return v
        }
        if let act = json["hidden_act"]?.string, act != "silu" { throw QuarryError("\(path): hidden_act \(act); the Llama family uses silu") }
        if json["mlp_bias"]?.bool == true { throw QuarryError("\(path): MLP biases (mlp_bias) are not supported") }
        // transformers 5 keeps the rotary settings in rope_parameters; earlier versions in
        // rope_theta and rope_scaling.
        let rope = json["rope_parameters"].flatMap { $0.isNull ? nil : $0 }
        for scaling in [rope, json["rope_scaling"]].compactMap({ $0 }) where !scaling.isNull {
            let kind = scaling["rope_type"]?.string ?? scaling["type"]?.string ?? "default"
            if kind != "default" { throw QuarryError("\(path): rotary scaling \(kind) is not supported yet") }
        }
        let heads = try required("num_attention_heads"), width = try required("hidden_size")
        if let headDim = json["head_dim"]?.integer, heads > 0, headDim != width / heads {
            throw QuarryError("\(path): head_dim \(headDim) differs from hidden_size / num_attention_heads (\(width / max(heads, 1)))")
        }
        let config = LlamaConfig(
            architecture: architecture,
            vocabSize: try required("vocab_size"),
            nLayer: try required("num_hidden_layers"),
            nHead: heads,
            nKVHead: json["num_key_value_heads"]?.integer ?? heads,
            nEmbd: width,
            intermediateSize: try required("intermediate_size"),
            nPositions: try required("max_position_embeddings"),
            ropeTheta: rope?["rope_theta"]?.number ?? json["rope_theta"]?.number ?? 10_000,
            rmsNormEps: json["rms_norm_eps"]?.number ?? 1e-6,
            tiedEmbeddings: json["tie_word_embeddings"]?.bool ?? false,
            // Qwen2's q/k/v projections always have biases; Llama's when attention_bias says so.
            attentionBias: architecture == .qwen2 || json["attention_bias"]?.bool == true)
        do { try config.validate() } catch let error as QuarryError { throw QuarryError("\(path): \(error.message)") }
        return config
    }

    /// Whether `directory` holds a Llama-family config.json (not GPT-2's).
    public static func isLlamaDirectory(_ directory: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: directory + "/config.json"),
              let json = try? data.withUnsafeBytes({ try JSONValue.parse($0.bindMemory(to: UInt8.self)) }) else { return false }
        return modelTypes.contains(json["model_type"]?.string ?? "")
    }

    public static func load(from directory: String) throws -> Llama<Float> {
        guard let data = FileManager.default.contents(atPath: directory + "/config.json") else {
            throw QuarryError("\(directory)/config.json not found: not a model directory")
        }
        let config = try config(data, path: directory + "/config.json")
        var parameters = [Float](repeating: 0, count: config.parameterCount)
        let stored = try readTensors(directory)
        for (tensor, layer, shape, range) in config.namedTensors {
            let name = tensor.huggingFaceName(layer: layer)
            guard let found = stored[name] else { throw QuarryError("\(directory) has no tensor \(name)") }
            guard found.shape == shape else { throw QuarryError("\(directory): \(name) has shape \(found.shape); config.json says \(shape)") }
            parameters.replaceSubrange(range, with: found.values)
        }
        return try Llama(config: config, parameters: parameters)
    }

    /// The tensors of `model.safetensors`, or of every shard `model.safetensors.index.json`
    /// names (each a plain file name inside the directory).
    static func readTensors(_ directory: String) throws -> [String: SafeTensors.Tensor] {
        let single = directory + "/model.safetensors", index = directory + "/model.safetensors.index.json"
        if FileManager.default.fileExists(atPath: single) { return try SafeTensors.read(single) }
        guard let data = FileManager.default.contents(atPath: index) else {
            throw QuarryError("\(directory) has neither model.safetensors nor model.safetensors.index.json")
        }
        guard let json = try? JSONValue.parse(Array(data)), let map = json["weight_map"]?.members else {
            throw QuarryError("\(index) has no weight_map")
        }
        var files: [String] = []
        for (_, value) in map {
            guard let file = value.string, !file.isEmpty, !file.contains("/"), file != "..", file != "." else {
                throw QuarryError("\(index) names a shard outside the directory (\(value.string ?? "not a name"))")
            }
            if !files.contains(file) { files.append(file) }
        }
        var out: [String: SafeTensors.Tensor] = [:]
        for file in files.sorted() {
            for (name, tensor) in try SafeTensors.read(directory + "/" + file) { out[name] = tensor }
        }
        return out
    }

    /// Writes config.json, model.safetensors (F32, or BF16) and generation_config.json.
    public static func save(_ model: Llama<Float>, to directory: String, bfloat16: Bool = false,
                            bos: Int32? = nil, eos: Int32? = nil, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let c = model.config
        try SafeTensors.write(directory + "/model.safetensors",
                              tensors: c.namedTensors.map { ($0.tensor.huggingFaceName(layer: $0.layer), $0.shape, model.parameters[$0.range]) },
                              metadata: metadata.merging(["format": "pt"]) { own, _ in own }, bfloat16: bfloat16)
        let id = { (v: Int32?) in v.map { String($0) } ?? "null" }
        let config = """
        {
          "architectures": ["\(c.architecture.huggingFaceClass)"],
          "model_type": "\(c.architecture.rawValue)",
          "vocab_size": \(c.vocabSize),
          "hidden_size": \(c.nEmbd),
          "intermediate_size": \(c.intermediateSize),
          "num_hidden_layers": \(c.nLayer),
          "num_attention_heads": \(c.nHead),
          "num_key_value_heads": \(c.nKVHead),
          "max_position_embeddings": \(c.nPositions),
          "rope_theta": \(c.ropeTheta),
          "rope_parameters": {"rope_type": "default", "rope_theta": \(c.ropeTheta)},
          "rms_norm_eps": \(c.rmsNormEps),
          "hidden_act": "silu",
          "tie_word_embeddings": \(c.tiedEmbeddings),
          "attention_bias": \(c.attentionBias),
          "bos_token_id": \(id(bos)),
          "eos_token_id": \(id(eos)),
          "torch_dtype": "\(bfloat16 ? "bfloat16" : "float32")"
        }

        """
        let generation = "{\n  \"bos_token_id\": \(id(bos)),\n  \"eos_token_id\": \(id(eos))\n}\n"
        for (name, text) in [("config.json", config), ("generation_config.json", generation)] {
            let file = try OutputFile(path: directory + "/" + name)
            do { try file.write(Array(text.utf8)); try file.commit() } catch { file.abandon(); throw error }
        }
    }
}
