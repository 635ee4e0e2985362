import ArgumentParser
import Foundation
import QuarryPipeline
import QuarryTraining

/// `quarry logits`: the model's next-token logits for given token ids (a cross-check aid).
struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's logits for token ids as JSON (for comparing with other implementations).",
        discussion: "One row of logits per position, flattened. A GPT-2 run goes through the training forward pass; "
            + "a GGUF model through generation's key/value cache, one position at a time.",
        shouldDisplay: false)
    @Option(help: "A model directory (config.json + model.safetensors) or a .gguf file.") var model: String
    @Option(help: "Comma-separated token ids.") var tokens: String

    func run() throws {
        try runReporting { try BLAS.load() }
        let ids = TokenIDList.parse(tokens)
        var logits: [Float] = []
        if FileManager.default.fileExists(atPath: model + "/config.json") {
            let gpt = try runReporting { try Checkpoint.load(from: model) }
            try runReporting { _ = try gpt.forward(tokens: ids, targets: nil, B: 1, T: ids.count) }
            logits = Array(gpt.logits())
        } else {
            let generator = try runReporting { try LanguageModel.load(model).generator }
            for id in ids {
                try runReporting { try generator.feed(id) }
                logits += generator.logits
            }
        }
        print("[" + logits.map { String($0) }.joined(separator: ",") + "]")
    }
}
