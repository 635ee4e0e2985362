import Foundation
import GRDB
import QuarryCore

extension LabelStore {
    public struct StoredTask: Sendable {
        public var id: Int64
        public var task: LabelTask
    }

    public func createTask(_ task: LabelTask) throws -> StoredTask {
        try task.validate()
        return try write { db in
            if try Int64.fetchOne(db, sql: "SELECT id FROM task WHERE name = ?", arguments: [task.name]) != nil {
                throw QuarryError("a task named \"\(task.name)\" already exists in \(self.path)")
            }
            let labels = String(decoding: try JSONEncoder().encode(task.labels), as: UTF8.self)
            try db.execute(sql: "INSERT INTO task (name, kind, labels, multi_label, instructions, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [task.name, task.kind.rawValue, labels, task.multiLabel, task.instructions, Date().timeIntervalSince1970])
            return StoredTask(id: db.lastInsertedRowID, task: task)
        }
    }

    public func task(named name: String) throws -> StoredTask {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM task WHERE name = ?", arguments: [name]) else {
                let names = try String.fetchAll(db, sql: "SELECT name FROM task ORDER BY name")
                throw QuarryError("no task named \"\(name)\" in \(self.path)" + (names.isEmpty ? " (create one with `quarry task create`)" : " (tasks: \(names.joined(separator: ", ")))"))
            }
            return try Self.storedTask(row)
        }
    }

    public func allTasks() throws -> [(StoredTask, examples: Int, annotated: Int)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT t.*, (SELECT count(*) FROM example e WHERE e.task_id = t.id) AS examples,
                       (SELECT count(DISTINCT a.example_id) FROM annotation a WHERE a.task_id = t.id) AS annotated
                FROM task t ORDER BY t.name
                """).map { (try Self.storedTask($0), $0["examples"], $0["annotated"]) }
        }
    }

    static func storedTask(_ row: Row) throws -> StoredTask {
        let labelsJSON: String = row["labels"]
        let labels = (try? JSONDecoder().decode([String].self, from: Data(labelsJSON.utf8))) ?? []
        let kindName: String = row["kind"]
        let task = LabelTask(name: row["name"], kind: LabelTask.Kind(rawValue: kindName) ?? .classify, labels: labels,
                             multiLabel: row["multi_label"], instructions: row["instructions"])
        return StoredTask(id: row["id"], task: task)
    }

    /// Writes in one transaction, with errors a user can act on.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch let error as QuarryError { throw error } catch {
            throw QuarryError("cannot write to \(path): \(Self.describe(error))")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let error as QuarryError { throw error } catch {
            throw QuarryError("cannot read \(path): \(Self.describe(error))")
        }
    }
}
