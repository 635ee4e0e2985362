import Foundation
import GRDB
import QuarryCore

/// A labelling task: what is asked of annotators. Its JSON form (`--config task.json`) is
/// described by `schemas/task.schema.json`.
public struct LabelTask: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Choose one label (or several, with `multiLabel`).
        case classify
        /// Mark token ranges of the text and give each a label.
        case span
        /// Write a response to the text (a prompt), for instruction tuning.
        case response
    }

    public var name: String
    public var kind: Kind
    public var labels: [String]
    public var multiLabel: Bool
    public var instructions: String

    enum CodingKeys: String, CodingKey { case name, kind, labels, multiLabel = "multi_label", instructions }

    public init(name: String, kind: Kind = .classify, labels: [String], multiLabel: Bool = false, instructions: String = "") {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.multiLabel = multiLabel
        self.instructions = instructions
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decodeIfPresent(Kind.self, forKey: .kind) ?? .classify
        labels = try c.decodeIfPresent([String].self, forKey: .labels) ?? []
        multiLabel = try c.decodeIfPresent(Bool.self, forKey: .multiLabel) ?? false
        instructions = try c.decodeIfPresent(String.self, forKey: .instructions) ?? ""
    }

    /// Checks what the database would otherwise accept silently.
    public func validate() throws {
        guard !name.isEmpty, name.count <= 200, !name.contains(where: { $0.isNewline }) else {
            throw QuarryError("a task name must be 1–200 characters on one line")
        }
        if kind != .response && labels.isEmpty { throw QuarryError("a \(kind.rawValue) task needs labels (--labels a,b,c)") }
        if Set(labels).count != labels.count { throw QuarryError("labels must be distinct") }
        if labels.contains(where: { $0.isEmpty || $0.contains(",") }) { throw QuarryError("labels must be non-empty and contain no comma") }
        if labels.count > Self.hotkeys.count { throw QuarryError("at most \(Self.hotkeys.count) labels (one hotkey each)") }
        if multiLabel && kind != .classify { throw QuarryError("--multi-label applies to classify tasks only") }
    }

    /// Hotkeys for labels, in order: digits, then letters that no command uses.
    public static let hotkeys: [Character] = Array("1234567890abcdefghijklmnoprtvwxyz")

    public func hotkey(for index: Int) -> Character { Self.hotkeys[index] }

    public static func load(config path: String) throws -> LabelTask {
        guard let data = FileManager.default.contents(atPath: path) else { throw QuarryError("cannot read \(path)") }
        do { return try JSONDecoder().decode(LabelTask.self, from: data) } catch {
            throw QuarryError("\(path) is not a task definition (schemas/task.schema.json): \(error.localizedDescription)")
        }
    }
}

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
