import Foundation
import QuarryCore

/// LoRA adapters in PEFT's layout: `adapter_config.json` and `adapter_model.safetensors`, the
/// tensors named as PEFT names them on a Llama causal LM
/// (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`, A [r, in], B [out, r]) or
/// on GPT-2 (`base_model.model.transformer.h.N.attn.c_attn.lora_A.weight`; its Conv1D weights are
/// [in, out], hence `fan_in_fan_out`), so that `PeftModel.from_pretrained(base, DIR)` puts them on
/// the transformers model.
public enum LoRACheckpoint {
    public static func isAdapterDirectory(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/adapter_config.json")
    }

    public static func save(_ adapters: LoRAAdapters<Float>, layers: Int, base: String, to directory: String, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try SafeTensors.write(directory + "/adapter_model.safetensors",
                              tensors: adapters.namedTensors(layers: layers).map { ($0.name, $0.shape, adapters.parameters[$0.range]) },
                              metadata: metadata.merging(["format": "pt"]) { own, _ in own })
        let c = adapters.config
        let config: JSONValue = .object([
            ("base_model_name_or_path", .string(base)), ("bias", .string("none")), ("fan_in_fan_out", .bool(adapters.family == .gpt2)),
            ("inference_mode", .bool(true)), ("init_lora_weights", .bool(true)), ("lora_alpha", .number(c.alpha)),
            ("lora_dropout", .number(c.dropout)), ("peft_type", .string("LORA")), ("r", .number(Double(c.rank))),
            ("target_modules", .array(c.targets.map { .string(adapters.family.moduleName($0)) })), ("task_type", .string("CAUSAL_LM")),
        ])
        let file = try OutputFile(path: directory + "/adapter_config.json")
        do { try file.write(Array((config.serialized + "\n").utf8)); try file.commit() } catch { file.abandon(); throw error }
    }

    /// The adapter run's settings and the base it names.
    public static func configuration(in directory: String) throws -> (config: LoRAConfig, base: String) {
        let path = directory + "/adapter_config.json"
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? data.withUnsafeBytes({ try JSONValue.parse($0.bindMemory(to: UInt8.self)) }) else {
            throw QuarryError("\(path) is missing or not JSON")
        }
        guard json["peft_type"]?.string == "LORA" else { throw QuarryError("\(path): peft_type \(json["peft_type"]?.string ?? "(none)"); quarry reads LORA") }
        guard let rank = json["r"]?.integer, let alpha = json["lora_alpha"]?.number, let modules = json["target_modules"]?.array?.compactMap(\.string) else {
            throw QuarryError("\(path) lacks r, lora_alpha or target_modules")
        }
        var targets: [LoRATarget] = []
        for module in modules {
            guard let named = LoRATarget.named(module) else {
                throw QuarryError("\(path): target module \(module) is not one quarry adapts (\(LoRATarget.allCases.map(\.moduleName).joined(separator: ", ")), c_proj, c_fc)")
            }
            targets += named.filter { !targets.contains($0) }
        }
        let config = LoRAConfig(rank: rank, alpha: alpha, dropout: json["lora_dropout"]?.number ?? 0, targets: targets)
        try config.validate()
        return (config, json["base_model_name_or_path"]?.string ?? "")
    }

    /// Puts the adapters of `directory` on `model` (a base of the shape they were trained on).
    public static func attach(to model: Llama<Float>, from directory: String) throws {
        try model.attachAdapters(configuration(in: directory).config, seed: 0)
        model.adapters = try read(model.adapters, from: directory)
    }

    /// The same on a GPT-2.
    public static func attach(to model: GPT<Float>, from directory: String) throws {
        try model.attachAdapters(configuration(in: directory).config, seed: 0)
        model.adapters = try read(model.adapters, from: directory)
    }

    private static func read(_ adapters: LoRAAdapters<Float>?, from directory: String) throws -> LoRAAdapters<Float>? {
        guard var adapters else { return nil }
        let tensors = try SafeTensors.read(directory + "/adapter_model.safetensors")
        for (name, shape, range) in adapters.namedTensors(layers: adapters.layers) {
            guard let tensor = tensors[name], tensor.shape == shape, tensor.values.count == range.count else {
                throw QuarryError("\(directory)/adapter_model.safetensors: \(name) is missing or not \(shape) (adapters for another base?)")
            }
            adapters.parameters.replaceSubrange(range, with: tensor.values)
        }
        return adapters
    }
}
