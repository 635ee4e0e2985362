import ArgumentParser
import Foundation
import QuarryPipeline
import QuarryTraining

/// `quarry logits`: the model's next-token logits for given token ids (a cross-check aid).
struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's logits for token ids as JSON (for comparing with other implementations).",
        discussion: "One row of logits per position, flattened, from the training forward pass: a GPT-2 run, "
            + "a Llama-family Hugging Face directory or a .gguf file.",
        shouldDisplay: false)
    @Option(help: "A model directory (config.json + model.safetensors) or a .gguf file.") var model: String
    @Option(help: "Comma-separated token ids.") var tokens: String

    func run() throws {
        try runReporting { try BLAS.load() }
        let ids = TokenIDList.parse(tokens)
        var logits: [Float] = []
        if let llama = try runReporting({ try LanguageModel.llama(model) }) {
            // The batched forward pass (the one training uses), all positions at once.
            try runReporting { _ = try llama.forward(tokens: ids, targets: nil, B: 1, T: ids.count) }
            logits = Array(llama.logits())
        } else {
            // A GPT-2 run, or an adapter run on one (the adapters applied as they train).
            let loaded = try runReporting { try LanguageModel.runModel(model) }
            guard let gpt = loaded as? GPT<Float> else { throw ValidationError("\(model) is not a model quarry runs") }
            try runReporting { _ = try gpt.forward(tokens: ids, targets: nil, B: 1, T: ids.count) }
            logits = Array(gpt.logits())
        }
        print("[" + logits.map { String($0) }.joined(separator: ",") + "]")
    }
}
