import Foundation
import GRDB
import QuarryCore
import QuarryShards
import QuarryTokenizer

/// `quarry export`: labelled examples as fine-tuning sets.
/// - `jsonl`: `{"text", "label"}` (a list for multi-label tasks, `spans` for span tasks,
///   `response` for response tasks), HF-datasets style;
/// - `chat`: `{"messages": [system (the instructions, if any), user (the text), assistant (the answer)]}`;
/// - `shards`: each example rendered as `TEXT\n\nlabel: LABEL` (or `response: …`) and tokenized
///   into the formats `quarry ingest` writes.
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
    public var splits: [(name: String, fraction: Double)] = [("train", 1)]
    public var tokenizer: (model: BPEModel, info: Manifest.Tokenizer)?
    public var shardFormat: ShardFormat = .megatron

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
        return splits.last?.name ?? "train"
    }

    /// Writes the export to `path` (a file for one split; a directory with one file — or shard
    /// set — per split otherwise, and always a directory for shards).
    public func export(to path: String) throws -> Report {
        var report = Report()
        let asDirectory = format == .shards || splits.count > 1
        if asDirectory { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        var files: [String: OutputFile] = [:]
        var shardWriters: [String: SplitWriterHandle] = [:]
        let encoder = tokenizer.map { BPEEncoder(model: $0.model) }
        do {
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
                var line: [UInt8] = []
                while let row = try rows.next() {
                    guard let answerJSON: String = row["answer"] else { report.unlabelled += 1; continue }
                    if answerJSON == "!" { report.disagreements += 1; continue }
                    guard let answer = Answer(json: answerJSON) else { report.unlabelled += 1; continue }
                    let text: String = row["text"]
                    let hash: Int64 = row["hash"]
                    let splitName = split(forHash: groupKey[hash] ?? hash)
                    report.written[splitName, default: 0] += 1
                    if format == .shards {
                        guard let encoder, let tokenizer else { throw QuarryError("--format shards needs --tokenizer FILE") }
                        if shardWriters[splitName] == nil {
                            shardWriters[splitName] = try SplitWriterHandle(split: splitName, format: shardFormat, directory: path,
                                                                            model: tokenizer.model, endOfText: tokenizer.info.endOfTextID)
                        }
                        try shardWriters[splitName]?.add(encoder.encode(Self.rendered(text: text, answer: answer)))
                        continue
                    }
                    if files[splitName] == nil {
                        files[splitName] = try OutputFile(path: asDirectory ? path + "/" + splitName + ".jsonl" : path)
                    }
                    line.removeAll(keepingCapacity: true)
                    appendRecord(text: text, id: row["external_id"], answer: answer, to: &line)
                    try files[splitName]?.write(line)
                }
            }
            for file in files.values { try file.commit() }
            if format == .shards {
                var shards: [ShardFile] = []
                for writer in shardWriters.values { shards += try writer.finish() }
                if let tokenizer {
                    try ExportManifest.write(directory: path, shards: shards, tokenizer: tokenizer.info, format: shardFormat,
                                             vocabularySize: tokenizer.model.vocabularySize, task: task.task.name, count: report.written.values.reduce(0, +))
                }
            }
        } catch {
            for file in files.values { file.abandon() }
            throw error
        }
        return report
    }

    /// The text a trainer sees for one labelled example in `shards` exports.
    public static func rendered(text: String, answer: Answer) -> String {
        switch answer {
        case .response(let r): return text + "\n\nresponse: " + r
        default: return text + "\n\nlabel: " + answer.labelList.joined(separator: ", ")
        }
    }

    func appendRecord(text: String, id: String?, answer: Answer, to out: inout [UInt8]) {
        switch format {
        case .jsonl, .shards:
            out.append(contentsOf: Array(#"{"text":"#.utf8))
            JSONText.appendString(text, to: &out)
            if let id {
                out.append(contentsOf: Array(#","id":"#.utf8))
                JSONText.appendString(id, to: &out)
            }
            switch answer {
            case .label(let l):
                out.append(contentsOf: Array(#","label":"#.utf8))
                JSONText.appendString(l, to: &out)
            case .labels, .spans:
                let key = { if case .spans = answer { return #","spans":"# } else { return #","label":"# } }()
                out.append(contentsOf: Array(key.utf8))
                let stored = answer.json
                // The stored JSON is {"labels":[…]} or {"spans":[…]}: its value is the array.
                if let start = stored.firstIndex(of: "["), let end = stored.lastIndex(of: "]") {
                    out.append(contentsOf: Array(stored[start...end].utf8))
                } else {
                    out.append(contentsOf: Array("[]".utf8))
                }
            case .response(let r):
                out.append(contentsOf: Array(#","response":"#.utf8))
                JSONText.appendString(r, to: &out)
            }
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
            switch answer {
            case .response(let r): JSONText.appendString(r, to: &out)
            default: JSONText.appendString(answer.labelList.joined(separator: ", "), to: &out)
            }
            out.append(contentsOf: Array("}]}\n".utf8))
        }
    }
}
