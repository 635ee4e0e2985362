import Foundation
import GRDB
import QuarryCore

/// The state of one annotator's session on a task, independent of how it is shown: which
/// example comes next, answering (committed before the next example is drawn), skipping and
/// undoing. Restarting resumes at the first example this annotator has not answered.
public final class TaggingSession {
    public enum Order: String, CaseIterable, Sendable {
        case stream, random, uncertain
    }

    public struct Example: Sendable, Equatable {
        public var id: Int64
        public var position: Int64
        public var text: String
        public var externalID: String?
        public var meta: String?
        /// The model's suggestion, when a model's predictions are loaded.
        public var suggestion: (label: String, confidence: Double)?
        /// Its value of the session's ordering column (position, shuffle key or confidence).
        var orderKey: DatabaseValue = .null

        public static func == (a: Example, b: Example) -> Bool { a.id == b.id }
    }

    public let store: LabelStore
    public let task: LabelStore.StoredTask
    public let annotator: String
    public let order: Order
    public let model: String?
    /// Serve only examples nobody has answered yet (imported labels count as answers).
    public let unlabelledOnly: Bool
    public let sessionID: Int64
    public let total: Int
    public private(set) var done: Int
    public private(set) var answeredThisSession = 0
    public let started = Date()
    /// Where the stream stands: examples ordered at or before (key, id) were shown.
    private var cursorKey: DatabaseValue = .null
    private var cursorID: Int64 = 0
    private var undoStack: [(annotationID: Int64, example: Example)] = []

