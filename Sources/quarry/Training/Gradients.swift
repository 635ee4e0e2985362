import ArgumentParser
import Foundation
import QuarryTraining

/// `quarry gradients`: loss and parameter gradients for one batch, as safetensors in the
/// Hugging Face names (a cross-check aid for scripts/crosscheck-gradients).
struct Gradients: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's loss and gradients for one batch (for comparing with PyTorch).",
        shouldDisplay: false)
    @Option(help: "A model directory.") var model: String
    @Option(help: "Comma-separated token ids, B×(T+1) row by row.") var tokens: String
    @Option(parsing: .unconditional, help: "Sequences in the batch.") var batch: Int = 1
    @Option(name: [.short, .long], help: "Output safetensors file.") var out: String
    @Option(help: "Comma-separated target positions (row-major in B×T) that carry no loss, as sft's prompt tokens.") var ignore: String = ""

    func run() throws {
        try runReporting { try BLAS.load() }
        let gpt = try runReporting { try Checkpoint.load(from: model) }
        let ids = TokenIDList.parse(tokens)
        guard batch >= 1, ids.count % batch == 0, ids.count / batch >= 2 else {
            printError("error: --tokens must hold --batch rows of at least 2 ids")
            throw ExitCode(1)
        }
        let ignored = ignore.split(separator: ",").compactMap { Int($0) }
        let loss = try runReporting { try gpt.lossAndGradients(rows: ids, batch: batch, ignoring: ignored) }
        try runReporting { try Checkpoint.saveGradients(gpt, to: out) }
        print(String(format: "%.9g", loss))
    }
}
