import ArgumentParser
import QuarryCore
import QuarryLabels
import QuarryPipeline
import QuarryTraining

struct PredictionsCompute: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compute",
        abstract: "Run a fine-tuned classifier over a task's examples and store its predictions.",
        discussion: """
        Examples the model has already predicted are skipped, so an interrupted run resumes. \
        The predictions are stored under --model (default: the run directory's name).
        Example:
          quarry finetune --from run1 --train train.jsonl --out run2
          quarry predictions compute sections --run run2
          quarry tag sections --model run2 --order uncertain
        """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Option(name: .customLong("run"), help: "A directory written by `quarry finetune --task classify`.") var runDirectory: String
    @Option(help: "The name to store the predictions under (used with quarry tag --model).") var model: String?
    @Option(parsing: .unconditional, help: "Examples per forward pass.") var batch: Int = 16

    func run() throws {
        guard batch >= 1 else { printError("error: --batch must be at least 1"); throw ExitCode(1) }
        let (store, stored) = try database.open(task: task)
        _ = try Self.store(runDirectory: runDirectory, name: model, batch: batch, into: store, task: stored)
    }

    /// Stores the run's predictions for the task's unpredicted examples (also `tag --model RUN`);
    /// returns the name they are stored under.
    static func store(runDirectory: String, name: String?, batch: Int, into store: LabelStore, task: LabelStore.StoredTask) throws -> String {
        try runReporting { try BLAS.load() }
        let predictions = try runReporting { try ClassifierPredictions(runDirectory: runDirectory) }
        let foreign = predictions.labelsMissing(from: task.task)
        if !foreign.isEmpty {
            printError("warning: the model's label(s) \(foreign.joined(separator: ", ")) are not in task \(task.task.name)'s labels; they are stored but cannot be accepted as answers")
        }
        let name = name ?? predictions.defaultName
        let progress = ProgressLine(label: "predicting", enabled: progressEnabled())
        let n = try runReporting {
            try predictions.store(into: store, task: task, name: name, batch: batch) { progress.update(done: $0, of: $1) }
        }
        progress.finish()
        printError("\(n) prediction(s) stored for model \(name)")
        return name
    }
}
