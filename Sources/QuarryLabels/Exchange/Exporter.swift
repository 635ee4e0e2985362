import Foundation
import GRDB
import QuarryCore

/// `quarry export`: labelled examples as fine-tuning sets.
/// - `jsonl`: `{"text", "label"}` (a list for multi-label tasks, `spans` for span tasks,
///   `response` for response tasks), HF-datasets style;
/// - `chat`: `{"messages": [system (the instructions, if any), user (the text), assistant (the answer)]}`;
/// - `shards`: each example rendered as `TEXT\n\nlabel: LABEL` (or `response: …`) and tokenized
///   into the formats `quarry ingest` writes (QuarryPipeline's `LabelledShardsExport`, which takes
///   the records from here).
/// Which answer: `--annotator WHO`'s, or `--adjudicated` only; by default the adjudicated answer
/// when there is one, else the annotators' answer when they all agree (disagreements are
/// counted and left out). Splits are chosen by hash, near-duplicates together (`NearDuplicateGroups`
/// over all the task's texts), so they are the same on every export of the same examples.
public struct Exporter {
    public enum Format: String, CaseIterable, Sendable { case jsonl, chat, shards }
    public enum Source: Sendable, Equatable { case consensus, annotator(String), adjudicated }

    public let store: LabelStore
    public let task: LabelStore.StoredTask
    public var format: Format = .jsonl
    public var source: Source = .consensus
    public var splits: [(name: String, fraction: Double)] = [(Split.train.rawValue, 1)]

    /// The split names fine-tuning reads: train, and dev to choose its epoch (test is for the end).
    public enum Split: String, Sendable { case train, dev, test }

    public init(store: LabelStore, task: LabelStore.StoredTask) {
        self.store = store
        self.task = task
    }

    public struct Report: Sendable {
        public var written: [String: Int] = [:]
        public var unlabelled = 0
        public var disagreements = 0
    }

