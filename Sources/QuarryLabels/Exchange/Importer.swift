import Foundation
import GRDB
import QuarryCore

/// What one imported file gave.
public struct ImportReport: Sendable {
    public var read = 0
    public var imported = 0
    public var duplicates = 0
    public var labelled = 0
    public var skipped = 0
    public var problems: [String] = []
}

/// `quarry import`: JSONL (`text`, optional `id`, `label`, `meta`, `source`; `quarry extract`
/// output included) and CSV/TSV with a header (a `text` column; `id`, `label` optional, other
/// columns become `meta`). Examples are de-duplicated by their text (`contentHash`); labels that
/// come with them are stored as annotations of `labelAnnotator`.
///
/// Performance notes: one transaction per file, GRDB cached statements, no Codable records on
/// the bulk path (Codable records were 5–6× slower on 1M rows: PLATFORM.md in ../shared).
public struct Importer {
    public let store: LabelStore
    public let task: LabelStore.StoredTask
    public var labelAnnotator = "imported"

    public init(store: LabelStore, task: LabelStore.StoredTask) {
        self.store = store
        self.task = task
    }

    public struct Record: Sendable {
        var text: String
        var id: String?
        var labels: [String]
        var meta: String?
        var source: String?
        /// Worked out on the parsing threads (JSONL): the stored answer and the labels the task lacks.
        var prepared: Prepared?
    }

    typealias Prepared = (answer: (json: String, single: String?)?, unknown: [String])

    /// The annotation a record's labels make for this task, if any.
    static func answer(for labels: [String], task: LabelTask, known: Set<String>) -> Prepared {
        let kept = labels.filter { known.contains($0) }
        let unknown = labels.filter { !known.contains($0) }
        if !kept.isEmpty && task.kind == .classify {
            let answer = task.multiLabel ? Answer.labels(kept) : Answer.label(kept[0])
            return ((answer.json, answer.singleLabel), unknown)
        }
        if task.kind == .response, let response = labels.first { return ((Answer.response(response).json, nil), []) }
        return (nil, unknown)
    }

