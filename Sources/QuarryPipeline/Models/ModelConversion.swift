import Foundation
import QuarryCore
import QuarryTokenizer
import QuarryTraining

/// A loaded model written in another format.
extension LanguageModel {
    /// A Hugging Face directory transformers loads: config.json, model.safetensors (F32 or BF16),
    /// generation_config.json, tokenizer.json and tokenizer_config.json (the chat template and
    /// the end-of-sequence token). Written into a staging directory renamed into place, so a
    /// failure leaves nothing half-written at `directory`.
    public func saveHuggingFace(to directory: String, bfloat16: Bool) throws {
        let llama = (generator as? LlamaGenerator)?.model, gpt = (generator as? Generator)?.model
        guard llama != nil || gpt != nil else { throw QuarryError("this model cannot be written as a Hugging Face directory") }
        if gpt != nil && bfloat16 { throw QuarryError("a GPT-2 is written in F32 (its run directory already is a Hugging Face GPT-2 directory)") }
        guard !FileManager.default.fileExists(atPath: directory) else {
            throw QuarryError("\(directory) already exists: give a new directory to --out")
        }
        let parent = (directory as NSString).deletingLastPathComponent
        let staging = (parent.isEmpty ? "." : parent) + "/.\((directory as NSString).lastPathComponent).tmp-\(UInt32.random(in: 0...UInt32.max))"
        do {
            // A GPT-2 here is an adapter run's base with the adapters folded in (a plain run already is this directory).
            if let llama { try LlamaCheckpoint.save(llama, to: staging, bfloat16: bfloat16, bos: nil, eos: endOfText) }
            if let gpt { try Checkpoint.save(gpt, to: staging, endOfTextID: endOfText) }
            try TokenizerFile.save(tokenizer, to: staging + "/tokenizer.json")
            let context = llama?.config.nPositions ?? gpt?.config.nPositions ?? 0
            var members: [(String, JSONValue)] = [("tokenizer_class", .string("PreTrainedTokenizerFast")),
                                                  ("model_max_length", .number(Double(context)))]
            if let eos = endOfText, let text = try? tokenizer.decode([eos]) { members.append(("eos_token", .string(text))) }
            if let chatTemplate { members.append(("chat_template", .string(chatTemplate))) }
            let file = try OutputFile(path: staging + "/tokenizer_config.json")
            do { try file.write(Array((JSONValue.object(members).serialized + "\n").utf8)); try file.commit() } catch { file.abandon(); throw error }
            try FileManager.default.moveItem(atPath: staging, toPath: directory)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }
}

extension LanguageModel {
    /// The tensor types `saveGGUF` writes the matrices in (1-D tensors stay F32, as llama.cpp keeps them).
    public enum GGUFType: String, CaseIterable, Sendable { case f32, f16, q8_0 }

    /// A GGUF v3 file llama.cpp, Ollama and transformers load: the model's shape and its
    /// tokenizer in the metadata (llama.cpp's keys and types), the Q and K projections of
    /// `llama` models in llama.cpp's rotary layout, written to a temporary file renamed into place.
    public func saveGGUF(to path: String, type: GGUFType) throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw QuarryError("\(path) already exists: give a new file to --out") }
        var writer = GGUFWriter()
        let tensors: [(name: String, shape: [Int], values: [Float])]
        if let llama = (generator as? LlamaGenerator)?.model {
            let c = llama.config, arch = c.architecture.rawValue
            writer.set("general.architecture", .string(arch))
            for (key, value) in [("block_count", c.nLayer), ("context_length", c.nPositions), ("embedding_length", c.nEmbd),
                                 ("feed_forward_length", c.intermediateSize), ("attention.head_count", c.nHead),
                                 ("attention.head_count_kv", c.nKVHead), ("vocab_size", c.vocabSize), ("rope.dimension_count", c.headSize)] {
                writer.set("\(arch).\(key)", uint32: value)
            }
            writer.set("\(arch).rope.freq_base", float32: c.ropeTheta)
            writer.set("\(arch).attention.layer_norm_rms_epsilon", float32: c.rmsNormEps)
            tensors = c.namedTensors.map { tensor, layer, shape, range in
                var values = Array(llama.parameters[range])
                if c.architecture == .llama, tensor == .query || tensor == .key {
                    values = LlamaGGUF.permuteRotaryRows(values, heads: tensor == .query ? c.nHead : c.nKVHead, columns: c.nEmbd)
                }
                return (tensor.ggufName(layer: layer), shape, values)
            }
        } else if let gpt = (generator as? Generator)?.model {
            // GGUF readers take the vocabulary's size from the token list.
            guard gpt.config.vocabSize == tokenizer.vocabularySize else {
                throw QuarryError("the model's vocabulary (\(gpt.config.vocabSize)) differs from its tokenizer's (\(tokenizer.vocabularySize)): GGUF needs one token per embedding row")
            }
            GPT2GGUF.setShape(gpt.config, in: &writer)
            tensors = GPT2GGUF.tensors(gpt)
        } else {
            throw QuarryError("this model cannot be written as GGUF")
        }
        writer.set("general.name", .string(summary.components(separatedBy: ":").first ?? "model"))
        writer.set("general.file_type", uint32: [GGUFType.f32: 0, .f16: 1, .q8_0: 7][type] ?? 0)
        setTokenizer(in: &writer)
        for (name, shape, values) in tensors {
            switch type {
            case _ where shape.count == 1: writer.add(name, shape: shape, floats: values)
            case .f16: writer.add(name, shape: shape, type: .f16, bytes: GGUFWriter.f16(values[...]))
            case .q8_0 where shape[shape.count - 1] % 32 == 0: writer.add(name, shape: shape, type: .q8_0, bytes: GGUFWriter.q8_0(values[...]))
            default: writer.add(name, shape: shape, floats: values)
            }
        }
        try writer.write(to: path)
    }

    /// The tokenizer in llama.cpp's keys: tokens, their types (control for special added tokens,
    /// user-defined for the others), merges, the pre-tokenizer's llama.cpp name, end of text,
    /// chat template.
    func setTokenizer(in writer: inout GGUFWriter) {
        let pre: [PreTokenization: String] = [.gpt2: "gpt-2", .gpt2IndividualDigits: "smollm", .llama3: "llama-bpe", .qwen2: "qwen2"]
        writer.set("tokenizer.ggml.model", .string("gpt2"))
        writer.set("tokenizer.ggml.pre", .string(pre[tokenizer.preTokenization] ?? "gpt-2"))
        var types = [Int](repeating: 1, count: tokenizer.vocabularySize)
        for token in tokenizer.addedTokens where Int(token.id) < types.count { types[Int(token.id)] = token.special ? 3 : 4 }
        writer.set("tokenizer.ggml.tokens", .array(tokenizer.tokenStrings.map { .string($0) }))
        writer.set("tokenizer.ggml.token_type", int32s: types)
        writer.set("tokenizer.ggml.merges", .array(tokenizer.merges.map {
            .string(tokenizer.tokenStrings[Int($0.left)] + " " + tokenizer.tokenStrings[Int($0.right)])
        }))
        if let eos = endOfText { writer.set("tokenizer.ggml.eos_token_id", uint32: Int(eos)) }
        writer.set("tokenizer.ggml.add_bos_token", .bool(false))
        if let chatTemplate { writer.set("tokenizer.chat_template", .string(chatTemplate)) }
    }
}
