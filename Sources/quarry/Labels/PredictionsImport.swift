import ArgumentParser
import QuarryLabels

struct PredictionsImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load predictions: JSONL with the example's text (or id), a label and a confidence.",
        discussion: "Example:\n  quarry predictions import sections --model run1 predictions.jsonl")
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Option(help: "The model's name (used with quarry tag --model).") var model: String
    @Argument(help: "A JSONL file of predictions.") var file: String

    func run() throws {
        let (store, stored) = try database.open(task: task)
        let (n, unmatched) = try runReporting { try store.importPredictions(task: stored, model: model, path: file) }
        printError("\(n) prediction(s) stored for model \(model)" + (unmatched > 0 ? "; \(unmatched) line(s) matched no example or were malformed" : ""))
    }
}
