import ArgumentParser
import Foundation
import QuarryPipeline
import QuarryTraining

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a fine-tuned classifier (accuracy, macro-F1, per class, confusion) or a language model (loss, perplexity).",
        discussion: """
        Examples:
          quarry eval --model run2 --data data/test.jsonl --json
          quarry eval --model run2 --data data/test.jsonl --predictions run2/test-predictions.jsonl
          quarry eval --model run1 --data shards/          # loss and perplexity on the val split
        """)
    @Option(help: "A fine-tuned classifier, or a language model for shard data.") var model: String
    @Option(help: "Labelled JSONL, or a `quarry ingest` directory.") var data: String
    @Flag(help: "Print JSON.") var json = false
    @Option(parsing: .unconditional, help: "Windows of this many tokens (language models).") var context: Int = 256
    @Option(parsing: .unconditional, help: "Batches to average (language models).") var batches: Int = 16
    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for matrix products (default: all cores).") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Also write each example's prediction to this JSONL file ({\"id\", \"label\", \"predicted\", \"probabilities\"}; schemas/prediction.schema.json), for reading the errors or averaging several models.") var predictions: String?

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        try runReporting { try BLAS.load(threads: jobs) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory), isDirectory.boolValue {
            let result = try runReporting { try Evaluation.languageModel(model, shards: data, context: context, batches: batches) }
            if json { print(String(format: "{\"loss\":%.6f,\"perplexity\":%.4f}", result.loss, result.perplexity)) }
            else { print(String(format: "loss %.4f, perplexity %.2f (%d windows of %d tokens)", result.loss, result.perplexity, result.windows, result.context)) }
            return
        }
        let report = try runReporting { try Evaluation.classifier(model, data: data, predictions: predictions) }
        if json { try printJSON(report) } else { print(report.table(), terminator: "") }
    }
}
