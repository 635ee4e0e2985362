import ArgumentParser
import Foundation
import QuarryPipeline
import QuarryTraining

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model in another format: a Hugging Face directory or a GGUF file.",
        discussion: """
        --to gguf writes one GGUF v3 file that llama.cpp, Ollama and transformers load: the \
        model's shape and tokenizer in the metadata, the matrices in F32, F16 or Q8_0 (--dtype; \
        norms stay F32), the Q and K projections of Llama models in llama.cpp's rotary layout.

        --to hf writes a directory transformers loads with the same logits: config.json \
        (LlamaForCausalLM or Qwen2ForCausalLM), model.safetensors in F32 or BF16 (--dtype), \
        generation_config.json, tokenizer.json and tokenizer_config.json with the model's chat \
        template. The directory must not exist; it appears whole or not at all.

        A GPT-2 run (pretrain's or finetune's) converts to GGUF as llama.cpp writes GPT-2; it \
        already is a Hugging Face directory.

        Examples:
          quarry convert SmolLM2-135M-Instruct.Q4_1.gguf --to hf --out smollm2/
          quarry convert smollm2/ --to gguf --dtype q8_0 --out smollm2-q8_0.gguf
        """)
    @Argument(help: "The model: a quarry run, a .gguf file, a Llama-family Hugging Face directory, or ORG/NAME[@REVISION] in the Hugging Face cache.") var model: String
    @Option(help: "The format to write: hf (a Hugging Face directory) or gguf.") var to: String
    @Option(help: "The directory (hf) or file (gguf) to write; it must not exist.") var out: String
    @Option(help: "Tensor type: f32 or bf16 for hf; f32, f16 or q8_0 for gguf.") var dtype: String = "f32"

    func validate() throws {
        switch to {
        case "hf": guard ["f32", "bf16"].contains(dtype) else { throw ValidationError("--dtype \(dtype) is not supported with --to hf: f32 or bf16") }
        case "gguf": guard LanguageModel.GGUFType(rawValue: dtype) != nil else { throw ValidationError("--dtype \(dtype) is not supported with --to gguf: f32, f16 or q8_0") }
        default: throw ValidationError("--to \(to) is not supported: quarry writes hf (a Hugging Face directory) or gguf")
        }
    }

    func run() throws {
        let loaded = try runReporting { try LanguageModel.load(model) }
        if to == "gguf", let type = LanguageModel.GGUFType(rawValue: dtype) {
            try runReporting { try loaded.saveGGUF(to: out, type: type) }
        } else {
            try runReporting { try loaded.saveHuggingFace(to: out, bfloat16: dtype == "bf16") }
        }
        printError("wrote \(out) (\(loaded.summary), \(dtype))")
    }
}