    /// "train=0.8,dev=0.1,test=0.1" → named fractions summing to 1.
    public static func parseSplits(_ text: String) throws -> [(name: String, fraction: Double)] {
        var result: [(String, Double)] = []
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: "=")
            guard pieces.count == 2, let f = Double(pieces[1]), f >= 0, !pieces[0].isEmpty else {
                throw QuarryError("--split must look like train=0.8,dev=0.1,test=0.1 (got \(text))")
            }
            // A split's name becomes a file name inside --out: letters, digits, "-" and "_" only.
            guard pieces[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw QuarryError("split names are file names inside --out: letters, digits, - and _ only (got \(pieces[0]))")
            }
            result.append((String(pieces[0]), f))
        }
        let total = result.reduce(0) { $0 + $1.1 }
        guard abs(total - 1) < 1e-6 else { throw QuarryError("--split fractions must add up to 1 (they add up to \(total))") }
        guard Set(result.map(\.0)).count == result.count else { throw QuarryError("--split names must be distinct") }
        return result
    }

    func split(forHash hash: Int64) -> String {
        let value = Double(UInt64(bitPattern: hash) >> 11) / Double(UInt64(1) << 53)
        var cumulative = 0.0
        for s in splits {
            cumulative += s.fraction
            if value < cumulative { return s.name }
        }
        return splits.last?.name ?? Split.train.rawValue
    }

    /// One exported example: its text, its record id (as imported), the answer taken, and the
    /// split it falls in.
    public struct Record: Sendable {
        public var text: String
        public var id: String?
        public var answer: Answer
        public var split: String
    }

    /// Calls `body` with each exported example in the task's order; what is left out (no
    /// answer, annotators disagree) is counted in the report, the rest under its split.
    public func forEachRecord(_ body: (Record) throws -> Void) throws -> Report {
        var report = Report()
        try store.read { db in
            var groupKey: [Int64: Int64] = [:]
            if splits.count > 1 {
                let examples = try Row.fetchAll(db, sql: "SELECT content_hash, text FROM example WHERE task_id = ?", arguments: [task.id])
                let hashes: [Int64] = examples.map { $0["content_hash"] }
                groupKey = Dictionary(zip(hashes, NearDuplicateGroups(examples.map { $0["text"] }).keys)) { first, _ in first }
            }
            let annotatorFilter: String
            var arguments: StatementArguments = [task.id]
            switch source {
            case .annotator(let who):
                annotatorFilter = "(SELECT answer FROM annotation a WHERE a.task_id = e.task_id AND a.example_id = e.id AND a.annotator = ?)"
                arguments = [who, task.id]
            case .adjudicated:
                annotatorFilter = "(SELECT answer FROM adjudication j WHERE j.example_id = e.id)"
            case .consensus:
                annotatorFilter = """
                    coalesce((SELECT answer FROM adjudication j WHERE j.example_id = e.id),
                             (SELECT CASE WHEN count(DISTINCT answer) = 1 THEN min(answer) WHEN count(*) > 1 THEN '!' END
                              FROM annotation a WHERE a.task_id = e.task_id AND a.example_id = e.id))
                    """
            }
            let rows = try Row.fetchCursor(db, sql: """
                SELECT e.text AS text, e.content_hash AS hash, e.external_id AS external_id, \(annotatorFilter) AS answer
                FROM example e WHERE e.task_id = ? ORDER BY e.position
                """, arguments: arguments)
            while let row = try rows.next() {
                guard let answerJSON: String = row["answer"] else { report.unlabelled += 1; continue }
                if answerJSON == "!" { report.disagreements += 1; continue }
                guard let answer = Answer(json: answerJSON) else { report.unlabelled += 1; continue }
                let hash: Int64 = row["hash"]
                let record = Record(text: row["text"], id: row["external_id"], answer: answer, split: split(forHash: groupKey[hash] ?? hash))
                report.written[record.split, default: 0] += 1
                try body(record)
            }
        }
        return report
    }

    /// Writes a `jsonl` or `chat` export to `path`: a file for one split; a directory with one
    /// file per split otherwise.
    public func export(to path: String) throws -> Report {
        guard format != .shards else { throw QuarryError("a shards export needs a tokenizer: QuarryPipeline's LabelledShardsExport writes it") }
        let asDirectory = splits.count > 1
        if asDirectory { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        var files: [String: OutputFile] = [:]
        do {
            var line: [UInt8] = []
            let report = try forEachRecord { record in
                if files[record.split] == nil {
                    files[record.split] = try OutputFile(path: asDirectory ? path + "/" + record.split + ".jsonl" : path)
                }
                line.removeAll(keepingCapacity: true)
                appendLine(record, to: &line)
                try files[record.split]?.write(line)
            }
            for file in files.values { try file.commit() }
            return report
        } catch {
            for file in files.values { file.abandon() }
            throw error
        }
    }

    /// The text a trainer sees for one labelled example in `shards` exports.
    public static func rendered(text: String, answer: Answer) -> String {
        if case .response = answer { return text + "\n\nresponse: " + answer.text }
        return text + "\n\nlabel: " + answer.text
    }

    /// One line of the export (`schemas/export-record.schema.json`; chat: the messages): `jsonl`'s
    /// form for `shards` too, which writes it beside the shards.
    public func appendLine(_ record: Record, to out: inout [UInt8]) {
        let (text, id, answer) = (record.text, record.id, record.answer)
        switch format {
        case .jsonl, .shards:
            out.append(contentsOf: Array(#"{"text":"#.utf8))
            JSONText.appendString(text, to: &out)
            if let id {
                out.append(contentsOf: Array(#","id":"#.utf8))
                JSONText.appendString(id, to: &out)
            }
            // A multi-label answer goes under "label" (a list), as Hugging Face datasets name it.
            let key = if case .labels = answer { "label" } else { answer.key }
            out.append(contentsOf: Array(",\"\(key)\":".utf8))
            answer.appendValue(to: &out)
            out.append(contentsOf: Array("}\n".utf8))
        case .chat:
            out.append(contentsOf: Array(#"{"messages":["#.utf8))
            if !task.task.instructions.isEmpty {
                out.append(contentsOf: Array(#"{"role":"system","content":"#.utf8))
                JSONText.appendString(task.task.instructions, to: &out)
                out.append(contentsOf: Array("},".utf8))
            }
            out.append(contentsOf: Array(#"{"role":"user","content":"#.utf8))
            JSONText.appendString(text, to: &out)
            out.append(contentsOf: Array(#"},{"role":"assistant","content":"#.utf8))
            JSONText.appendString(answer.text, to: &out)
            out.append(contentsOf: Array("}]}\n".utf8))
        }
    }
}