    public init(store: LabelStore, task: LabelStore.StoredTask, annotator: String, order: Order = .stream, model: String? = nil,
                unlabelledOnly: Bool = false) throws {
        guard !annotator.isEmpty else { throw QuarryError("--annotator must not be empty") }
        self.unlabelledOnly = unlabelledOnly
        self.store = store
        self.task = task
        self.annotator = annotator
        self.order = order
        self.model = model
        if order == .uncertain || model != nil {
            guard let model else { throw QuarryError("--order uncertain needs --model RUN (the model whose predictions rank the examples)") }
            let count = try store.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM prediction p JOIN example e ON e.id = p.example_id WHERE e.task_id = ? AND p.model = ?",
                                 arguments: [task.id, model]) ?? 0
            }
            guard count > 0 else {
                throw QuarryError("no predictions of model \"\(model)\" for task \"\(task.task.name)\": give a fine-tuned run directory, or store them first with `quarry predictions compute` or `quarry predictions import`")
            }
        }
        (total, done, sessionID) = try store.write { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM example WHERE task_id = ?", arguments: [task.id]) ?? 0
            let done = try Int.fetchOne(db, sql: "SELECT count(*) FROM annotation WHERE task_id = ? AND annotator = ?",
                                        arguments: [task.id, annotator]) ?? 0
            try Self.refuseConcurrentSession(db, task: task, annotator: annotator)
            try db.execute(sql: "INSERT INTO session (task_id, annotator, started_at, host, pid) VALUES (?, ?, ?, ?, ?)",
                           arguments: [task.id, annotator, Date().timeIntervalSince1970, Self.host, Int(getpid())])
            return (total, done, db.lastInsertedRowID)
        }
    }

    /// The key examples are ordered by, for the chosen order.
    private var orderColumn: String {
        switch order {
        case .stream: return "e.position"
        case .random: return "e.content_hash"
        case .uncertain: return "p.confidence"
        }
    }

    /// The next example to show, or nil when none is left unanswered (after the cursor).
    public func next() throws -> Example? {
        try store.read { db in
            let join = model != nil ? "JOIN prediction p ON p.example_id = e.id AND p.model = :model" : ""
            // A row-value comparison, so SQLite walks the (task_id, column, rowid) index from the cursor.
            let after = cursorKey.isNull ? "" : "AND (\(orderColumn), e.id) > (:key, :id)"
            let sql = """
                SELECT e.id, e.position, e.text, e.external_id, e.meta, \(orderColumn) AS order_key
                       \(model != nil ? ", p.label AS suggestion, p.confidence" : "")
                FROM example e \(join)
                WHERE e.task_id = :task \(after)
                  AND NOT EXISTS (SELECT 1 FROM annotation a WHERE a.task_id = :task AND a.example_id = e.id \(unlabelledOnly ? "" : "AND a.annotator = :annotator"))
                ORDER BY \(orderColumn), e.id LIMIT 1
                """
            var arguments: StatementArguments = ["task": task.id, "annotator": annotator]
            if !cursorKey.isNull { arguments += ["key": cursorKey, "id": cursorID] }
            if let model { arguments += ["model": model] }
            guard let row = try Row.fetchOne(db, sql: sql, arguments: arguments) else { return nil }
            var example = Example(id: row["id"], position: row["position"], text: row["text"], externalID: row["external_id"], meta: row["meta"])
            example.orderKey = row["order_key"]
            if model != nil, let label: String = row["suggestion"] { example.suggestion = (label, row["confidence"]) }
            return example
        }
    }

    /// Moves the cursor past an example that was shown (answered or skipped).
    private func advance(past example: Example) {
        cursorKey = example.orderKey
        cursorID = example.id
    }

    /// Records an answer (committed before this returns) and moves on.
    public func answer(_ example: Example, with answer: Answer) throws {
        try validate(answer, for: example)
        let id = try store.write { db -> Int64 in
            let existed = try Int64.fetchOne(db, sql: "SELECT id FROM annotation WHERE task_id = ? AND example_id = ? AND annotator = ?",
                                             arguments: [task.id, example.id, annotator]) != nil
            try db.execute(sql: """
                INSERT INTO annotation (example_id, task_id, annotator, answer, label, created_at, session_id) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (task_id, example_id, annotator) DO UPDATE SET answer = excluded.answer, label = excluded.label,
                    created_at = excluded.created_at, session_id = excluded.session_id
                """, arguments: [example.id, task.id, annotator, answer.json, answer.singleLabel, Date().timeIntervalSince1970, sessionID])
            if !existed { self.done += 1 }
            return try Int64.fetchOne(db, sql: "SELECT id FROM annotation WHERE task_id = ? AND example_id = ? AND annotator = ?",
                                      arguments: [task.id, example.id, annotator]) ?? 0
        }
        answeredThisSession += 1
        undoStack.append((id, example))
        advance(past: example)
    }

    public func skip(_ example: Example) { advance(past: example) }

    static let host = ProcessInfo.processInfo.hostName

    /// Two sessions of one annotator on one task would draw the same examples and overwrite each
    /// other's answers: refused while another is open in a live process (on this host, checked by
    /// its pid; on another, taken as live while it answered in the last 30 minutes). A session
    /// whose process died (kill -9, a crash) is closed and the new one goes ahead.
    static func refuseConcurrentSession(_ db: Database, task: LabelStore.StoredTask, annotator: String) throws {
        let open = try Row.fetchAll(db, sql: """
            SELECT s.id, s.host, s.pid, max(s.started_at, coalesce((SELECT max(created_at) FROM annotation a WHERE a.session_id = s.id), 0)) AS active
            FROM session s WHERE s.task_id = ? AND s.annotator = ? AND s.ended_at IS NULL AND s.pid IS NOT NULL
            """, arguments: [task.id, annotator])
        for row in open {
            let host: String? = row["host"], pid: Int = row["pid"], active: Double = row["active"]
            let alive: Bool
            if host == Self.host {
                alive = pid != Int(getpid()) && (kill(pid_t(pid), 0) == 0 || errno == EPERM)
            } else {
                alive = Date().timeIntervalSince1970 - active < 30 * 60
            }
            if alive {
                throw QuarryError("\(SafeText.line(annotator)) is already tagging \"\(SafeText.line(task.task.name))\" in another session "
                                  + "(process \(pid) on \(SafeText.line(host ?? "?"))): finish it first, or tag as another --annotator")
            }
            try db.execute(sql: "UPDATE session SET ended_at = ? WHERE id = ?", arguments: [Date().timeIntervalSince1970, row["id"] as Int64])
        }
    }

    /// Removes the last answer of this session and returns its example, to be shown again.
    public func undo() throws -> Example? {
        guard let last = undoStack.popLast() else { return nil }
        try store.write { db in
            try db.execute(sql: "DELETE FROM annotation WHERE id = ?", arguments: [last.annotationID])
        }
        done -= 1
        answeredThisSession -= 1
        // Show it again: the cursor goes back to just before it.
        cursorKey = last.example.orderKey
        cursorID = last.example.id - 1
        return last.example
    }

    public func finish() {
        _ = try? store.write { db in
            try db.execute(sql: "UPDATE session SET ended_at = ? WHERE id = ?", arguments: [Date().timeIntervalSince1970, sessionID])
        }
    }

    func validate(_ answer: Answer, for example: Example) throws {
        let labels = Set(task.task.labels)
        switch (task.task.kind, answer) {
        case (.classify, .label(let l)) where labels.contains(l): return
        case (.classify, .labels(let ls)) where task.task.multiLabel && ls.allSatisfy(labels.contains): return
        case (.span, .spans(let spans)):
            let tokens = SpanTokens.tokens(of: example.text).count
            for span in spans {
                guard labels.contains(span.label) else { throw QuarryError("unknown label \"\(span.label)\"") }
                guard span.start >= 0, span.end > span.start, span.end <= tokens else {
                    throw QuarryError("span \(span.start)-\(span.end) is outside the example's \(tokens) tokens")
                }
            }
            return
        case (.response, .response(let r)) where !r.isEmpty: return
        default:
            throw QuarryError("that answer does not fit a \(task.task.kind.rawValue) task")
        }
    }
}

/// The tokens span tasks index: whitespace-separated words, numbered from 0.
public enum SpanTokens {
    public static func tokens(of text: String) -> [Substring] {
        text.split(whereSeparator: { $0.isWhitespace })
    }
}
