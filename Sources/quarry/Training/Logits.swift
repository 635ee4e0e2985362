import ArgumentParser
import Foundation
import QuarryTraining

/// `quarry logits`: the model's next-token logits for given token ids (a cross-check aid).
struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's logits for token ids as JSON (for comparing with other implementations).",
        shouldDisplay: false)
    @Option(help: "A model directory (config.json + model.safetensors).") var model: String
    @Option(help: "Comma-separated token ids.") var tokens: String

    func run() throws {
        try runReporting { try BLAS.load() }
        let gpt = try runReporting { try Checkpoint.load(from: model) }
        let ids = TokenIDList.parse(tokens)
        try runReporting { _ = try gpt.forward(tokens: ids, targets: nil, B: 1, T: ids.count) }
        let logits = gpt.logits()
        print("[" + logits.map { String($0) }.joined(separator: ",") + "]")
    }
}