    public func importFile(_ path: String, progress: (Int) -> Void = { _ in }) throws -> ImportReport {
        let reader = try LineReader(path: path)
        var report = ImportReport()
        var header: [String]?
        var delimiter: Character = ","
        var isJSONL: Bool?
        var lineNumber = 0
        let labelSet = Set(task.task.labels)
        // One transaction per batch of lines: the WAL stays small and a crash keeps what was
        // committed; importing the file again is safe (examples are de-duplicated by text).
        // Index pages are inserted at random (content hashes): keep them cached across batches.
        // Checkpointing less often writes each hot index page back once per many batches.
        try store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -131072; PRAGMA wal_autocheckpoint = 10000") }
        defer { _ = try? store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -2000; PRAGMA wal_autocheckpoint = 1000") } }
        var position = try store.read { db in
            try Int64.fetchOne(db, sql: "SELECT coalesce(max(position), -1) + 1 FROM example WHERE task_id = ?", arguments: [task.id]) ?? 0
        }
        let now = Date().timeIntervalSince1970
        var pendingLine = ""   // CSV records may span lines inside quotes
        var pendingStart = 0   // the line the pending record began on
        do {
            // JSONL lines are parsed (and hashed) on worker threads, one batch ahead of the
            // inserts, which stay on this thread in input order.
            var upcoming = try reader.nextLines(max: Self.batchLines)
            var parsing = ParsedBatch.start(upcoming, jsonl: Self.looksLikeJSONL(upcoming), task: task.task, known: labelSet)
            while true {
                let lines = upcoming
                let parsed = parsing.wait()
                if lines.isEmpty { break }
                upcoming = try reader.nextLines(max: Self.batchLines)
                parsing = ParsedBatch.start(upcoming, jsonl: isJSONL ?? Self.looksLikeJSONL(lines), task: task.task, known: labelSet)
                try store.write { db in
                let insertExample = try db.cachedStatement(sql: """
                    INSERT INTO example (task_id, position, content_hash, external_id, text, meta, source)
                    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, content_hash) DO NOTHING
                    """)
                let insertAnnotation = try db.cachedStatement(sql: """
                    INSERT INTO annotation (example_id, task_id, annotator, answer, label, created_at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (task_id, example_id, annotator) DO NOTHING
                    """)
                for (index, rawLine) in lines.enumerated() {
                    lineNumber += 1
                    // Lines the workers parsed skip the per-character checks below: on the one
                    // inserting thread they cost more than the insert itself.
                    if isJSONL == true, let parsed, index < parsed.count, let (record, hash) = parsed[index] {
                        report.read += 1
                        guard !record.text.isEmpty else { report.skipped += 1; continue }
                        try insert(record, hash: hash)
                        continue
                    }
                    var line = rawLine
                    if line.hasSuffix("\r") { line.removeLast() }
                    if isJSONL == nil {
                        if line.allSatisfy(\.isWhitespace) { continue }
                        isJSONL = JSONLines.kind(ofHead: line.utf8) == .jsonl
                        if isJSONL == false {
                            delimiter = line.contains("\t") ? "\t" : ","
                        }
                    }
                    let record: Record?
                    var hash: Int64?
                    if isJSONL == true {
                        if line.allSatisfy(\.isWhitespace) { continue }
                        if let parsed, index < parsed.count {
                            record = parsed[index]?.0
                            hash = parsed[index]?.1
                        } else {
                            record = Self.parseJSONL(line)
                        }
                        if record == nil { report.problems.append("\(path):\(lineNumber): not a JSON object with a string \"text\"") }
                    } else {
                        let continuing = !pendingLine.isEmpty
                        if !continuing { pendingStart = lineNumber }
                        if continuing { pendingLine += "\n"; pendingLine += line } else { pendingLine = line }
                        // Only the new line is scanned for whether a quoted field is still open (parsing
                        // the growing record at every line was quadratic), up to a bound a real
                        // record never reaches.
                        if CSV.endsInsideQuotes(line, delimiter: delimiter, startingInQuotes: continuing) {
                            if pendingLine.utf8.count > Self.maximumRecordBytes {   // O(1): native strings know their UTF-8 size
                                throw QuarryError("line \(pendingStart): a quoted field opened on this line is still open \(lineNumber - pendingStart) lines later: a stray quote?")
                            }
                            continue
                        }
                        guard let fields = CSV.parse(pendingLine, delimiter: delimiter) else { continue }
                        pendingLine = ""
                        guard let columns = header else {
                            header = fields.map { $0.lowercased().trimmingCharacters(in: .whitespaces) }
                            if !(header?.contains("text") ?? false) {
                                throw QuarryError("\(path): the header has no \"text\" column (columns: \(fields.joined(separator: ", ")))")
                            }
                            continue
                        }
                        record = Self.record(fields: fields, columns: columns)
                        if record == nil { report.problems.append("\(path):\(lineNumber): \(fields.count) fields for \(columns.count) columns") }
                    }
                    report.read += 1
                    guard let record, !record.text.isEmpty else { report.skipped += 1; continue }
                    try insert(record, hash: hash ?? contentHash(record.text))
                }
                func insert(_ record: Record, hash: Int64) throws {
                    try BulkBinding.execute(insertExample, db: db, [.int(task.id), .int(position), .int(hash), .text(record.id), .text(record.text),
                                                                    .text(record.meta), .text(record.source ?? path + "#line=" + String(lineNumber))])
                    if db.changesCount == 0 {
                        report.duplicates += 1
                        return
                    }
                    let exampleID = db.lastInsertedRowID
                    position += 1
                    report.imported += 1
                    let prepared = record.prepared ?? Self.answer(for: record.labels, task: task.task, known: labelSet)
                    if !prepared.unknown.isEmpty {
                        report.problems.append("\(path):\(lineNumber): label(s) \(prepared.unknown) not in the task's labels; not imported")
                    }
                    if let answer = prepared.answer {
                        try BulkBinding.execute(insertAnnotation, db: db, [.int(exampleID), .int(task.id), .text(labelAnnotator), .text(answer.json),
                                                                           .text(answer.single), .real(now)])
                        report.labelled += 1
                    }
                }
                }
                progress(report.read)
            }
            if !pendingLine.isEmpty {
                throw QuarryError("line \(pendingStart): the file ends inside a quoted field opened on this line: a stray quote?")
            }
        }
        if report.problems.count > 20 { report.problems = Array(report.problems.prefix(20)) + ["…"] }
        return report
    }

    static let batchLines = 32768
    /// The longest CSV record (1 MiB): a quoted field may span lines, but not a whole file.
    static let maximumRecordBytes = 1 << 20

    static func looksLikeJSONL(_ lines: [String]) -> Bool {
        lines.first(where: { !$0.allSatisfy(\.isWhitespace) }).map { JSONLines.kind(ofHead: $0.utf8) == .jsonl } ?? false
    }

    /// A batch of JSONL lines being parsed in the background: (record, content hash) per line.
    final class ParsedBatch: @unchecked Sendable {
        private let group = DispatchGroup()
        private var results: [(Record, Int64)?]?

        static func start(_ lines: [String], jsonl: Bool, task: LabelTask, known: Set<String>) -> ParsedBatch {
            let batch = ParsedBatch()
            guard jsonl, !lines.isEmpty else { return batch }
            DispatchQueue.global().async(group: batch.group) {
                let width = max(1, min(ProcessInfo.processInfo.activeProcessorCount, lines.count / 1024 + 1))
                var parts = [[(Record, Int64)?]](repeating: [], count: width)
                parts.withUnsafeMutableBufferPointer { buffer in
                    let box = UncheckedSendable(buffer)
                    DispatchQueue.concurrentPerform(iterations: width) { w in
                        let lower = lines.count * w / width, upper = lines.count * (w + 1) / width
                        box.value[w] = lines[lower..<upper].map { line in
                            var line = line
                            if line.hasSuffix("\r") { line.removeLast() }
                            return Importer.parseJSONL(line).map { record in
                                var record = record
                                record.prepared = Importer.answer(for: record.labels, task: task, known: known)
                                return (record, contentHash(record.text))
                            }
                        }
                    }
                }
                batch.results = parts.flatMap { $0 }
            }
            return batch
        }

        func wait() -> [(Record, Int64)?]? {
            group.wait()
            return results
        }
    }

    static func parseJSONL(_ line: String) -> Record? {
        guard let object = try? JSONValue.parse(line), let text = object["text"]?.string else { return nil }
        let id = object["id"]?.string ?? object["id"]?.integer.map(String.init)
        var labels: [String] = []
        if let label = object["label"]?.string { labels = [label] }
        else if let list = object["label"]?.array ?? object["labels"]?.array { labels = list.compactMap(\.string) }
        else if let response = object["response"]?.string { labels = [response] }
        var members = object["meta"]?.members ?? []
        for key in ["title", "url"] { if let v = object[key] { members.append((key, v)) } }
        let meta = members.isEmpty ? nil : JSONValue.object(members).serialized
        return Record(text: text, id: id, labels: labels, meta: meta, source: object["source"]?.string)
    }

    static func record(fields: [String], columns: [String]) -> Record? {
        guard fields.count == columns.count else { return nil }
        var text = "", id: String?, labels: [String] = [], meta: [String: String] = [:]
        for (column, value) in zip(columns, fields) {
            switch column {
            case "text": text = value
            case "id": id = value.isEmpty ? nil : value
            case "label", "labels": labels = value.isEmpty ? [] : value.split(separator: "|").map(String.init)
            default: meta[column] = value
            }
        }
        var metaJSON: String?
        if !meta.isEmpty, let data = try? JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys]) {
            metaJSON = String(decoding: data, as: UTF8.self)
        }
        return Record(text: text, id: id, labels: labels, meta: metaJSON, source: nil)
    }
}

