import Foundation
import QuarryCore
import QuarryLabels
import QuarryTraining

/// A labelling task's answers as fine-tuning data, in memory (`finetune --db`): the answers
/// `quarry export` takes (adjudicated, else agreed), split as `export --split train=0.9,dev=0.1`
/// splits them when no dev set is given.
public struct TaskTrainingData {
    public let exporter: Exporter
    /// Whether a tenth is held out as the dev set (no --dev given).
    public let holdsOutDev: Bool

    public init(db: String, task name: String, holdingOutDev: Bool) throws {
        guard FileManager.default.fileExists(atPath: db) else { throw QuarryError("\(db) does not exist: give the labels database with --db") }
        let store = try LabelStore(path: db)
        var exporter = Exporter(store: store, task: try store.task(named: name))
        exporter.splits = holdingOutDev ? [(Exporter.Split.train.rawValue, 0.9), (Exporter.Split.dev.rawValue, 0.1)]
                                        : [(Exporter.Split.train.rawValue, 1)]
        self.exporter = exporter
        holdsOutDev = holdingOutDev
    }

    public var taskName: String { exporter.task.task.name }

    /// The exported records of the train and dev splits, in the task's order.
    func records() throws -> (train: [Exporter.Record], dev: [Exporter.Record], report: Exporter.Report) {
        var train: [Exporter.Record] = [], dev: [Exporter.Record] = []
        let report = try exporter.forEachRecord { record in
            if record.split == Exporter.Split.dev.rawValue { dev.append(record) } else { train.append(record) }
        }
        return (train, dev, report)
    }

    /// Labelled examples for `--task classify` (single-label classification tasks only); `dev`
    /// is nil when nothing was held out (the caller holds out a tenth, or reads --dev).
    public func classification(encoder: some TokenEncoder, limit: Int) throws
        -> (train: LabelledExamples, dev: LabelledExamples?, report: Exporter.Report) {
        let task = exporter.task.task
        guard task.kind == .classify && !task.multiLabel else {
            throw QuarryError("task \"\(task.name)\" is not a single-label classification task: --task classify needs one label per example")
        }
        let (trainRecords, devRecords, report) = try records()
        var train = LabelledExamples()
        for (n, record) in trainRecords.enumerated() {
            try train.append(text: record.text, label: record.answer.text, id: record.id, place: "task \(task.name) example \(n + 1)",
                             encoder: encoder, limit: limit)
        }
        guard !devRecords.isEmpty else { return (train, nil, report) }
        var dev = LabelledExamples(labels: train.labels)
        for (n, record) in devRecords.enumerated() {
            try dev.append(text: record.text, label: record.answer.text, id: record.id, place: "task \(task.name) dev example \(n + 1)",
                           encoder: encoder, limit: limit)
        }
        return (train, dev, report)
    }

    /// Chats for `--task sft` (any task: the answer is the assistant's turn, after the task's
    /// instructions as the system message, as `export --format chat` writes them).
    public func chats(encoder: some TokenEncoder, endOfText: Int32, limit: Int, format: ChatFormat = .quarry) throws
        -> (train: ChatExamples, dev: ChatExamples?, report: Exporter.Report) {
        let (trainRecords, devRecords, report) = try records()
        let instructions = exporter.task.task.instructions
        func chats(_ records: [Exporter.Record]) -> ChatExamples {
            var chats = ChatExamples()
            for record in records {
                let system = instructions.isEmpty ? [] : [ChatMessage(role: .system, content: instructions)]
                chats.append(system + [ChatMessage(role: .user, content: record.text), ChatMessage(role: .assistant, content: record.answer.text)],
                             encoder: encoder, endOfText: endOfText, limit: limit, format: format)
            }
            return chats
        }
        return (chats(trainRecords), devRecords.isEmpty ? nil : chats(devRecords), report)
    }
}
