import ArgumentParser
import Foundation
import QuarryPipeline
import QuarryTraining

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model in another format (a GGUF file as a Hugging Face directory).",
        discussion: """
        --to hf writes a directory transformers loads with the same logits: config.json \
        (LlamaForCausalLM or Qwen2ForCausalLM), model.safetensors in F32 or BF16 (--dtype), \
        generation_config.json, tokenizer.json and tokenizer_config.json with the model's chat \
        template. The directory must not exist; it appears whole or not at all.

        Example:
          quarry convert SmolLM2-135M-Instruct.Q4_1.gguf --to hf --out smollm2/
        """)
    @Argument(help: "The model: a .gguf file or a Llama-family Hugging Face directory.") var model: String
    @Option(help: "The format to write: hf.") var to: String
    @Option(help: "The directory to write.") var out: String
    @Option(help: "Tensor type: f32 or bf16.") var dtype: String = "f32"

    func validate() throws {
        guard to == "hf" else { throw ValidationError("--to \(to) is not supported: quarry writes hf (a Hugging Face directory)") }
        guard ["f32", "bf16"].contains(dtype) else { throw ValidationError("--dtype \(dtype) is not supported with --to hf: f32 or bf16") }
    }

    func run() throws {
        let loaded = try runReporting { try LanguageModel.load(model) }
        try runReporting { try loaded.saveHuggingFace(to: out, bfloat16: dtype == "bf16") }
        printError("wrote \(out) (\(loaded.summary), \(dtype))")
    }
}