/// RFC 4180 fields of one record; nil while a quoted field is still open (the record continues
/// on the next line).
public enum CSV {
    /// Whether `line` leaves a quoted field open, reading it as `parse` does; `startingInQuotes`
    /// when it continues a record whose quoted field the lines before left open.
    public static func endsInsideQuotes(_ line: String, delimiter: Character, startingInQuotes: Bool) -> Bool {
        var inQuotes = startingInQuotes
        var fieldEmpty = !startingInQuotes
        var chars = line.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let next = chars.next() {
                        if next == "\"" { fieldEmpty = false } else { inQuotes = false; pending = next }
                    } else {
                        inQuotes = false
                    }
                } else {
                    fieldEmpty = false
                }
            } else if c == "\"" && fieldEmpty {
                inQuotes = true
            } else if c == delimiter {
                fieldEmpty = true
            } else {
                fieldEmpty = false
            }
        }
        return inQuotes
    }

    public static func parse(_ line: String, delimiter: Character) -> [String]? {
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var chars = line.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let next = chars.next() {
                        if next == "\"" { field.append("\"") } else { inQuotes = false; pending = next }
                    } else { inQuotes = false }
                } else {
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == delimiter {
                fields.append(field)
                field = ""
            } else {
                field.append(c)
            }
        }
        if inQuotes { return nil }
        fields.append(field)
        return fields
    }
}
