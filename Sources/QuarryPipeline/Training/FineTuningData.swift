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
    static func recordsFile(_ path: String, split: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return path }
        return try LabelledShardsExport.records(of: path, split: split)
    }

    /// Labelled examples for `--task classify` (the label names in `labels` order the head).
    public func classification(encoder: some TokenEncoder, limit: Int) throws -> (set: FineTuningSet<LabelledExample>, labels: [String]) {
        var notes: [String] = []
        var train: LabelledExamples
        var dev: LabelledExamples?
        var trainName: String
        switch self {
        case .files(let trainPath, let devPath):
            trainName = try Self.recordsFile(trainPath, split: "train")
            train = LabelledExamples()
            try train.read(trainName, encoder: encoder, limit: limit)
            if let devPath {
                dev = LabelledExamples(labels: train.labels)
                try dev?.read(try Self.recordsFile(devPath, split: "dev"), encoder: encoder, limit: limit)
            }
        case .labelsTask(let db, let name, let devPath):
            let task = try TaskTrainingData(db: db, task: name, holdingOutDev: devPath == nil)
            let data = try task.classification(encoder: encoder, limit: limit)
            notes.append(Self.note(task: task.taskName, data.report))
            (train, dev, trainName) = (data.train, data.dev, "task \(name)")
            if let devPath {
                dev = LabelledExamples(labels: train.labels)
                try dev?.read(try Self.recordsFile(devPath, split: "dev"), encoder: encoder, limit: limit)
            }
        }
        guard !train.examples.isEmpty else { throw QuarryError("no labelled examples to train on") }
        var set: FineTuningSet<LabelledExample>
        let labels: [String]
        if let dev {
            set = FineTuningSet(train: train.examples, dev: dev.examples, devWasHeldOut: false, notes: notes)
            labels = dev.labels
        } else {
            var split = HeldOutTenth.Split(train.examples, texts: train.texts)
            try split.balance(file: trainName)
            notes.append(split.summary)
            set = FineTuningSet(train: split.kept, dev: split.heldOut, devWasHeldOut: true, notes: notes)
            labels = train.labels
        }
        guard labels.count >= 2 else { throw QuarryError("the training set has fewer than two labels") }
        return (set, labels)
    }

    /// Chats for `--task sft`; chats whose prompt fills the context are left out and counted.
    public func chats(encoder: some TokenEncoder, endOfText: Int32, limit: Int) throws -> FineTuningSet<ChatExample> {
        var notes: [String] = []
        var train: ChatExamples
        var dev: ChatExamples?
        var trainName: String
        switch self {
        case .files(let trainPath, let devPath):
            trainName = try Self.recordsFile(trainPath, split: "train")
            train = try ChatExamples.read(trainName, encoder: encoder, endOfText: endOfText, limit: limit)
            if let devPath {
                dev = try ChatExamples.read(try Self.recordsFile(devPath, split: "dev"), encoder: encoder, endOfText: endOfText, limit: limit)
            }
        case .labelsTask(let db, let name, let devPath):
            let task = try TaskTrainingData(db: db, task: name, holdingOutDev: devPath == nil)
            let data = try task.chats(encoder: encoder, endOfText: endOfText, limit: limit)
            notes.append(Self.note(task: task.taskName, data.report))
            (train, dev, trainName) = (data.train, data.dev, "task \(name)")
            if let devPath {
                dev = try ChatExamples.read(try Self.recordsFile(devPath, split: "dev"), encoder: encoder, endOfText: endOfText, limit: limit)
            }
        }
        guard !train.examples.isEmpty else { throw QuarryError("no chat with an assistant turn to train on in \(trainName)") }
        var set: FineTuningSet<ChatExample>
        if let dev {
            set = FineTuningSet(train: train.examples, dev: dev.examples, devWasHeldOut: false, notes: notes)
        } else {
            var split = HeldOutTenth.Split(train.examples, texts: train.texts)
            try split.balance(file: trainName)
            notes.append(split.summary)
            set = FineTuningSet(train: split.kept, dev: split.heldOut, devWasHeldOut: true, notes: notes)
        }
        guard !set.train.isEmpty, !set.dev.isEmpty else {
            throw QuarryError("too few chats to hold out a dev set: give at least two, or --dev FILE")
        }
        let tooLong = train.tooLong + (dev?.tooLong ?? 0)
        if tooLong > 0 { set.notes.append("warning: \(tooLong) chat(s) left out: their prompt fills the model's context of \(limit) tokens") }
        return set
    }

    static func note(task: String, _ report: Exporter.Report) -> String {
        "task \(task): " + report.written.sorted { $0.key > $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            + (report.disagreements > 0 ? ", \(report.disagreements) left out (annotators disagree; adjudicate with `quarry review`)" : "")
    }
}
