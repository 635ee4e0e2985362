import Foundation
import QuarryCore
import QuarryLabels
import QuarryTokenizer
import QuarryTraining

/// A fine-tuned classifier's predictions over a task's examples, into the labels store (`quarry
/// predictions compute`, and `tag --model RUN`, which computes them first). Examples already
/// predicted under the same name are skipped, so an interrupted run resumes.
public struct ClassifierPredictions {
    public let runDirectory: String
    public let classifier: Classifier
    let encoder: BPEEncoder

    /// Loads the run (classifier.safetensors, labels.json, tokenizer.json); BLAS must be loaded.
    public init(runDirectory: String) throws {
        self.runDirectory = runDirectory
        classifier = try Classifier.load(from: runDirectory, model: LanguageModel.runModel(runDirectory))
        encoder = BPEEncoder(model: try TokenizerFile.load(path: runDirectory + "/tokenizer.json"))
    }

    /// The name predictions are stored under by default: the run directory's name.
    public var defaultName: String { URL(fileURLWithPath: runDirectory).standardizedFileURL.lastPathComponent }

    /// The model's labels that the task does not have: stored, but never acceptable as answers.
    public func labelsMissing(from task: LabelTask) -> [String] {
        classifier.labels.filter { !task.labels.contains($0) }
    }

    /// Stores the most likely label and its probability for each unpredicted example of `task`;
    /// returns how many were stored.
    public func store(into store: LabelStore, task: LabelStore.StoredTask, name: String, batch: Int,
                      progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> Int {
        try store.storePredictions(task: task, model: name, batchSize: batch, progress: progress) { texts in
            let ids = texts.map { Classifier.encode($0, encoder: encoder, limit: min(classifier.model.contextLength, classifier.maxTokens ?? Int.max)) }
            return try classifier.probabilities(ids).map { p in
                let best = Classifier.mostLikely(p)
                return (classifier.labels[best], Double(p[best]))
            }
        }
    }
}
