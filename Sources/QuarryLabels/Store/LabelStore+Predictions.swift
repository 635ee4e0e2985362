import Foundation
import GRDB
import QuarryCore

/// Model predictions, for `tag --order uncertain` and suggestions.
extension LabelStore {
    /// A model's prediction for an example; a newer one replaces the older.
    static let upsertPrediction = """
        INSERT INTO prediction (example_id, model, label, confidence) VALUES (?, ?, ?, ?)
        ON CONFLICT (example_id, model) DO UPDATE SET label = excluded.label, confidence = excluded.confidence
        """

    /// Loads JSONL lines with the example's `text` (or `id`), a `label` and a `confidence` in [0, 1].
    public func importPredictions(task: StoredTask, model: String, path: String) throws -> (stored: Int, unmatched: Int) {
        let reader = try LineReader(path: path)
        var stored = 0, unmatched = 0
        try write { db in
            let byHash = try db.cachedStatement(sql: "SELECT id FROM example WHERE task_id = ? AND content_hash = ?")
            let byExternal = try db.cachedStatement(sql: "SELECT id FROM example WHERE task_id = ? AND external_id = ?")
            let insert = try db.cachedStatement(sql: Self.upsertPrediction)
            while true {
                let lines = try reader.nextLines(max: 65536)
                if lines.isEmpty { break }
                for line in lines where !line.allSatisfy(\.isWhitespace) {
                    guard let object = try? JSONValue.parse(line), let label = object["label"]?.string,
                          let confidence = object["confidence"]?.number else {
                        unmatched += 1
                        continue
                    }
                    var exampleID: Int64?
                    if let text = object["text"]?.string {
                        exampleID = try Int64.fetchOne(byHash, arguments: [task.id, contentHash(text)])
                    } else if let id = object["id"]?.string {
                        exampleID = try Int64.fetchOne(byExternal, arguments: [task.id, id])
                    }
                    guard let exampleID else { unmatched += 1; continue }
                    try insert.execute(arguments: [exampleID, model, label, min(1, max(0, confidence))])
                    stored += 1
                }
            }
        }
        return (stored, unmatched)
    }
    /// Asks `predict` for the label and confidence of every example of the task this model has
    /// not yet predicted, a batch at a time; each batch is committed before the next is read,
    /// so an interrupted run resumes where it stopped. Returns how many were stored.
    public func storePredictions(task: StoredTask, model: String, batchSize: Int = 32,
                                 progress: (_ done: Int, _ total: Int) -> Void = { _, _ in },
                                 predict: ([String]) throws -> [(label: String, confidence: Double)]) throws -> Int {
        let pending = """
            FROM example e WHERE e.task_id = ?
            AND NOT EXISTS (SELECT 1 FROM prediction p WHERE p.example_id = e.id AND p.model = ?)
            """
        let total = try read { db in try Int.fetchOne(db, sql: "SELECT count(*) " + pending, arguments: [task.id, model]) ?? 0 }
        var stored = 0
        while true {
            let batch = try read { db in
                try Row.fetchAll(db, sql: "SELECT e.id, e.text " + pending + " ORDER BY e.id LIMIT ?", arguments: [task.id, model, max(1, batchSize)])
                    .map { (id: $0["id"] as Int64, text: $0["text"] as String) }
            }
            if batch.isEmpty { break }
            let predictions = try predict(batch.map(\.text))
            guard predictions.count == batch.count else { throw QuarryError("the model returned \(predictions.count) predictions for \(batch.count) examples") }
            try write { db in
                let insert = try db.cachedStatement(sql: Self.upsertPrediction)
                for (example, prediction) in zip(batch, predictions) {
                    try insert.execute(arguments: [example.id, model, prediction.label, min(1, max(0, prediction.confidence))])
                }
            }
            stored += batch.count
            progress(stored, total)
        }
        return stored
    }
}
