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
        guard let llama = (generator as? LlamaGenerator)?.model else {
            throw QuarryError("converting GPT-2 runs is not supported yet: their run directory already is a Hugging Face GPT-2 directory")
        }
        guard !FileManager.default.fileExists(atPath: directory) else {
            throw QuarryError("\(directory) already exists: give a new directory to --out")
        }
        let parent = (directory as NSString).deletingLastPathComponent
        let staging = (parent.isEmpty ? "." : parent) + "/.\((directory as NSString).lastPathComponent).tmp-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try LlamaCheckpoint.save(llama, to: staging, bfloat16: bfloat16, bos: nil, eos: endOfText)
            try TokenizerFile.save(tokenizer, to: staging + "/tokenizer.json")
            var members: [(String, JSONValue)] = [("tokenizer_class", .string("PreTrainedTokenizerFast")),
                                                  ("model_max_length", .number(Double(llama.config.nPositions)))]
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
