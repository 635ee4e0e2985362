import Foundation
import GRDB
import QuarryCore

/// `quarry review`: the examples where annotators disagree (and nobody adjudicated yet), one
/// at a time, with each annotator's answer; the adjudicated answer is stored separately and
/// wins in exports.
public final class ReviewQueue {
    public struct Item: Sendable {
        public var exampleID: Int64
        public var text: String
        public var answers: [(annotator: String, answer: String)]
    }

    let store: LabelStore
    let task: LabelStore.StoredTask
    private var after: Int64 = 0

    public init(store: LabelStore, task: LabelStore.StoredTask) {
        self.store = store
        self.task = task
    }

    public func next() throws -> Item? {
        try store.read { db in
            // Walks the (task_id, example_id, answer) index from where the review stands.
            guard let row = try Row.fetchOne(db, sql: """
                SELECT a.example_id AS id, (SELECT text FROM example WHERE id = a.example_id) AS text
                FROM annotation a
                WHERE a.task_id = ? AND a.example_id > ?
                  AND NOT EXISTS (SELECT 1 FROM adjudication j WHERE j.example_id = a.example_id)
                GROUP BY a.example_id HAVING count(DISTINCT a.answer) > 1
                ORDER BY a.example_id LIMIT 1
                """, arguments: [task.id, after]) else { return nil }
            let id: Int64 = row["id"]
            let answers = try Row.fetchAll(db, sql: "SELECT annotator, answer FROM annotation WHERE task_id = ? AND example_id = ? ORDER BY annotator",
                                           arguments: [task.id, id]).map { (annotator: $0["annotator"] as String, answer: $0["answer"] as String) }
            return Item(exampleID: id, text: row["text"], answers: answers)
        }
    }

    public func skip(_ item: Item) { after = item.exampleID }

    public func adjudicate(_ item: Item, answer: Answer, adjudicator: String) throws {
        try store.write { db in
            try db.execute(sql: """
                INSERT INTO adjudication (example_id, answer, adjudicator, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (example_id) DO UPDATE SET answer = excluded.answer, adjudicator = excluded.adjudicator, created_at = excluded.created_at
                """, arguments: [item.exampleID, answer.json, adjudicator, Date().timeIntervalSince1970])
        }
        after = item.exampleID
    }
}
