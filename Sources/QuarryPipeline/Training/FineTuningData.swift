import Foundation
import QuarryCore
import QuarryLabels
import QuarryTraining

/// Where `quarry finetune` takes its examples from.
public enum FineTuningSource {
    /// `--train` (a JSONL file, or a `quarry export --format shards` directory, whose records
    /// file is read) and `--dev` (the same kinds; nil: a tenth of train is held out).
    case files(train: String, dev: String?)
    /// `--db` with `--labels-task`: a labelling task's answers, in memory; `dev` as above (nil:
    /// the task's own dev split, as `export --split train=0.9,dev=0.1` makes it).
    case labelsTask(db: String, name: String, dev: String?)
}

/// Training and dev examples, and what the user should be told about them.
public struct FineTuningSet<Example> {
    public var train: [Example]
    public var dev: [Example]
    /// Whether dev was held out of the training examples (no dev set was given).
    public var devWasHeldOut: Bool
    /// Lines for the user: where the examples came from, what was held out or left out.
    public var notes: [String]
}

extension FineTuningSource {
    /// A records file: a JSONL file as given, or an export directory's records of `split`.
    static func recordsFile(_ path: String, split: Exporter.Split) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return path }
        return try LabelledShardsExport.records(of: path, split: split.rawValue)
    }

    /// The training examples and the dev set given (nil: none was), read by `readFile` (dev with
    /// the training set known, for its label names) or taken from the task by `fromTask`.
    func load<Examples>(readFile: (String, _ train: Examples?) throws -> Examples,
                        fromTask: (TaskTrainingData) throws -> (train: Examples, dev: Examples?, report: Exporter.Report))
        throws -> (train: Examples, dev: Examples?, trainName: String, notes: [String]) {
        let train: Examples, trainName: String, devPath: String?
        var dev: Examples?
        var notes: [String] = []
        switch self {
        case .files(let trainPath, let devFile):
            trainName = try Self.recordsFile(trainPath, split: .train)
            train = try readFile(trainName, nil)
            devPath = devFile
        case .labelsTask(let db, let name, let devFile):
            let task = try TaskTrainingData(db: db, task: name, holdingOutDev: devFile == nil)
            let data = try fromTask(task)
            notes.append(Self.note(task: task.taskName, data.report))
            (train, dev, trainName, devPath) = (data.train, data.dev, "task \(name)", devFile)
        }
        if let devPath { dev = try readFile(try Self.recordsFile(devPath, split: .dev), train) }
        return (train, dev, trainName, notes)
    }

    /// Labelled examples for `--task classify` (the label names in `labels` order the head).
    public func classification(encoder: some TokenEncoder, limit: Int) throws -> (set: FineTuningSet<LabelledExample>, labels: [String]) {
        let (train, dev, trainName, notes) = try load(readFile: { path, train in
            var examples = LabelledExamples(labels: train?.labels ?? [])
            try examples.read(path, encoder: encoder, limit: limit)
            return examples
        }, fromTask: { try $0.classification(encoder: encoder, limit: limit) })
        guard !train.examples.isEmpty else { throw QuarryError("no labelled examples to train on") }
        let set: FineTuningSet<LabelledExample>
        let labels: [String]
        if let dev {
            set = FineTuningSet(train: train.examples, dev: dev.examples, devWasHeldOut: false, notes: notes)
            labels = dev.labels
        } else {
            set = try Self.holdingOutATenth(train.examples, texts: train.texts, of: trainName, notes: notes)
            labels = train.labels
        }
        guard labels.count >= 2 else { throw QuarryError("the training set has fewer than two labels") }
        return (set, labels)
    }

    /// Chats for `--task sft`; chats whose prompt fills the context are left out and counted.
    /// `format`: the model's chat template (quarry's plain one for GPT-2 and models without one).
    public func chats(encoder: some TokenEncoder, endOfText: Int32, limit: Int, format: ChatFormat = .quarry) throws -> FineTuningSet<ChatExample> {
        let (train, dev, trainName, notes) = try load(readFile: { path, _ in
            try ChatExamples.read(path, encoder: encoder, endOfText: endOfText, limit: limit, format: format)
        }, fromTask: { try $0.chats(encoder: encoder, endOfText: endOfText, limit: limit, format: format) })
        guard !train.examples.isEmpty else { throw QuarryError("no chat with an assistant turn to train on in \(trainName)") }
        var set = try dev.map { FineTuningSet(train: train.examples, dev: $0.examples, devWasHeldOut: false, notes: notes) }
            ?? Self.holdingOutATenth(train.examples, texts: train.texts, of: trainName, notes: notes)
        guard !set.train.isEmpty, !set.dev.isEmpty else {
            throw QuarryError("too few chats to hold out a dev set: give at least two, or --dev FILE")
        }
        let tooLong = train.tooLong + (dev?.tooLong ?? 0)
        if tooLong > 0 { set.notes.append("warning: \(tooLong) chat(s) left out: their prompt fills the model's context of \(limit) tokens") }
        return set
    }

    /// The held-out tenth of the training examples as the dev set (`HeldOutTenth`).
    static func holdingOutATenth<Example>(_ examples: [Example], texts: [String], of name: String, notes: [String]) throws -> FineTuningSet<Example> {
        var split = HeldOutTenth.Split(examples, texts: texts)
        try split.balance(file: name)
        return FineTuningSet(train: split.kept, dev: split.heldOut, devWasHeldOut: true, notes: notes + [split.summary])
    }

    static func note(task: String, _ report: Exporter.Report) -> String {
        "task \(task): " + report.written.sorted { $0.key > $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            + (report.disagreements > 0 ? ", \(report.disagreements) left out (annotators disagree; adjudicate with `quarry review`)" : "")
    }
}
